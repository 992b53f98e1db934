/**
 * Infinity's attention weights on one image for one caption (the counterpart of teacherForcing.ts's attentionWeights):
 * the infinityAttention graph on the teacher-forced input (bitsToLatent's nextInput of the image's bits) gives block
 * `layer`'s block-causal self-attention [L, L] and its cross-attention to the caption's tokens [L, N], for one head or
 * the mean of heads (python/varscope/infinity/graphs.py, InfinityAttentionGraph).
 */
import type { AttentionResult } from '../../shared/results';
import { VarScopeError } from '../../shared/errors';
import type { InfinitySchedule } from '../../shared/manifest';
import type { InfinityBundle } from '../bundle/infinityBundle';
import { asF32, f32, i64, u8 } from '../runtime/tensor';
import { tokenizeBits, type SizedInput } from './infinityModel';
import { captionTokenizer } from './textEncoder';

/** A caption's features [tokens, featureWidth], with its token ids when it came from a prompt. */
export interface CaptionFeatures {
  features: Float32Array;
  tokens: number;
  ids?: number[];
}

/** Attention of block `layer` (head `head`, or the mean of heads) for an image at schedule `s` and one caption. */
export async function bitsAttention(
  b: InfinityBundle,
  s: InfinitySchedule,
  input: SizedInput,
  text: CaptionFeatures,
  layer: number,
  head: number | 'mean',
): Promise<AttentionResult> {
  const { depth, numHeads } = b.manifest.infinity;
  if (!Number.isInteger(layer) || layer < 0 || layer >= depth)
    throw new VarScopeError('BadRequest', `layer ${layer} outside 0..${depth - 1}`);
  if (head !== 'mean' && (!Number.isInteger(head) || head < 0 || head >= numHeads))
    throw new VarScopeError('BadRequest', `head ${head} outside 0..${numHeads - 1}`);
  const graph = await b.graph(s, 'infinityAttention'); // first: a bundle without it is refused before any work
  const d = b.manifest.bits;
  const L = s.tokenCount;
  const N = text.tokens;
  const { bits } = await tokenizeBits(b, s, input.tensor);
  const { nextInput } = await (await b.graph(s, 'bitsToLatent')).run({ bits: u8([1, L, d], bits) }, ['nextInput']);
  const out = await graph.run({
    textFeatures: f32([N, b.manifest.text.featureWidth], text.features),
    textOffsets: i64([2], [0, N]),
    nextInput,
    attnLayer: i64([], [layer]),
    attnHead: i64([], [head === 'mean' ? -1 : head]),
  });
  const weights = asF32(out.selfAttention, 'infinityAttention.selfAttention'); // [1, L, L]
  const cross = asF32(out.crossAttention, 'infinityAttention.crossAttention'); // [1, L, N]
  const tokenizer = text.ids && (await captionTokenizer(b));
  const tokens = tokenizer && text.ids!.map((id) => tokenizer.piece(id));
  return {
    layer,
    head,
    tokenCount: L,
    weights,
    infinity: { schedule: s.id, cross: { captionTokens: N, weights: cross, ...(tokens ? { tokens } : {}) } },
  };
}
