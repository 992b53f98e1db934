/**
 * Accumulates the per-scale metrics of a folder evaluation one image at a time (nothing but each image's L
 * token ids is kept), and turns them into a DatasetEvaluation at the end, when the folder's own code counts
 * are known (leave-one-out prior, rarity of each image's codes).
 */
import type { ClassMetrics, DatasetEvaluation, ImageMetrics, ScaleMetrics } from '../../shared/evaluation';
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

interface ScaleSums {
  top1: number;
  top5: number;
  nll: number;
  entropy: number;
  psnr: number;
  ssim: number;
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
      top1: 0,
      top5: 0,
      nll: 0,
      entropy: 0,
      psnr: 0,
      ssim: 0,
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
    for (let k = 0; k < SN; k++) {
      const [b, e] = beginEnds[k];
      const s = this.sums[k];
      let top1 = 0;
      let nll = 0;
      for (let i = b; i < e; i++) {
        const r = scoreRow(x.logits, i * V, V, x.tokens[i]);
        if (r.rank === 0) top1++;
        if (r.rank < 5) s.top5++;
        nll += r.nll;
        s.entropy += r.entropy;
        s.reliability.add(r.confidence, r.rank === 0);
        this.overall.add(r.confidence, r.rank === 0);
      }
      s.top1 += top1;
      s.nll += nll;
      cls.top1[k] += top1 / (e - b);
      cls.nll[k] += nll / (e - b);
      imgTop1 += top1;
      imgNll += nll;
      s.psnr += psnr(x.decoded, k * 3 * S * S, x.input, 0, S);
      s.ssim += ssim(x.decoded, k * 3 * S * S, x.input, 0, S);
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
      const used = counts[k].reduce((a, c) => a + (c > 0 ? 1 : 0), 0);
      return {
        scaleIndex: k,
        pn,
        tokens: N,
        accuracy: per(s.top1),
        top5: per(s.top5),
        nll: per(s.nll),
        entropy: per(s.entropy),
        ece: s.reliability.ece(),
        reliability: s.reliability.diagram(),
        psnr: n ? s.psnr / n : 0,
        ssim: n ? s.ssim / n : 0,
        used,
        dead: V - used,
        perplexity: perplexity(counts[k]),
        baselines: {
          priorTraining: this.trainingPrior ? { accuracy: per(s.priorHits), nll: per(s.priorNll) } : null,
          priorFolder: { accuracy: per(loo[k].hits), nll: per(loo[k].nll) },
          copyCoarser: k > 0 ? { accuracy: per(s.copyHits) } : null,
        },
      };
    });
    const totalTokens = n * beginEnds[beginEnds.length - 1][1];
    const sum = (f: (s: ScaleSums) => number) => (totalTokens ? this.sums.reduce((a, s) => a + f(s), 0) / totalTokens : 0);
    const overallCounts = new Float64Array(V);
    counts.forEach((c) => c.forEach((v, i) => (overallCounts[i] += v)));
    const usedAll = overallCounts.reduce((a, c) => a + (c > 0 ? 1 : 0), 0);
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
      overall: {
        accuracy: sum((s) => s.top1),
        top5: sum((s) => s.top5),
        nll: sum((s) => s.nll),
        entropy: sum((s) => s.entropy),
        ece: this.overall.ece(),
        reliability: this.overall.diagram(),
      },
      usage: { counts: counts.map((c) => Array.from(c)), used: usedAll, dead: V - usedAll, perplexity: perplexity(overallCounts) },
      perClass,
      perImage,
    };
  }
}

/**
 * One position's scores from its logits: rank of the true token (0 = top-1; ties go to the lower id, as argmax),
 * −log p(true), entropy (nats) and the top-1 probability.
 */
export function scoreRow(
  logits: Float32Array,
  off: number,
  V: number,
  t: number,
): { rank: number; nll: number; entropy: number; confidence: number } {
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (logits[off + v] > max) max = logits[off + v];
  const lt = logits[off + t];
  let z = 0;
  let zl = 0;
  let rank = 0;
  for (let v = 0; v < V; v++) {
    const l = logits[off + v];
    const d = l - max;
    const p = Math.exp(d);
    z += p;
    zl += p * d;
    if (l > lt || (l === lt && v < t)) rank++;
  }
  const logZ = Math.log(z);
  return { rank, nll: logZ - (lt - max), entropy: logZ - zl / z, confidence: 1 / z };
}
