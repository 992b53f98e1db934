/**
 * TextTokenizer on small hand-made tokenizer.json files: the Viterbi segmentation and its tie order, fused unknown
 * characters, byte fallback, added tokens (lstrip / rstrip, single_word), truncation with the template, and a
 * one-line refusal of every component it does not implement. Against transformers on a real sentencepiece tokenizer:
 * test/unit/engine/model/textEncoder.test.ts.
 */
import * as assert from 'assert';
import { TextTokenizer } from '../../../../src/engine/text/textTokenizer';
import { VarScopeError } from '../../../../src/shared/errors';

const VOCAB: Array<[string, number]> = [
  ['<pad>', 0],
  ['</s>', 0],
  ['<unk>', 0],
  ['▁', -2],
  ['a', -3],
  ['b', -3],
  ['ab', -4.5],
  ['▁ab', -5],
  ['▁a', -4],
  ['<0x78>', -9],
  ['<mask>', 0],
];
const id = (piece: string) => VOCAB.findIndex(([p]) => p === piece);

/** A T5-shaped tokenizer.json over VOCAB, with `change` applied. */
function tokenizerJson(change: (j: Record<string, unknown>) => void = () => undefined): string {
  const j: Record<string, unknown> = {
    version: '1.0',
    added_tokens: [
      { id: 0, content: '<pad>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 1, content: '</s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 10, content: '<mask>', single_word: false, lstrip: true, rstrip: true, normalized: false, special: true },
    ],
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true }],
    },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
    },
    model: { type: 'Unigram', unk_id: 2, vocab: VOCAB, byte_fallback: false },
  };
  change(j);
  return JSON.stringify(j);
}

const parse = (text: string) => TextTokenizer.parse(text, 'tokenizer.json');

describe('TextTokenizer (tokenizer.json, Unigram)', () => {
  it('takes the best-scoring segmentation, fuses adjacent unknown characters, appends </s>', () => {
    const t = parse(tokenizerJson());
    // ▁ab (-5) beats ▁a + b (-7), ▁ + ab (-6.5) and ▁ + a + b (-8)
    assert.deepStrictEqual(t.encode('ab', 100), [id('▁ab'), 1]);
    // "ba": ▁ + b + a (-8); "xyz" is one unknown run: ▁ then a single <unk>
    assert.deepStrictEqual(t.encode('ba  xyz', 100), [id('▁'), id('b'), id('a'), id('▁'), 2, 1]);
    assert.deepStrictEqual(t.encode('', 100), [1]);
    assert.deepStrictEqual(t.encode('   ', 100), [1]);
  });

  it("gives each id's piece: an added token's content, else the vocabulary's piece, else #id", () => {
    const t = parse(tokenizerJson());
    assert.deepStrictEqual(
      t.encode('ba ab', 100).map((i) => t.piece(i)),
      ['▁', 'b', 'a', '▁ab', '</s>'],
    );
    assert.deepStrictEqual(
      [10, 2, 99].map((i) => t.piece(i)),
      ['<mask>', '<unk>', '#99'],
    );
  });

  it('with byte_fallback an unknown run becomes its <0xXX> pieces when all exist, else <unk>', () => {
    const t = parse(tokenizerJson((j) => ((j.model as Record<string, unknown>).byte_fallback = true)));
    assert.deepStrictEqual(t.encode('x', 100), [id('▁'), id('<0x78>'), 1]);
    assert.deepStrictEqual(t.encode('y', 100), [id('▁'), 2, 1]);
  });

  it('splits added tokens out of the raw text first; lstrip / rstrip take the spaces beside them; single_word needs a word boundary', () => {
    const t = parse(tokenizerJson());
    assert.deepStrictEqual(t.encode('a</s>b', 100), [id('▁a'), 1, id('▁'), id('b'), 1]);
    assert.deepStrictEqual(t.encode('a  <mask>  b', 100), [id('▁a'), 10, id('▁'), id('b'), 1]);
    const single = parse(
      tokenizerJson((j) =>
        (j.added_tokens as Array<Record<string, unknown>>).push({ id: 4, content: 'a', single_word: true, normalized: false }),
      ),
    );
    // "a" alone is the added token; inside "ab" it is text
    assert.deepStrictEqual(single.encode('a ab', 100), [4, id('▁ab'), 1]);
  });

  it('truncates to maxLength with the template tokens counted, </s> kept last', () => {
    const t = parse(tokenizerJson());
    assert.deepStrictEqual(t.encode('ab ab ab ab', 3), [id('▁ab'), id('▁ab'), 1]);
    assert.throws(
      () => t.encode('ab', 0),
      (e: unknown) => e instanceof VarScopeError && e.message === "maxLength 0 leaves no room beside the tokenizer's 1 special tokens",
    );
  });

  it('refuses in one line what it does not implement, naming the file and the component', () => {
    const cases: Array<[(j: Record<string, unknown>) => void, string]> = [
      [(j) => (j.model = { type: 'BPE', vocab: {}, merges: [] }), 'tokenizer.json: model "BPE": only a Unigram tokenizer (T5\'s) is read'],
      [(j) => (j.normalizer = { type: 'Lowercase' }), 'tokenizer.json: normalizer "Lowercase" is not read by VARScope\'s tokenizer'],
      [
        (j) => (j.pre_tokenizer = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first' }),
        'tokenizer.json: Metaspace prepend_scheme "first" is not read by VARScope\'s tokenizer',
      ],
      [(j) => (j.pre_tokenizer = { type: 'ByteLevel' }), 'tokenizer.json: pre_tokenizer "ByteLevel" is not read by VARScope\'s tokenizer'],
      [
        (j) => (j.post_processor = { type: 'RobertaProcessing' }),
        'tokenizer.json: post_processor "RobertaProcessing" is not read by VARScope\'s tokenizer',
      ],
      [
        (j) => (j.normalizer = { type: 'Precompiled', precompiled_charsmap: 'AAAA' }),
        'tokenizer.json: precompiled_charsmap is not a sentencepiece charsmap (3 bytes)',
      ],
    ];
    for (const [change, message] of cases)
      assert.throws(
        () => parse(tokenizerJson(change)),
        (e: unknown) => e instanceof VarScopeError && e.code === 'ModelLoad' && e.message === message,
        message,
      );
    assert.throws(
      () => parse('{'),
      (e: unknown) => e instanceof VarScopeError && /^tokenizer\.json: not JSON \(/.test(e.message),
    );
  });
});
