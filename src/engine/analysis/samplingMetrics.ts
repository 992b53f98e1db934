/**
 * The per-scale metrics of a sampling grid, from the tokens and prediction entropies of its samples: distinct codes
 * sampled, diversity between the samples of one class (mean pairwise token disagreement) and agreement with the
 * first setting's samples of the same class and seed.
 */
import type { BitSamplingScaleMetrics } from '../../shared/bitSamplingGrid';
import type { SamplingScaleMetrics } from '../../shared/samplingGrid';

/** One sample's tokens and prediction entropies, per scale. */
export interface SampleTokens {
  classId: number;
  /** [scale][position] */
  tokens: Int32Array[];
  /** [scale][position] entropy (nats) of the prediction after CFG, before top-k / top-p. */
  entropy: Float32Array[];
}

/** Distinct values over several token grids. */
export function distinctCodes(grids: Int32Array[]): number {
  const seen = new Set<number>();
  for (const g of grids) for (const t of g) seen.add(t);
  return seen.size;
}

/** Positions where a and b differ (same length). */
function differing(a: Int32Array, b: Int32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) d++;
  return d;
}

/** Share of positions where a and b differ (same length). */
export function disagreement(a: Int32Array, b: Int32Array): number {
  return differing(a, b) / a.length;
}

/** Mean disagreement over every pair of grids; null with fewer than two. */
export function meanPairwiseDisagreement(grids: Int32Array[]): number | null {
  if (grids.length < 2) return null;
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < grids.length; i++)
    for (let j = i + 1; j < grids.length; j++) {
      sum += disagreement(grids[i], grids[j]);
      pairs++;
    }
  return sum / pairs;
}

/**
 * Per scale: the metrics of one setting's samples. `first` are the first setting's samples in the same order (same
 * class and seed at each index), or the samples themselves for the first setting.
 */
export function samplingScaleMetrics(samples: SampleTokens[], first: SampleTokens[]): SamplingScaleMetrics[] {
  if (samples.length === 0) return [];
  if (first.length !== samples.length) throw new Error(`${samples.length} samples against ${first.length} of the first setting`);
  const classes = [...new Set(samples.map((s) => s.classId))];
  return samples[0].tokens.map((_, k) => {
    let entropySum = 0;
    let positions = 0;
    let equal = 0;
    samples.forEach((s, i) => {
      for (const h of s.entropy[k]) entropySum += h;
      positions += s.tokens[k].length;
      equal += s.tokens[k].length - differing(s.tokens[k], first[i].tokens[k]);
    });
    const perClass = classes
      .map((c) => meanPairwiseDisagreement(samples.filter((s) => s.classId === c).map((s) => s.tokens[k])))
      .filter((d): d is number => d !== null);
    return {
      meanEntropy: entropySum / positions,
      distinctCodes: distinctCodes(samples.map((s) => s.tokens[k])),
      diversity: perClass.length ? perClass.reduce((a, b) => a + b, 0) / perClass.length : null,
      agreement: equal / positions,
    };
  });
}

/** One Infinity sample's bits and per-token entropies, per scale. */
export interface SampleBits {
  /** [scale][position · d + bit] 0/1 */
  bits: Uint8Array[];
  /** [scale][position] entropy (nats) of the token's d bits (their sum), after CFG and tau, before top-k / top-p. */
  entropy: Float32Array[];
}

/** Bits where a and b differ (same length). */
function differingBits(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

/**
 * Per scale: the metrics of one setting's Infinity samples (`first`: the first setting's, same seed at each index). A
 * token is its d bits: every distinct bit vector of a scale gets one id (shared by all the samples passed here and in
 * `first`), so that distinct codes, token diversity and token agreement are VAR's; the entropy is per bit (the
 * token's over d); bit diversity and bit agreement compare bit by bit.
 */
export function bitSamplingScaleMetrics(samples: SampleBits[], first: SampleBits[], d: number): BitSamplingScaleMetrics[] {
  if (samples.length === 0) return [];
  if (first.length !== samples.length) throw new Error(`${samples.length} samples against ${first.length} of the first setting`);
  const K = samples[0].bits.length;
  const ids = Array.from({ length: K }, () => new Map<string, number>());
  const tokensOf = (s: SampleBits): SampleTokens => ({
    classId: 0,
    tokens: s.bits.map((b, k) => {
      const t = new Int32Array(b.length / d);
      for (let p = 0; p < t.length; p++) {
        const key = b.subarray(p * d, (p + 1) * d).join('');
        let id = ids[k].get(key);
        if (id === undefined) ids[k].set(key, (id = ids[k].size));
        t[p] = id;
      }
      return t;
    }),
    entropy: s.entropy.map((e) => e.map((h) => h / d)),
  });
  const own = samples.map(tokensOf);
  const base = first === samples ? own : first.map(tokensOf);
  return samplingScaleMetrics(own, base).map((m, k) => {
    let equal = 0;
    let bits = 0;
    samples.forEach((s, i) => {
      bits += s.bits[k].length;
      equal += s.bits[k].length - differingBits(s.bits[k], first[i].bits[k]);
    });
    let pairSum = 0;
    let pairs = 0;
    for (let i = 0; i < samples.length; i++)
      for (let j = i + 1; j < samples.length; j++) {
        pairSum += differingBits(samples[i].bits[k], samples[j].bits[k]) / samples[i].bits[k].length;
        pairs++;
      }
    return { ...m, bitDiversity: pairs ? pairSum / pairs : null, bitAgreement: equal / bits };
  });
}
