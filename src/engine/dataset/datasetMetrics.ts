/**
 * Accumulates the per-scale metrics of a folder evaluation one image at a time (nothing but each image's L
 * token ids is kept), and turns them into a DatasetEvaluation at the end, when the folder's own code counts
 * are known (leave-one-out prior, rarity of each image's codes).
 */
import type { ClassMetrics, DatasetEvaluation, ImageMetrics, OverallMetrics, ScaleMetrics } from '../../shared/evaluation';
import { keysOf, type MetricKeyOf, SCALE_METRICS } from '../../shared/metrics';
import { copyCoarserHits, frequencyPrior, FrequencyPrior, PRIOR_UNIFORM_MIX, scoreLeaveOneOut, scorePrior } from '../analysis/baselines';
import { ECE_BINS, ReliabilityCounter } from '../analysis/calibration';
import { perplexity, UsageCounter } from '../analysis/codebookStats';
import { psnr, QUALITY_METHOD, ssim } from '../image/imageQuality';

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
/** Where accuracy and NLL sit among the token sums (the per-class and per-image rows show them). */
const TOP1 = TOKEN_KEYS.indexOf('accuracy');
const NLL = TOKEN_KEYS.indexOf('nll');

/** Distinct codes with a count. */
function usedCodes(counts: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < counts.length; i++) if (counts[i] > 0) n++;
  return n;
}

interface ScaleSums {
  /** Σ over tokens of each token-level metric, in TOKEN_KEYS order. */
  token: Float64Array;
  /** Σ over images of each image-level metric, in IMAGE_KEYS order. */
  image: Float64Array;
  copyHits: number;
  priorHits: number;
  priorNll: number;
  reliability: ReliabilityCounter;
}

interface ImageRow extends Omit<ImageMetrics, 'rarity'> {
  tokens: Int32Array;
}

/** The metrics of many images. */
export class DatasetMetrics {
  readonly usage: UsageCounter;
  private readonly sums: ScaleSums[];
  private readonly overall = new ReliabilityCounter();
  private readonly rows: ImageRow[] = [];
  private readonly classSums = new Map<number, { images: number; top1: number[]; nll: number[]; psnr: number }>();
  private readonly trainingPrior: FrequencyPrior[] | null;

  constructor(readonly model: MetricsModel) {
    const { patchNums, vocabSize: V, trainingHits } = model;
    this.usage = new UsageCounter(patchNums, V);
    this.sums = patchNums.map(() => ({
      token: new Float64Array(TOKEN_KEYS.length),
      image: new Float64Array(IMAGE_KEYS.length),
      copyHits: 0,
      priorHits: 0,
      priorNll: 0,
      reliability: new ReliabilityCounter(),
    }));
    this.trainingPrior = trainingHits ? patchNums.map((_, k) => frequencyPrior(trainingHits.subarray(k * V, (k + 1) * V))) : null;
  }

  /** Number of images added. */
  get images(): number {
    return this.rows.length;
  }

  /** Score one image. */
  add(x: ImageTensors): void {
    const { patchNums, beginEnds, vocabSize: V, imageSize: S } = this.model;
    const SN = patchNums.length;
    const L = beginEnds[SN - 1][1];
    this.usage.add(x.tokens);
    let cls = this.classSums.get(x.classId);
    if (!cls) this.classSums.set(x.classId, (cls = { images: 0, top1: new Array(SN).fill(0), nll: new Array(SN).fill(0), psnr: 0 }));
    cls.images++;
    let imgTop1 = 0;
    let imgNll = 0;
    const img = new Float64Array(TOKEN_KEYS.length); // this image's sums at one scale
    for (let k = 0; k < SN; k++) {
      const [b, e] = beginEnds[k];
      const s = this.sums[k];
      img.fill(0);
      for (let i = b; i < e; i++) {
        const r = scoreRow(x.logits, i * V, V, x.tokens[i]);
        for (let j = 0; j < TOKEN_FNS.length; j++) img[j] += TOKEN_FNS[j](r);
        s.reliability.add(r.confidence, r.rank === 0);
        this.overall.add(r.confidence, r.rank === 0);
      }
      for (let j = 0; j < TOKEN_KEYS.length; j++) s.token[j] += img[j];
      cls.top1[k] += img[TOP1] / (e - b);
      cls.nll[k] += img[NLL] / (e - b);
      imgTop1 += img[TOP1];
      imgNll += img[NLL];
      IMAGE_KEYS.forEach((key, j) => (s.image[j] += IMAGE_VALUE[key](x.decoded, k * 3 * S * S, x.input, S)));
      const t = x.tokens.subarray(b, e);
      if (k > 0) {
        const [cb, ce] = beginEnds[k - 1];
        s.copyHits += copyCoarserHits(x.tokens.subarray(cb, ce), patchNums[k - 1], t, patchNums[k]);
      }
      if (this.trainingPrior) {
        const p = scorePrior(this.trainingPrior[k], t);
        s.priorHits += p.hits;
        s.priorNll += p.nll;
      }
    }
    const last = (SN - 1) * 3 * S * S;
    const finalPsnr = psnr(x.decoded, last, x.input, 0, S);
    cls.psnr += finalPsnr;
    this.rows.push({
      file: x.file,
      classId: x.classId,
      accuracy: imgTop1 / L,
      nll: imgNll / L,
      psnr: finalPsnr,
      ssim: ssim(x.decoded, last, x.input, 0, S),
      tokens: Int32Array.from(x.tokens),
    });
  }

  /** The result so far (the folder's own baselines need every image, so call it at the end). */
  result(
    meta: Pick<DatasetEvaluation, 'model' | 'folder' | 'labels' | 'classMap' | 'classMatch' | 'failed' | 'cancelled' | 'elapsedMs'>,
  ): DatasetEvaluation {
    const { patchNums, beginEnds, vocabSize: V, classes } = this.model;
    const n = this.rows.length;
    const counts = this.usage.perScale.map((c) => Float64Array.from(c));
    const loo = patchNums.map(() => ({ hits: 0, nll: 0 }));
    const perImage: ImageMetrics[] = this.rows.map(({ tokens, ...row }) => {
      let rarity = 0;
      beginEnds.forEach(([b, e], k) => {
        const t = tokens.subarray(b, e);
        const s = scoreLeaveOneOut(counts[k], t);
        loo[k].hits += s.hits;
        loo[k].nll += s.nll;
        const total = (e - b) * n;
        for (let i = 0; i < t.length; i++) rarity -= Math.log(counts[k][t[i]] / total);
      });
      return { ...row, rarity: rarity / tokens.length };
    });
    const scales: ScaleMetrics[] = patchNums.map((pn, k) => {
      const s = this.sums[k];
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
        priorTraining: this.trainingPrior ? { accuracy: per(s.priorHits), nll: per(s.priorNll) } : null,
        priorFolder: { accuracy: per(loo[k].hits), nll: per(loo[k].nll) },
        copyCoarser: k > 0 ? { accuracy: per(s.copyHits) } : null,
      };
      return values as unknown as ScaleMetrics;
    });
    const totalTokens = n * beginEnds[beginEnds.length - 1][1];
    const overall: Record<string, unknown> = {};
    for (const m of SCALE_METRICS) {
      if (m.accumulation === 'tokenMean') {
        const j = TOKEN_KEYS.indexOf(m.key);
        overall[m.key] = totalTokens ? this.sums.reduce((a, s) => a + s.token[j], 0) / totalTokens : 0;
      } else if (m.accumulation === 'calibration') overall[m.key] = CALIBRATION_VALUE[m.key](this.overall);
    }
    overall.reliability = this.overall.diagram();
    const overallCounts = new Float64Array(V);
    counts.forEach((c) => c.forEach((v, i) => (overallCounts[i] += v)));
    const usedAll = usedCodes(overallCounts);
    const perClass: ClassMetrics[] = [...this.classSums.entries()]
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
      ...meta,
      images: n,
      method: { eceBins: ECE_BINS, priorUniformMix: PRIOR_UNIFORM_MIX, ...QUALITY_METHOD },
      scales,
      overall: overall as unknown as OverallMetrics,
      usage: { counts: counts.map((c) => Array.from(c)), used: usedAll, dead: V - usedAll, perplexity: perplexity(overallCounts) },
      perClass,
      perImage,
    };
  }
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
