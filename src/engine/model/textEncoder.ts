/**
 * A prompt's caption features from an Infinity bundle's text encoder: tokenized with the bundle's tokenizer.json as
 * transformers tokenizes it (at most text.maxLength tokens, `</s>` last), then the T5 encoder's last_hidden_state for
 * those tokens, the rows the official encode_prompt keeps (python/varscope/infinity/text_encoder.py).
 */
import type { TextFeatures } from '../../node/textFeatures';
import type { InfinityBundle } from '../bundle/infinityBundle';
import { asF32, i64 } from '../runtime/tensor';
import { TextTokenizer } from '../text/textTokenizer';

const tokenizers = new WeakMap<InfinityBundle, Promise<TextTokenizer>>();

/** The bundle's caption tokenizer (read once per bundle). */
export function captionTokenizer(b: InfinityBundle): Promise<TextTokenizer> {
  let t = tokenizers.get(b);
  if (!t) {
    t = b.tokenizerJson().then(({ file, text }) => TextTokenizer.parse(text, file));
    tokenizers.set(b, t);
    t.catch(() => tokenizers.delete(b));
  }
  return t;
}

/** The caption features of `prompt` [tokens, featureWidth] and its token ids. */
export async function encodePrompt(b: InfinityBundle, prompt: string): Promise<TextFeatures & { ids: number[] }> {
  const graph = await b.textEncoder();
  const ids = (await captionTokenizer(b)).encode(prompt, b.manifest.text.maxLength);
  const n = ids.length;
  const width = b.manifest.text.featureWidth;
  const out = await graph.run({ input_ids: i64([1, n], ids), attention_mask: i64([1, n], new Array<number>(n).fill(1)) }, [
    'last_hidden_state',
  ]);
  const features = asF32(out.last_hidden_state, 'last_hidden_state');
  if (features.length !== n * width)
    throw new Error(`textEncoder: last_hidden_state has ${features.length} values, [1, ${n}, ${width}] expected`);
  return { features, tokens: n, width, ids };
}
