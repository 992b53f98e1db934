/**
 * Calibration of the top-1 probability: a reliability diagram over equal-width bins of confidence and the
 * expected calibration error ECE = Σ_b (n_b / N) · |accuracy_b − confidence_b| (Guo et al., 2017).
 */
import type { ReliabilityBin, ReliabilityCounts } from '../../shared/evaluation';

/** Bins of the reliability diagrams (15 equal-width bins on [0, 1], as Guo et al.). */
export const ECE_BINS = 15;

/** Accumulates (confidence, correct) pairs into equal-width bins. */
export class ReliabilityCounter {
  private readonly count: Float64Array;
  private readonly conf: Float64Array;
  private readonly hits: Float64Array;

  constructor(readonly bins = ECE_BINS) {
    this.count = new Float64Array(bins);
    this.conf = new Float64Array(bins);
    this.hits = new Float64Array(bins);
  }

  /** One prediction: its top-1 probability and whether the top-1 was the true token. */
  add(confidence: number, correct: boolean): void {
    const b = Math.min(this.bins - 1, Math.max(0, Math.floor(confidence * this.bins))); // p = 1 falls in the last bin
    this.count[b]++;
    this.conf[b] += confidence;
    if (correct) this.hits[b]++;
  }

  /** Add another counter's pairs. */
  merge(o: ReliabilityCounter): void {
    for (let b = 0; b < this.bins; b++) {
      this.count[b] += o.count[b];
      this.conf[b] += o.conf[b];
      this.hits[b] += o.hits[b];
    }
  }

  /** The non-empty bins' sums (a saved form that `addCounts` adds back exactly). */
  counts(): ReliabilityCounts[] {
    const out: ReliabilityCounts[] = [];
    for (let b = 0; b < this.bins; b++) if (this.count[b]) out.push([b, this.count[b], this.conf[b], this.hits[b]]);
    return out;
  }

  /** Add bins' sums saved by `counts`. */
  addCounts(counts: readonly ReliabilityCounts[]): void {
    for (const [b, n, conf, hits] of counts) {
      this.count[b] += n;
      this.conf[b] += conf;
      this.hits[b] += hits;
    }
  }

  /** The diagram's bins. */
  diagram(): ReliabilityBin[] {
    return Array.from({ length: this.bins }, (_, b) => {
      const n = this.count[b];
      return {
        lo: b / this.bins,
        hi: (b + 1) / this.bins,
        count: n,
        confidence: n ? this.conf[b] / n : null,
        accuracy: n ? this.hits[b] / n : null,
      };
    });
  }

  /** Expected calibration error (0 when nothing was added). */
  ece(): number {
    let total = 0;
    for (let b = 0; b < this.bins; b++) total += this.count[b];
    if (!total) return 0;
    let e = 0;
    for (let b = 0; b < this.bins; b++) if (this.count[b]) e += Math.abs(this.hits[b] - this.conf[b]) / total; // n_b/N · |acc_b − conf_b|
    return e;
  }
}
