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
 * top-k: keep logits >= the k-th largest (ties kept). top-p: sort ascending (ties by index), drop entries whose
 * cumulative probability is <= 1 - topP; the most likely token is always kept.
 */
export function filterTopKTopP(row: Float32Array, topK: number, topP: number): Float64Array {
  const { kept } = new RowScratch(row.length).topKTopP(row, topK, topP);
  return Float64Array.from(row, (v, i) => (kept[i] ? v : -Infinity));
}

/**
 * Buffers for one row of V logits, reused row after row.
 * NOTE: allocating typed arrays per row (4 of V entries) cost more than all the arithmetic: 680 rows, 13 ms.
 */
class RowScratch {
  readonly p: Float64Array;
  readonly filtered: Float64Array;
  readonly kept: Uint8Array;
  readonly exps: Float64Array;
  private readonly survivors: Float64Array;

  constructor(readonly V: number) {
    this.p = new Float64Array(V);
    this.filtered = new Float64Array(V);
    this.kept = new Uint8Array(V);
    this.exps = new Float64Array(V);
    this.survivors = new Float64Array(V);
  }

  /** softmax(filterTopKTopP(row, topK, topP)) into `filtered`, with the same float64 operations in the same order. */
  filteredProbs(row: Float32Array, topK: number, topP: number): Float64Array {
    const { kept, exps } = this.topKTopP(row, topK, topP);
    const p = this.filtered;
    let sum = 0;
    for (let i = 0; i < row.length; i++) if (kept[i]) sum += exps[i];
    for (let i = 0; i < row.length; i++) p[i] = kept[i] ? exps[i] / sum : 0;
    return p;
  }

  /**
   * Which entries of a row survive top-k then top-p, and exp(x - max) of the top-k survivors.
   *
   * NOTE: only the top-k survivors are sorted (found by a selection first), by values alone. The ascending top-p
   * walk finds the cut value and how many entries equal to it fall below the cut; the index-order pass then
   * removes those first, as the official sort by (logit, index) would.
   */
  topKTopP(row: Float32Array, topK: number, topP: number): { kept: Uint8Array; exps: Float64Array } {
    const V = this.V;
    const { kept, exps } = this;
    let sorted = this.survivors;
    sorted.set(row);
    if (topK > 0 && topK < V) {
      const kth = selectAscending(sorted, V - topK);
      let n = 0;
      for (let i = 0; i < V; i++) if (row[i] >= kth) sorted[n++] = row[i];
      sorted = sorted.subarray(0, n);
    }
    sortAscending(sorted);
    const kth = sorted[0];
    const max = sorted[sorted.length - 1];
    let sum = 0;
    for (let i = 0; i < V; i++) {
      kept[i] = row[i] >= kth ? 1 : 0;
      exps[i] = kept[i] ? Math.exp(row[i] - max) : 0;
      sum += exps[i];
    }
    if (topP > 0) {
      let cum = 0;
      let removed = 0; // the removed entries are sorted[0 .. removed)
      for (let j = 0; j < sorted.length - 1; j++) {
        cum += Math.exp(sorted[j] - max) / sum;
        if (cum <= 1 - topP) removed = j + 1;
      }
      if (removed > 0) {
        const cut = sorted[removed - 1];
        let equalToCut = 0; // entries == cut inside the removed prefix
        for (let j = removed - 1; j >= 0 && sorted[j] === cut; j--) equalToCut++;
        for (let i = 0; i < V; i++) {
          if (!kept[i] || row[i] > cut) continue;
          if (row[i] < cut || equalToCut-- > 0) kept[i] = 0;
        }
      }
    }
    return { kept, exps };
  }
}

/**
 * Hoare partition of a[left..right] around its middle value: afterwards a[left..j] <= pivot <= a[i..right]
 * and everything between j and i equals the pivot. Returns [i, j].
 */
function partition(a: Float64Array, left: number, right: number): [number, number] {
  const pivot = a[(left + right) >> 1];
  let i = left;
  let j = right;
  while (i <= j) {
    while (a[i] < pivot) i++;
    while (a[j] > pivot) j--;
    if (i <= j) {
      const t = a[i];
      a[i++] = a[j];
      a[j--] = t;
    }
  }
  return [i, j];
}

/**
 * Sort in place, ascending (quicksort, insertion sort below 16 entries).
 * NOTE: V8's TypedArray.prototype.sort boxes every float64 and was most of the sampler's time.
 */
function sortAscending(a: Float64Array, left = 0, right = a.length - 1): Float64Array {
  while (right - left >= 16) {
    const [i, j] = partition(a, left, right);
    // recurse into the smaller side, loop on the larger
    if (j - left < right - i) {
      sortAscending(a, left, j);
      left = i;
    } else {
      sortAscending(a, i, right);
      right = j;
    }
  }
  for (let i = left + 1; i <= right; i++) {
    const v = a[i];
    let j = i - 1;
    while (j >= left && a[j] > v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
  return a;
}

/** The value that would sit at index k of a in ascending order (Hoare's selection; reorders a). */
function selectAscending(a: Float64Array, k: number): number {
  let left = 0;
  let right = a.length - 1;
  while (left < right) {
    const [i, j] = partition(a, left, right);
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return a[k];
  }
  return a[k];
}

/** Softmax of a row in float64 (handles -Infinity entries). */
export function softmax(x: ArrayLike<number>): Float64Array {
  const p = new Float64Array(x.length);
  softmaxInto(x, p);
  return p;
}

/**
 * softmax(x) into p (exp(-Infinity - max) is 0: removed entries get 0); returns the entropy
 * H = -sum p log p = log(sum) - sum p (x - max), with no log per entry.
 */
function softmaxInto(x: ArrayLike<number>, p: Float64Array): number {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i] > max) max = x[i];
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += p[i] = Math.exp(x[i] - max);
  let px = 0;
  for (let i = 0; i < x.length; i++) {
    p[i] /= sum;
    if (p[i] > 0) px += p[i] * (x[i] - max);
  }
  return Math.log(sum) - px;
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
  const out: SampledScale = {
    tokens: new Int32Array(l),
    sampledProb: new Float32Array(l),
    top1Prob: new Float32Array(l),
    entropy: new Float32Array(l),
  };
  const scratch = new RowScratch(V);
  const p = scratch.p;
  const unfiltered = !(topK > 0 && topK < V) && !(topP > 0);
  for (let i = 0; i < l; i++) {
    const row = logits.subarray(i * V, (i + 1) * V);
    const h = softmaxInto(row, p);
    let best = 0;
    for (let v = 0; v < V; v++) if (p[v] > p[best]) best = v;
    const drawn = drawIndex(unfiltered ? p : scratch.filteredProbs(row, topK, topP), rng);
    const tok = forced && forced[i] >= 0 ? forced[i] : drawn;
    out.tokens[i] = tok;
    out.sampledProb[i] = p[tok];
    out.top1Prob[i] = p[best];
    out.entropy[i] = h;
  }
  return out;
}
