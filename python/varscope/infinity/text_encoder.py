"""The caption encoder of an Infinity bundle: the user's own T5 encoder (a local Hugging Face folder, or its entry in
the Hugging Face cache), loaded with the user's `transformers` in float32, exported to textEncoder.onnx (weights in
textEncoder.bin), and the tokenizer transformers uses written as tokenizer.json beside it.

PYTHONPATH=python python3 -m varscope.infinity.text_encoder --t5 DIR --bundle BUNDLE

How the official code encodes a prompt (tools/run_infinity.py, encode_prompt): the fast T5 tokenizer (legacy=True),
max_length=512, truncation, padding to max_length; the encoder runs on the padded batch with its attention mask, and
caption b keeps the first lens[b] = mask[b].sum() rows of last_hidden_state. The engine tokenizes with tokenizer.json
(at most text.maxLength tokens, </s> last: 512 for the released models) and runs the graph on the caption's own
tokens, its mask all ones: the padding is masked out of every attention, so the rows kept are the same. The export
checks both against transformers: the graph, run by onnxruntime-node, against the padded PyTorch encoder."""
import argparse
import json
import os
import sys
import tempfile
import time
from typing import List, Sequence, Tuple

import numpy as np
import torch

from ..atomic import write_atomic
from ..bundle.bundle_spec import tensor_specs
from ..bundle.onnx_export import export_graph, release_freed_memory
from ..bundle.onnx_store import WeightStore
from ..bundle.verify import CaseWriter, failures, run_verifier
from ..hashing import sha256_of
from .bundle_spec import FAMILY

GRAPH_FILE, WEIGHTS_FILE, TOKENIZER_FILE = 'textEncoder.onnx', 'textEncoder.bin', 'tokenizer.json'
# Prompts the export checks the graph on (two lengths, so the traced length is not the only one that works).
CHECK_PROMPTS = ('a photo of a cat sitting on a windowsill, soft morning light', 'Ünïcödé ＦＵＬＬ width')


class TextEncoderError(ValueError):
    """A T5 folder or a bundle that cannot take a text encoder (one line)."""


def t5_folder(path: str) -> str:
    """The folder holding config.json: `path` itself, or for a Hugging Face cache entry (models--org--name) the
    snapshot its refs/main names (else its only snapshot)."""
    if os.path.isfile(os.path.join(path, 'config.json')):
        return path
    snapshots = os.path.join(path, 'snapshots')
    if not os.path.isdir(snapshots):
        raise TextEncoderError(f'--t5 {path}: no config.json, and not a Hugging Face cache entry (models--org--name)')
    ref = os.path.join(path, 'refs', 'main')
    if os.path.isfile(ref):
        with open(ref, encoding='utf-8') as f:
            chosen = os.path.join(snapshots, f.read().strip())
    else:
        found = sorted(os.listdir(snapshots))
        if len(found) != 1:
            raise TextEncoderError(f'--t5 {path}: {len(found)} snapshots and no refs/main; give one snapshot folder')
        chosen = os.path.join(snapshots, found[0])
    if not os.path.isfile(os.path.join(chosen, 'config.json')):
        raise TextEncoderError(f'--t5 {path}: the snapshot {chosen} has no config.json')
    return chosen


def load_t5(path: str):
    """(tokenizer, encoder) as run_infinity.py loads them, the encoder in float32 with eager attention (exportable)."""
    folder = t5_folder(path)
    try:
        import transformers
        from transformers import AutoTokenizer, T5EncoderModel
    except ImportError as e:
        raise TextEncoderError(f'the T5 export needs transformers in this Python ({e}): pip install transformers')
    tokenizer = AutoTokenizer.from_pretrained(folder, legacy=True)
    if not getattr(tokenizer, 'is_fast', False) or not hasattr(tokenizer, 'backend_tokenizer'):
        raise TextEncoderError(f'--t5 {path}: transformers {transformers.__version__} gives no fast tokenizer for it')
    encoder = T5EncoderModel.from_pretrained(folder, torch_dtype=torch.float32, attn_implementation='eager')
    return tokenizer, encoder.float().eval()


def tokenize_official(tokenizer, prompts: Sequence[str], max_length: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """input_ids and attention_mask [B, max_length] as encode_prompt makes them (padded, truncated)."""
    tokens = tokenizer(
        text=list(prompts), max_length=max_length, padding='max_length', truncation=True, return_tensors='pt'
    )
    return tokens.input_ids, tokens.attention_mask


@torch.no_grad()
def official_features(
    tokenizer, encoder, prompts: Sequence[str], max_length: int
) -> List[Tuple[np.ndarray, np.ndarray]]:
    """(ids [n], last_hidden_state rows [n, width]) of each prompt, as encode_prompt computes them (kv_compact split
    by lens), in float32."""
    ids, mask = tokenize_official(tokenizer, prompts, max_length)
    features = encoder(input_ids=ids, attention_mask=mask).last_hidden_state.float()
    lens = mask.sum(dim=-1).tolist()
    return [(ids[b, :n].numpy(), features[b, :n].numpy()) for b, n in enumerate(lens)]


class TextEncoderGraph(torch.nn.Module):
    """textEncoder: input_ids, attention_mask [1, N] int64 -> last_hidden_state [1, N, width]."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids, attention_mask):
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def text_encoder_io(width: int) -> tuple:
    """(inputs, outputs) {name: (dtype, dims)} of the textEncoder graph; string dims are dynamic axes."""
    return (
        {'input_ids': ('int64', [1, 'tokens']), 'attention_mask': ('int64', [1, 'tokens'])},
        {'last_hidden_state': ('float32', [1, 'tokens', width])},
    )


def read_manifest(bundle: str) -> dict:
    """An Infinity bundle's varscope.json (refused in one line for anything else)."""
    path = os.path.join(bundle, 'varscope.json')
    try:
        with open(path, encoding='utf-8') as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise TextEncoderError(f'--bundle {bundle}: cannot read varscope.json ({e})')
    if manifest.get('family') != FAMILY:
        raise TextEncoderError(f'--bundle {bundle}: not an Infinity bundle (family {manifest.get("family", "var")!r})')
    return manifest


def check_graph(bundle: str, tokenizer, encoder, max_length: int, log) -> float:
    """Max abs difference of textEncoder.onnx (onnxruntime-node, the caption's own tokens) to the padded PyTorch
    encoder on CHECK_PROMPTS; raises when over the verifier's float tolerance."""
    with tempfile.TemporaryDirectory(prefix='varscope-t5-verify-') as cases:
        writer = CaseWriter(cases)
        for i, (ids, features) in enumerate(official_features(tokenizer, encoder, CHECK_PROMPTS, max_length)):
            n = len(ids)
            inputs = {'input_ids': ids.reshape(1, n), 'attention_mask': np.ones((1, n), np.int64)}
            writer.add(f'textEncoder{i}', 'textEncoder', inputs, {'last_hidden_state': features[None]})
        writer.close()
        log('running textEncoder.onnx with onnxruntime-node (tools/verify_bundle.js)')
        diffs = run_verifier(bundle, cases)
    bad = failures(diffs)
    if bad:
        raise TextEncoderError(
            'textEncoder verification failed: ' + '; '.join(f'{k} = {v:.3g} > {t:g}' for k, v, t in bad)
        )
    return max(diffs.values())


def add_text_encoder(bundle: str, t5: str, log=print) -> dict:
    """Export the T5 encoder of folder `t5` into the Infinity bundle `bundle` (replacing one it has), verify it, and
    rewrite varscope.json with the new files and their hashes; returns the manifest."""
    manifest = read_manifest(bundle)
    width, max_length = manifest['text']['featureWidth'], manifest['text']['maxLength']
    tokenizer, encoder = load_t5(t5)
    if encoder.config.d_model != width:
        raise TextEncoderError(
            f'--t5 {t5}: its features are {encoder.config.d_model} wide, the bundle\'s model reads {width} (text.featureWidth)'
        )
    # What transformers tokenizes with, before a call sets its truncation and padding.
    write_atomic(os.path.join(bundle, TOKENIZER_FILE), tokenizer.backend_tokenizer.to_str().encode('utf-8'))
    io = text_encoder_io(width)
    store = WeightStore(bundle, filename=WEIGHTS_FILE)
    log(f'exporting {GRAPH_FILE}')
    ids, mask = tokenize_official(tokenizer, CHECK_PROMPTS[:1], max_length)
    n = int(mask.sum())
    example = (ids[:, :n].clone(), torch.ones(1, n, dtype=torch.long))
    export_graph(TextEncoderGraph(encoder), example, io, os.path.join(bundle, GRAPH_FILE), store, precise_norms=False)
    release_freed_memory()
    diff = check_graph(bundle, tokenizer, encoder, max_length, log)
    log(f'textEncoder: max abs diff {diff:.3g} to PyTorch')
    import transformers

    cfg = encoder.config
    manifest['textEncoder'] = {
        'file': GRAPH_FILE,
        'inputs': tensor_specs(io[0]),
        'outputs': tensor_specs(io[1]),
        'tokenizer': TOKENIZER_FILE,
        'tokenization': 'tokenizer.json as transformers applies it (legacy=True), at most text.maxLength tokens with '
        'its post-processor\'s </s> last; the graph runs on those tokens, attention_mask all ones (the official '
        'encode_prompt pads to 512 and keeps the first mask.sum() rows: the same rows)',
        'source': {
            'folder': os.path.basename(os.path.normpath(t5)),
            'modelType': cfg.model_type,
            'dModel': cfg.d_model,
            'layers': cfg.num_layers,
            'vocabSize': cfg.vocab_size,
            'transformers': transformers.__version__,
        },
        'verification': {'last_hidden_state': diff},
    }
    for f in (GRAPH_FILE, WEIGHTS_FILE, TOKENIZER_FILE):
        p = os.path.join(bundle, f)
        manifest['files'][f] = {'sha256': sha256_of(p), 'bytes': os.path.getsize(p)}
    write_atomic(os.path.join(bundle, 'varscope.json'), (json.dumps(manifest, indent=1) + '\n').encode('utf-8'))
    return manifest


def parse_args(argv):
    p = argparse.ArgumentParser(prog='python -m varscope.infinity.text_encoder', description=__doc__.split('\n')[0])
    p.add_argument(
        '--t5', required=True, help='T5 folder (config.json, weights, tokenizer) or a Hugging Face cache entry'
    )
    p.add_argument('--bundle', required=True, help='Infinity bundle folder to add textEncoder.onnx to')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    started = time.time()
    try:
        add_text_encoder(args.bundle, args.t5)
    except (ValueError, OSError, RuntimeError) as e:
        print(f'varscope.infinity.text_encoder: error: {e}', file=sys.stderr)
        return 2
    print(f'added the text encoder to {args.bundle} in {time.time() - started:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
