/**
 * A training run's timeline: the evaluations of several checkpoints on one folder, ordered by training step,
 * turned into curves (one value per checkpoint) of every per-scale metric and of codebook usage.
 */
import type { DatasetEvaluation, ScaleMetrics } from './evaluation';
import type { ScaleMetricKey } from './metrics';

/** A per-scale metric a timeline draws (any declared one; TIMELINE_METRICS lists those its CSV writes). */
export type TimelineMetric = ScaleMetricKey;

/** Curves along the run: x = step (the checkpoint's order when a step is unknown), one series per scale. */
export interface Timeline {
  /** One per checkpoint, in order. */
  points: Array<{ step: number; label: string; model: string; images: number }>;
  /** Whether every checkpoint had a training step (else x is the checkpoint's index). */
  byStep: boolean;
  /** What x counts: the epochs trainer checkpoints store, training steps, else the checkpoints in order. */
  axis: 'epoch' | 'training step' | 'checkpoint';
  patchNums: number[];
  /** values[scale][point] of a metric. */
  series(metric: TimelineMetric): number[][];
  /** Codes used over all scales, per point. */
  usedOverall: number[];
}

/** Evaluations ordered by step (unknown steps keep their given order, after the known ones). */
export function orderByStep(evals: DatasetEvaluation[]): DatasetEvaluation[] {
  return evals
    .map((e, i) => ({ e, i }))
    .sort((a, b) => (a.e.model.step ?? Infinity) - (b.e.model.step ?? Infinity) || a.i - b.i)
    .map((x) => x.e);
}

/** The timeline of evaluations (of one folder, one patch schedule). */
export function timelineOf(evals: DatasetEvaluation[]): Timeline {
  const ordered = orderByStep(evals);
  const byStep = ordered.length > 0 && ordered.every((e) => e.model.step !== null);
  const byEpoch = byStep && ordered.every((e) => e.model.checkpoint?.epoch !== undefined && e.model.checkpoint.epoch === e.model.step);
  const patchNums = ordered[0]?.scales.map((s) => s.pn) ?? [];
  return {
    points: ordered.map((e, i) => ({
      step: byStep ? e.model.step! : i,
      label: e.model.step === null ? e.model.name : `${byEpoch ? 'epoch' : 'step'} ${e.model.step}`,
      model: e.model.dir,
      images: e.images,
    })),
    byStep,
    axis: byEpoch ? 'epoch' : byStep ? 'training step' : 'checkpoint',
    patchNums,
    series: (metric) => patchNums.map((_, k) => ordered.map((e) => (e.scales[k] as ScaleMetrics | undefined)?.[metric] ?? NaN)),
    usedOverall: ordered.map((e) => e.usage.used),
  };
}
