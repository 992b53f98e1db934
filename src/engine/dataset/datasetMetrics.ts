/**
 * The per-scale metrics of a folder evaluation: each image is reduced to its statistics as it comes (its sums at every
 * scale and its L token ids, src/shared/evaluation.ts ImageStats; no tensor is kept), and the statistics of all images
 * become a DatasetEvaluation at the end, when the folder's own code counts are known (leave-one-out prior, rarity of
 * each image's codes). One run and the merge of a split run's parts go through the same `evaluationOf`.
 */
import type {
  ClassMetrics,
  DatasetEvaluation,
  FreeRunImageStats,
  FreeRunSpec,
  ImageMetrics,
  ImageScaleStats,
  ImageStats,
  MetricsFacts,
  OverallMetrics,
  ScaleMetrics,
} from '../../shared/evaluation';
import { keysOf, type MetricKeyOf, SCALE_METRICS } from '../../shared/metrics';
import { copyCoarserHits, frequencyPrior, FrequencyPrior, PRIOR_UNIFORM_MIX, scoreLeaveOneOut, scorePrior } from '../analysis/baselines';
import { ECE_BINS, ReliabilityCounter } from '../analysis/calibration';
import { perplexity, UsageCounter } from '../analysis/codebookStats';
import { psnr, QUALITY_METHOD, ssim } from '../image/imageQuality';
import { compareListed } from './folderPass';
import { freeRunningOf } from './freeRunMetrics';

/** The model facts the metrics need. */
export interface MetricsModel {
  patchNums: number[];
  beginEnds: Array<[number, number]>;
  vocabSize: number;
  imageSize: number;
  classes: string[];
  /** Training hits [SN, V] of the bundle, when it has them. */
  trainingHits?: Float32Array;
}

/** One image's tensors. */
export interface ImageTensors {
  file: string;
  classId: number;
  /** [L] true tokens. */
  tokens: Int32Array;
  /** [L, V] teacher-forced logits. */
  logits: Float32Array;
  /** [SN, 3, S, S] decode(f̂ after every scale), in [-1, 1]. */
  decoded: Float32Array;
  /** [3, S, S] the model input, in [-1, 1]. */
  input: Float32Array;
  /** Its free-running continuations (freeRunning.ts), when asked for. */
  freeRunning?: FreeRunImageStats;
}

/** One position's scores from its logits (scoreRow). */
export type RowScore = ReturnType<typeof scoreRow>;

/**
 * How each declared metric is measured, by its accumulation (src/shared/metrics.ts): a value per token, per image
 * at a scale, or from the folder's code counts at a scale; calibration reads the reliability counter.
 */
const TOKEN_VALUE: Record<MetricKeyOf<'tokenMean'>, (r: RowScore) => number> = {
  accuracy: (r) => (r.rank === 0 ? 1 : 0),
  top5: (r) => (r.rank < 5 ? 1 : 0),
  nll: (r) => r.nll,
  entropy: (r) => r.entropy,
  brier: (r) => r.sumSquares - 2 * Math.exp(-r.nll) + 1, // Σ p² − 2 p(true) + 1
};
const IMAGE_VALUE: Record<MetricKeyOf<'imageMean'>, (decoded: Float32Array, off: number, input: Float32Array, S: number) => number> = {
  psnr: (d, off, x, S) => psnr(d, off, x, 0, S),
  ssim: (d, off, x, S) => ssim(d, off, x, 0, S),
};
const COUNTS_VALUE: Record<MetricKeyOf<'codeCounts'>, (counts: Float64Array, V: number) => number> = {
  used: (c) => usedCodes(c),
  dead: (c, V) => V - usedCodes(c),
  perplexity: (c) => perplexity(c),
};
const CALIBRATION_VALUE: Record<MetricKeyOf<'calibration'>, (r: ReliabilityCounter) => number> = {
  ece: (r) => r.ece(),
};

const TOKEN_KEYS = keysOf('tokenMean');
const TOKEN_FNS = TOKEN_KEYS.map((key) => TOKEN_VALUE[key]);
const IMAGE_KEYS = keysOf('imageMean');
/** Where accuracy and NLL sit among the token sums, PSNR and SSIM among the image values (the per-class and per-image rows show them). */
const TOP1 = TOKEN_KEYS.indexOf('accuracy');
const NLL = TOKEN_KEYS.indexOf('nll');
const PSNR = IMAGE_KEYS.indexOf('psnr');
const SSIM = IMAGE_KEYS.indexOf('ssim');

/** Distinct codes with a count. */
function usedCodes(counts: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < counts.length; i++) if (counts[i] > 0) n++;
  return n;
}

/** The beginning and end of every scale's tokens in [L]. */
function beginEndsOf(patchNums: readonly number[]): Array<[number, number]> {
  let b = 0;
  return patchNums.map((pn) => [b, (b += pn * pn)]);
}

/** The metrics of many images: each image's statistics as it comes, the result from them all at the end. */
export class DatasetMetrics {
  private readonly rows: ImageStats[] = [];
  private readonly trainingPrior: FrequencyPrior[] | null;

  constructor(readonly model: MetricsModel) {
    const { patchNums, vocabSize: V, trainingHits } = model;
    this.trainingPrior = trainingHits ? patchNums.map((_, k) => frequencyPrior(trainingHits.subarray(k * V, (k + 1) * V))) : null;
  }

  /** Number of images added. */
  get images(): number {
    return this.rows.length;
  }

  /** Every added image's statistics, in the order added. */
  get stats(): readonly ImageStats[] {
    return this.rows;
  }

  /** The model facts the result needs besides the statistics. */
  get facts(): MetricsFacts {
    const { patchNums, vocabSize, classes } = this.model;
    return { patchNums, vocabSize, classes, trainingPrior: this.trainingPrior !== null };
  }

  /** Score one image. */
  add(x: ImageTensors): void {
    const { patchNums, beginEnds, vocabSize: V, imageSize: S } = this.model;
    const scales: ImageScaleStats[] = patchNums.map((pn, k) => {
      const [b, e] = beginEnds[k];
      const token = new Float64Array(TOKEN_KEYS.length); // Σ over the scale's tokens, in position order
      const reliability = new ReliabilityCounter();
      for (let i = b; i < e; i++) {
        const r = scoreRow(x.logits, i * V, V, x.tokens[i]);
        for (let j = 0; j < TOKEN_FNS.length; j++) token[j] += TOKEN_FNS[j](r);
        reliability.add(r.confidence, r.rank === 0);
      }
      const t = x.tokens.subarray(b, e);
      let copyHits = 0;
      if (k > 0) {
        const [cb, ce] = beginEnds[k - 1];
        copyHits = copyCoarserHits(x.tokens.subarray(cb, ce), patchNums[k - 1], t, pn);
      }
      const prior = this.trainingPrior ? scorePrior(this.trainingPrior[k], t) : { hits: 0, nll: 0 };
      return {
        token: Array.from(token),
        image: IMAGE_KEYS.map((key) => IMAGE_VALUE[key](x.decoded, k * 3 * S * S, x.input, S)),
        copyHits,
        priorHits: prior.hits,
        priorNll: prior.nll,
        reliability: reliability.counts(),
      };
    });
    this.rows.push({
      file: x.file,
      classId: x.classId,
      tokens: Array.from(x.tokens),
      scales,
      ...(x.freeRunning ? { freeRunning: x.freeRunning } : {}),
    });
  }

  /** The result so far (the folder's own baselines need every image, so call it at the end). */
  result(meta: EvaluationMeta): DatasetEvaluation {
    return evaluationOf(this.facts, this.rows, meta);
  }
}

/** What a result says besides its metrics, and what its free running was run with (when it was). */
export type EvaluationMeta = Pick<
  DatasetEvaluation,
  'model' | 'folder' | 'labels' | 'classMap' | 'classMatch' | 'warnings' | 'failed' | 'cancelled' | 'elapsedMs'
> & { freeRunning?: FreeRunSpec };

/**
 * The evaluation of images from their statistics. Rows and failures are put in the folder's listing order first and
 * every sum runs in that order, so one run and the merge of its parts (src/engine/dataset/shards.ts) give the same
 * numbers, bit for bit.
 */
export function evaluationOf(facts: MetricsFacts, stats: readonly ImageStats[], evaluationMeta: EvaluationMeta): DatasetEvaluation {
  const { freeRunning: freeRunSpec, ...meta } = evaluationMeta;
  const { patchNums, vocabSize: V, classes } = facts;
  const beginEnds = beginEndsOf(patchNums);
  const SN = patchNums.length;
  const L = beginEnds[SN - 1][1];
  const rows = [...stats].sort((a, b) => compareListed(a.file, b.file));
  const n = rows.length;
  const sums = patchNums.map(() => ({
    token: new Float64Array(TOKEN_KEYS.length),
    image: new Float64Array(IMAGE_KEYS.length),
    copyHits: 0,
    priorHits: 0,
    priorNll: 0,
    reliability: new ReliabilityCounter(),
  }));
  const overallReliability = new ReliabilityCounter();
  const usage = new UsageCounter(patchNums, V);
  const classSums = new Map<number, { images: number; top1: number[]; nll: number[]; psnr: number }>();
  const imageRows = rows.map((row) => {
    usage.add(Int32Array.from(row.tokens));
    let cls = classSums.get(row.classId);
    if (!cls) classSums.set(row.classId, (cls = { images: 0, top1: new Array(SN).fill(0), nll: new Array(SN).fill(0), psnr: 0 }));
    cls.images++;
    let top1 = 0;
    let nll = 0;
    row.scales.forEach((sc, k) => {
      const s = sums[k];
      const tokens = beginEnds[k][1] - beginEnds[k][0];
      for (let j = 0; j < TOKEN_KEYS.length; j++) s.token[j] += sc.token[j];
      for (let j = 0; j < IMAGE_KEYS.length; j++) s.image[j] += sc.image[j];
      s.copyHits += sc.copyHits;
      s.priorHits += sc.priorHits;
      s.priorNll += sc.priorNll;
      s.reliability.addCounts(sc.reliability);
      overallReliability.addCounts(sc.reliability);
      cls.top1[k] += sc.token[TOP1] / tokens;
      cls.nll[k] += sc.token[NLL] / tokens;
      top1 += sc.token[TOP1];
      nll += sc.token[NLL];
    });
    const last = row.scales[SN - 1].image;
    cls.psnr += last[PSNR];
    return { file: row.file, classId: row.classId, accuracy: top1 / L, nll: nll / L, psnr: last[PSNR], ssim: last[SSIM] };
  });
  const counts = usage.perScale.map((c) => Float64Array.from(c));
  const loo = patchNums.map(() => ({ hits: 0, nll: 0 }));
  const perImage: ImageMetrics[] = imageRows.map((row, i) => {
    const tokens = rows[i].tokens;
    let rarity = 0;
    beginEnds.forEach(([b, e], k) => {
      const t = tokens.slice(b, e);
      const s = scoreLeaveOneOut(counts[k], t);
      loo[k].hits += s.hits;
      loo[k].nll += s.nll;
      const total = (e - b) * n;
      for (let i = 0; i < t.length; i++) rarity -= Math.log(counts[k][t[i]] / total);
    });
    return { ...row, rarity: rarity / tokens.length };
  });
  const scales: ScaleMetrics[] = patchNums.map((pn, k) => {
    const s = sums[k];
    const N = n * pn * pn;
    const per = (v: number) => (N ? v / N : 0);
    // The declared metrics in their order (the JSON's), the reliability diagram right after ECE.
    const values: Record<string, unknown> = { scaleIndex: k, pn, tokens: N };
    for (const m of SCALE_METRICS) {
      if (m.accumulation === 'tokenMean') values[m.key] = per(s.token[TOKEN_KEYS.indexOf(m.key)]);
      else if (m.accumulation === 'imageMean') values[m.key] = n ? s.image[IMAGE_KEYS.indexOf(m.key)] / n : 0;
      else if (m.accumulation === 'codeCounts') values[m.key] = COUNTS_VALUE[m.key](counts[k], V);
      else {
        values[m.key] = CALIBRATION_VALUE[m.key](s.reliability);
        values.reliability = s.reliability.diagram();
      }
    }
    values.baselines = {
      priorTraining: facts.trainingPrior ? { accuracy: per(s.priorHits), nll: per(s.priorNll) } : null,
      priorFolder: { accuracy: per(loo[k].hits), nll: per(loo[k].nll) },
      copyCoarser: k > 0 ? { accuracy: per(s.copyHits) } : null,
    };
    return values as unknown as ScaleMetrics;
  });
  const totalTokens = n * L;
  const overall: Record<string, unknown> = {};
  for (const m of SCALE_METRICS) {
    if (m.accumulation === 'tokenMean') {
      const j = TOKEN_KEYS.indexOf(m.key);
      overall[m.key] = totalTokens ? sums.reduce((a, s) => a + s.token[j], 0) / totalTokens : 0;
    } else if (m.accumulation === 'calibration') overall[m.key] = CALIBRATION_VALUE[m.key](overallReliability);
  }
  overall.reliability = overallReliability.diagram();
  const overallCounts = new Float64Array(V);
  counts.forEach((c) => c.forEach((v, i) => (overallCounts[i] += v)));
  const usedAll = usedCodes(overallCounts);
  const perClass: ClassMetrics[] = [...classSums.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([classId, c]) => ({
      classId,
      name: classes[classId] ?? 'no class',
      images: c.images,
      accuracy: c.top1.map((v) => v / c.images),
      nll: c.nll.map((v) => v / c.images),
      psnr: c.psnr / c.images,
    }));
  return {
    format: 'varscope-evaluation',
    version: 1,
    family: 'var',
    ...meta,
    failed: [...meta.failed].sort((a, b) => compareListed(a.file, b.file)),
    images: n,
    method: { eceBins: ECE_BINS, priorUniformMix: PRIOR_UNIFORM_MIX, ...QUALITY_METHOD },
    scales,
    overall: overall as unknown as OverallMetrics,
    usage: { counts: counts.map((c) => Array.from(c)), used: usedAll, dead: V - usedAll, perplexity: perplexity(overallCounts) },
    perClass,
    perImage,
    ...(freeRunSpec ? { freeRunning: freeRunningOf({ patchNums, classes, trueNll: scales.map((s) => s.nll) }, rows, freeRunSpec) } : {}),
  };
}

/**
 * One position's scores from its logits: rank of the true token (0 = top-1; ties go to the lower id, as argmax),
 * −log p(true), entropy (nats), the top-1 probability and Σ p² (for the Brier score).
 */
export function scoreRow(
  logits: Float32Array,
  off: number,
  V: number,
  t: number,
): { rank: number; nll: number; entropy: number; confidence: number; sumSquares: number } {
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (logits[off + v] > max) max = logits[off + v];
  const lt = logits[off + t];
  let z = 0;
  let zl = 0;
  let zz = 0;
  let rank = 0;
  for (let v = 0; v < V; v++) {
    const l = logits[off + v];
    const d = l - max;
    const p = Math.exp(d);
    z += p;
    zl += p * d;
    zz += p * p;
    if (l > lt || (l === lt && v < t)) rank++;
  }
  const logZ = Math.log(z);
  return { rank, nll: logZ - (lt - max), entropy: logZ - zl / z, confidence: 1 / z, sumSquares: zz / (z * z) };
}
