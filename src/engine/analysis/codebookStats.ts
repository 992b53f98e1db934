/**
 * Codebook usage: per-scale and overall hit counts, used / dead codes, perplexity. Counts accumulate,
 * so a folder is counted one image at a time without keeping any image.
 */
import type { CodebookUsage } from '../../shared/results';

/** exp(entropy) of a count vector (0 when empty). */
export function perplexity(counts: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (total <= 0) return 0;
  let h = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i];
    if (c > 0) h -= (c / total) * Math.log(c / total);
  }
  return Math.exp(h);
}

/** Accumulates token hits of images, scale by scale. */
export class UsageCounter {
  readonly perScale: Int32Array[];
  images = 0;

  constructor(
    readonly patchNums: readonly number[],
    readonly vocabSize: number,
  ) {
    this.perScale = patchNums.map(() => new Int32Array(vocabSize));
  }

  /** Count one image's tokens ([L] concatenated, or one array per scale). */
  add(tokens: Int32Array | ArrayLike<number>[]): void {
    if (Array.isArray(tokens)) {
      tokens.forEach((t, k) => this.countInto(this.perScale[k], t));
    } else {
      let b = 0;
      this.patchNums.forEach((pn, k) => {
        this.countInto(this.perScale[k], (tokens as Int32Array).subarray(b, b + pn * pn));
        b += pn * pn;
      });
    }
    this.images++;
  }

  /** The usage so far (copies, so the counter can keep counting). */
  usage(): CodebookUsage {
    return usageOf(
      this.perScale.map((a) => Int32Array.from(a)),
      this.images,
    );
  }

  private countInto(into: Int32Array, t: ArrayLike<number>): void {
    for (let i = 0; i < t.length; i++) {
      const v = t[i];
      if (v < 0 || v >= this.vocabSize) throw new RangeError(`token ${v} outside the vocabulary [0, ${this.vocabSize})`);
      into[v]++;
    }
  }
}

/** Usage statistics of per-scale counts (image counts or the checkpoint's training hits). */
export function usageOf(perScale: Int32Array[] | Float64Array[], images?: number): CodebookUsage {
  const V = perScale[0]?.length ?? 0;
  const overall = new Float64Array(V);
  for (const s of perScale) for (let v = 0; v < V; v++) overall[v] += s[v];
  let used = 0;
  for (let v = 0; v < V; v++) if (overall[v] > 0) used++;
  const u: CodebookUsage = {
    perScale,
    overall,
    used,
    perplexity: perplexity(overall),
    perplexityPerScale: perScale.map((s) => perplexity(s)),
  };
  if (images !== undefined) u.images = images;
  return u;
}

/** Usage of the checkpoint's training hit counts [SN, V]. */
export function trainingUsage(hits: Float32Array, SN: number, V: number): CodebookUsage {
  const perScale = Array.from({ length: SN }, (_, k) => Float64Array.from(hits.subarray(k * V, (k + 1) * V)));
  return usageOf(perScale);
}
