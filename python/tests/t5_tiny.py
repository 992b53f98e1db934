"""A tiny T5 encoder with random weights and its tokenizer, made offline, and what transformers makes of a set of
prompts: the fixture of test/unit/engine/text/t5Tokenizer.test.ts (run there with the torch 2 venv, which has
transformers; not a unittest module, so the torch 1.13 run, which has none, does not discover it).

python python/tests/t5_tiny.py --out DIR [--width 128] [--max-length 512]
  DIR/t5: config.json, model.safetensors, tokenizer.json (save_pretrained); the tokenizer is a sentencepiece unigram
  model trained here with normalization nmt_nfkc (a real precompiled charsmap), converted by transformers;
  DIR/expected.json: [{prompt, ids, features: 'featuresK.npy'}], ids and last_hidden_state rows as the official
  encode_prompt computes them (varscope.infinity.text_encoder.official_features)."""
import argparse
import io
import json
import os
import random
import shutil
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from varscope.infinity.text_encoder import official_features, tokenize_official  # noqa: E402

CORPUS = [
    'A photo of a cat sitting on a mat.',
    'Ein Hund läuft über die Straße, schön und grün.',
    'Café crème brûlée, naïve façade, São Paulo, Ångström.',
    'ＦＵＬＬ　ＷＩＤＴＨ text １２３ and ｈａｌｆ',
    'The quick brown fox jumps over the lazy dog!',
    '東京の夜景 and Москва at night, 서울 too.',
    'numbers 3.14159 and 42, symbols ™ © ½ ﬁ ① ㎏',
    'an oil painting of mountains at sunset, highly detailed, 4k',
    'a watercolor of a red bicycle leaning on a blue wall',
]

# Each prompt's ids must equal transformers'; together they cover what the normalizer, the pre-tokenizer, the
# unigram model and truncation each do.
PROMPTS = [
    'A photo of a cat sitting on a mat.',
    '',
    ' ',
    'Café crème brûlée',
    'Cafe\u0301 cre\u0300me (combining accents)',
    'ＦＵＬＬ　ＷＩＤＴＨ １２３ ｈａｌｆ',
    'repeated    spaces\t\ttabs\nnewline   end   ',
    '   leading and trailing   ',
    'unknown chars: ☃ 𝔘 🐱🐶 ꙮ \u0000 \u200b zero-width',
    'ligatures ﬁ ﬂ, ½ ™ ① ㎏ Ⅻ',
    '東京の夜景 and Москва, 서울',
    'special tokens inline </s> and <pad> and <extra_id_0>x',
    'emoji with modifiers 👍🏽 👨‍👩‍👧 flags 🇫🇷',
    'a watercolor of a red bicycle leaning on a blue wall ' * 60,
]
# Characters random prompts are drawn from: ASCII, accents precomposed and combining, full-width and compatibility
# forms, CJK, Cyrillic, emoji with modifiers and joiners, every kind of space, controls, the special tokens' text.
POOL = list(
    'abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ 0123456789 .,;:!?()[]-_/\\"\''
    'àáâãäåçèéêëìíîïñòóôõöùúûüýÿßæœøÅÉÖÜ'
    'ＡＢＣａｂｃ０１２！？　ｶﾞｷﾞ①②½¼™©®ﬁﬂﬀ㎏㍿Ⅻⅸ'
    '東京夜景日本語中文한국어Москваπβγ'
    '🐱🐶👍🏽👨👩👧🇫🇷\u200d\ufe0f'
    '\u0301\u0300\u0308\u0327'
    '\t\n\r\u00a0\u2002\u2003\u3000\u200b\u0000\u0085\u001f'
) + ['</s>', '<pad>', '<unk>', '<extra_id_0>', '<extra_id_7>', '  ', '   ']


def random_prompts(count: int, seed: int = 0) -> list:
    """Prompts of 0..60 characters drawn from POOL."""
    rng = random.Random(seed)
    return [''.join(rng.choice(POOL) for _ in range(rng.randint(0, 60))) for _ in range(count)]


def variant_tokenizer(tokenizer_json: str) -> str:
    """The same tokenizer in transformers 4's converter's form: normalizer Sequence[Precompiled, Replace(' {2,}', ' ')],
    pre-tokenizer Metaspace alone (add_prefix_space), so that spaces reach the model as pieces."""
    j = json.loads(tokenizer_json)
    j['truncation'], j['padding'] = None, None  # as transformers' calls left them
    j['normalizer'] = {
        'type': 'Sequence',
        'normalizers': [j['normalizer'], {'type': 'Replace', 'pattern': {'Regex': ' {2,}'}, 'content': ' '}],
    }
    j['pre_tokenizer'] = {'type': 'Metaspace', 'replacement': '\u2581', 'add_prefix_space': True}
    return json.dumps(j, ensure_ascii=False)


def tiny_tokenizer(folder: str) -> None:
    """A sentencepiece unigram model (nmt_nfkc) trained on CORPUS, converted to the fast T5 tokenizer."""
    import sentencepiece as spm
    from transformers import T5TokenizerFast

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 40),
        model_writer=model,
        vocab_size=180,
        model_type='unigram',
        normalization_rule_name='nmt_nfkc',
        character_coverage=0.98,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    with tempfile.TemporaryDirectory() as spdir:
        with open(os.path.join(spdir, 'spiece.model'), 'wb') as f:
            f.write(model.getvalue())
        tokenizer = T5TokenizerFast.from_pretrained(spdir, legacy=True, extra_ids=8)
    tokenizer.save_pretrained(folder)


def tiny_encoder(folder: str, width: int, vocab: int) -> None:
    """A 2-layer T5 encoder with random weights (flan-t5's gated-gelu)."""
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    cfg = T5Config(
        vocab_size=vocab,
        d_model=width,
        d_kv=width // 4,
        d_ff=2 * width,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
        feed_forward_proj='gated-gelu',
        use_cache=False,
    )
    T5EncoderModel(cfg).eval().save_pretrained(folder)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True)
    p.add_argument('--width', type=int, default=128)
    p.add_argument('--max-length', type=int, default=512)
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    from transformers import AutoTokenizer, T5EncoderModel

    folder = os.path.join(args.out, 't5')
    shutil.rmtree(folder, ignore_errors=True)
    tiny_tokenizer(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder, legacy=True)
    tiny_encoder(folder, args.width, len(tokenizer))
    encoder = T5EncoderModel.from_pretrained(folder, torch_dtype=torch.float32, attn_implementation='eager').eval()
    expected = []
    for k, (ids, features) in enumerate(official_features(tokenizer, encoder, PROMPTS, args.max_length)):
        np.save(os.path.join(args.out, f'features{k}.npy'), np.ascontiguousarray(features, dtype=np.float32))
        expected.append({'prompt': PROMPTS[k], 'ids': [int(i) for i in ids], 'features': f'features{k}.npy'})
    randoms = random_prompts(300)
    ids, mask = tokenize_official(tokenizer, randoms, args.max_length)
    expected += [{'prompt': p, 'ids': ids[b, : int(mask[b].sum())].tolist()} for b, p in enumerate(randoms)]
    write_json(os.path.join(args.out, 'expected.json'), expected)
    # the transformers-4 form, encoded by tokenizers itself with the truncation transformers sets
    from tokenizers import Tokenizer

    variant = variant_tokenizer(tokenizer.backend_tokenizer.to_str())
    os.makedirs(os.path.join(args.out, 'variant'), exist_ok=True)
    with open(os.path.join(args.out, 'variant', 'tokenizer.json'), 'w', encoding='utf-8') as f:
        f.write(variant)
    backend = Tokenizer.from_str(variant)
    backend.enable_truncation(args.max_length)
    write_json(
        os.path.join(args.out, 'variant', 'expected.json'),
        [{'prompt': p, 'ids': backend.encode(p).ids} for p in PROMPTS + randoms],
    )
    return 0


def write_json(path: str, value) -> None:
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(value, f, ensure_ascii=False, indent=1)


if __name__ == '__main__':
    sys.exit(main())
