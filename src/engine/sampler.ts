/**
 * Sampling of one scale's tokens as in the official VAR code: CFG with a per-scale ramp, then
 * sample_with_top_k_top_p_ semantics, drawing with the engine's own Rng instead of torch.multinomial.
 */
import type { Rng } from './rng';

/** CFG strength at scale `si` of SN (official ramp t = cfg * si / (SN - 1)). */
export function cfgRatio(cfg: number, si: number, SN: number): number {
  return SN > 1 ? (cfg * si) / (SN - 1) : 0;
}

/** (1 + t) * cond - t * uncond, element-wise in float32 ([l, V] each). */
export function cfgCombine(cond: Float32Array, uncond: Float32Array, t: number): Float32Array {
  const out = new Float32Array(cond.length);
  const a = Math.fround(1 + t);
  const b = Math.fround(t);
  for (let i = 0; i < out.length; i++) out[i] = a * cond[i] - b * uncond[i];
  return out;
}

/**
 * The logits of one row after official top-k then top-p filtering (removed entries are -Infinity).
 * top-k: keep logits >= the k-th largest (ties kept). top-p: sort ascending, drop entries whose
 * cumulative probability is <= 1 - topP; the most likely token is always kept.
 */
export function filterTopKTopP(row: Float32Array, topK: number, topP: number): Float64Array {
  const V = row.length;
  const x = Float64Array.from(row);
  if (topK > 0 && topK < V) {
    const kth = Float64Array.from(x).sort()[V - topK];
    for (let i = 0; i < V; i++) if (x[i] < kth) x[i] = -Infinity;
  }
  if (topP > 0) {
    // Entries already removed by top-k have probability 0: sorting only the others changes no cumulative sum.
    const order: number[] = [];
    for (let i = 0; i < V; i++) if (x[i] !== -Infinity) order.push(i);
    order.sort((a, b) => x[a] - x[b] || a - b);
    const p = softmax(x);
    let cum = 0;
    for (let j = 0; j < order.length - 1; j++) {
      cum += p[order[j]];
      if (cum <= 1 - topP) x[order[j]] = -Infinity;
    }
  }
  return x;
}

/** Softmax of a row in float64 (handles -Infinity entries). */
export function softmax(x: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i] > max) max = x[i];
  const p = new Float64Array(x.length);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += p[i] = x[i] === -Infinity ? 0 : Math.exp(x[i] - max);
  for (let i = 0; i < x.length; i++) p[i] /= sum;
  return p;
}

/** Draw an index from probabilities (inverse CDF in index order). */
export function drawIndex(p: Float64Array, rng: Rng): number {
  const u = rng.nextFloat();
  let cum = 0;
  let last = -1;
  for (let i = 0; i < p.length; i++) {
    if (p[i] <= 0) continue;
    cum += p[i];
    last = i;
    if (u < cum) return i;
  }
  return last; // rounding left u just above the total
}

/** One sampled scale: tokens and per-position statistics of the (CFG) distribution before filtering. */
export interface SampledScale {
  tokens: Int32Array;
  sampledProb: Float32Array;
  top1Prob: Float32Array;
  entropy: Float32Array;
}

/**
 * Sample every position of a scale from logits [l, V]. `forced` (per position, -1 = free) replaces the
 * draw but the draw still happens, so the random stream does not depend on which tokens were forced.
 */
export function sampleScale(logits: Float32Array, V: number, topK: number, topP: number, rng: Rng, forced?: Int32Array): SampledScale {
  const l = logits.length / V;
  const out: SampledScale = { tokens: new Int32Array(l), sampledProb: new Float32Array(l), top1Prob: new Float32Array(l), entropy: new Float32Array(l) };
  for (let i = 0; i < l; i++) {
    const row = logits.subarray(i * V, (i + 1) * V);
    const p = softmax(row);
    let best = 0;
    let h = 0;
    for (let v = 0; v < V; v++) {
      if (p[v] > p[best]) best = v;
      if (p[v] > 0) h -= p[v] * Math.log(p[v]);
    }
    const drawn = drawIndex(softmax(filterTopKTopP(row, topK, topP)), rng);
    const tok = forced && forced[i] >= 0 ? forced[i] : drawn;
    out.tokens[i] = tok;
    out.sampledProb[i] = p[tok];
    out.top1Prob[i] = p[best];
    out.entropy[i] = h;
  }
  return out;
}
