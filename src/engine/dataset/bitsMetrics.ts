/**
 * The per-scale metrics of an Infinity model over a folder: each image's teacher-forced evaluation (scoreBits) kept as
 * its hit counts per scale (BitsImageStats), and the result from them all, summed in the folder's listing order. One
 * run and the merge of a split run's parts go through the same `bitsEvaluationOf`, so they agree number for number.
 * A scale's folder accuracy is its hits over all its tokens (bits): with every image at one schedule, the mean of the
 * images' accuracies.
 */
import type { BitAccuracyValues, BitsDatasetEvaluation, BitsImageStats, BitsScaleMetrics, BitsScaleStats } from '../../shared/evaluation';
import type { BitAccuracy, BitsEvalResult } from '../../shared/results';
import { compareListed } from './folderPass';

/** The method behind the numbers, as a result states it. */
export const BITS_METHOD: BitsDatasetEvaluation['method'] = {
  prediction: 'each bit: logit 1 > logit 0 of the teacher-forced logits (as torch.argmax), against the image’s own bits',
  folderMean: 'per scale: hits over every token (bit) of every image at that scale',
};

/** Hits of `n` tokens of `d` bits from their accuracies (exact: the accuracies are hits / count). */
function hits(a: BitAccuracy, n: number, d: number): [number, number] {
  return [Math.round(a.bitAccuracy * n * d), Math.round(a.tokenAccuracy * n)];
}

/** One image's statistics from its evaluation. */
export function bitsImageStats(file: string, caption: string, r: BitsEvalResult, d: number): BitsImageStats {
  return {
    file,
    schedule: r.schedule,
    caption,
    scales: r.scales.map((s): BitsScaleStats => {
      const n = s.h * s.w;
      const [bitsRight, tokensRight] = hits(s, n, d);
      const [majorityBitsRight, majorityTokensRight] = hits(s.majorityBaseline, n, d);
      const [copyBitsRight, copyTokensRight] = s.copyCoarserBaseline ? hits(s.copyCoarserBaseline, n, d) : [0, 0];
      return { h: s.h, w: s.w, tokens: n, bitsRight, tokensRight, majorityBitsRight, majorityTokensRight, copyBitsRight, copyTokensRight };
    }),
  };
}

/** Bit and token accuracy of hit sums over `tokens` tokens of `d` bits (0 of nothing). */
function accuracyOf(bitsRight: number, tokensRight: number, tokens: number, d: number): BitAccuracyValues {
  return { bitAccuracy: tokens ? bitsRight / (tokens * d) : 0, tokenAccuracy: tokens ? tokensRight / tokens : 0 };
}

/** What a result holds besides what its images' statistics give. */
export type BitsEvaluationMeta = Pick<BitsDatasetEvaluation, 'model' | 'folder' | 'labels' | 'bits' | 'failed' | 'cancelled' | 'elapsedMs'>;

/** The result from every image's statistics (in any order: they are summed in listing order). */
export function bitsEvaluationOf(stats: readonly BitsImageStats[], meta: BitsEvaluationMeta): BitsDatasetEvaluation {
  const d = meta.bits;
  const rows = [...stats].sort((a, b) => compareListed(a.file, b.file));
  const K = Math.max(0, ...rows.map((r) => r.scales.length));
  const sums = Array.from({ length: K }, () => ({ tokens: 0, bits: 0, toks: 0, majBits: 0, majToks: 0, copyBits: 0, copyToks: 0 }));
  const all = { tokens: 0, bits: 0, toks: 0 };
  const perImage = rows.map((row) => {
    const own = { tokens: 0, bits: 0, toks: 0 };
    const scales = row.scales.map((sc, k) => {
      const s = sums[k];
      s.tokens += sc.tokens;
      s.bits += sc.bitsRight;
      s.toks += sc.tokensRight;
      s.majBits += sc.majorityBitsRight;
      s.majToks += sc.majorityTokensRight;
      s.copyBits += sc.copyBitsRight;
      s.copyToks += sc.copyTokensRight;
      own.tokens += sc.tokens;
      own.bits += sc.bitsRight;
      own.toks += sc.tokensRight;
      return accuracyOf(sc.bitsRight, sc.tokensRight, sc.tokens, d);
    });
    all.tokens += own.tokens;
    all.bits += own.bits;
    all.toks += own.toks;
    return { file: row.file, schedule: row.schedule, caption: row.caption, ...accuracyOf(own.bits, own.toks, own.tokens, d), scales };
  });
  const gridOf = (k: number) => {
    const at = rows.map((r) => r.scales[k]).filter(Boolean);
    return at.length && at.every((sc) => sc.h === at[0].h && sc.w === at[0].w) ? { h: at[0].h, w: at[0].w } : null;
  };
  const scales: BitsScaleMetrics[] = sums.map((s, k) => ({
    scaleIndex: k,
    grid: gridOf(k),
    tokens: s.tokens,
    ...accuracyOf(s.bits, s.toks, s.tokens, d),
    baselines: {
      majority: accuracyOf(s.majBits, s.majToks, s.tokens, d),
      copyCoarser: k > 0 ? accuracyOf(s.copyBits, s.copyToks, s.tokens, d) : null,
    },
  }));
  return {
    format: 'varscope-evaluation',
    version: 1,
    family: 'infinity',
    ...meta,
    failed: [...meta.failed].sort((a, b) => compareListed(a.file, b.file)),
    images: rows.length,
    method: BITS_METHOD,
    scales,
    overall: accuracyOf(all.bits, all.toks, all.tokens, d),
    perImage,
  };
}
