/**
 * A training run's timeline: the evaluations of several checkpoints on one folder, ordered by training step,
 * turned into curves (one value per checkpoint) of every per-scale metric and of codebook usage (VAR), or of bit and
 * token accuracy and their baselines (Infinity). A timeline's checkpoints are of one family, and an Infinity
 * timeline's of one bit width and one set of scales (timelineMismatch says where they are not).
 */
import type { AnyDatasetEvaluation, BitAccuracyValues, BitsDatasetEvaluation, DatasetEvaluation, ScaleMetrics } from './evaluation';
import type { ScaleMetricKey } from './metrics';

/** A per-scale metric a timeline draws (any declared one; TIMELINE_METRICS lists those its CSV writes). */
export type TimelineMetric = ScaleMetricKey;

/** An Infinity timeline's curves: the model's accuracy, or a baseline's (null where it has none: copy at scale 0). */
export type BitsTimelineSource = 'model' | 'majority' | 'copyCoarser';

/** The x axis of a timeline, whatever the family. */
export interface TimelineAxis {
  /** One per checkpoint, in order. */
  points: Array<{ step: number; label: string; model: string; images: number }>;
  /** Whether every checkpoint had a training step (else x is the checkpoint's index). */
  byStep: boolean;
  /** What x counts: the epochs trainer checkpoints store, training steps, else the checkpoints in order. */
  axis: 'epoch' | 'training step' | 'checkpoint';
}

/** Curves along a VAR run: x = step (the checkpoint's order when a step is unknown), one series per scale. */
export interface Timeline extends TimelineAxis {
  family: 'var';
  patchNums: number[];
  /** values[scale][point] of a metric. */
  series(metric: TimelineMetric): number[][];
  /** Codes used over all scales, per point. */
  usedOverall: number[];
}

/** Curves along an Infinity run: bit and token accuracy per scale, of the model and of the no-model baselines. */
export interface BitsTimeline extends TimelineAxis {
  family: 'infinity';
  bits: number;
  /** Per scale: h×w when every image had the same grid, else "scale k". */
  scaleNames: string[];
  /** values[scale][point] of an accuracy (NaN where the source has none). */
  series(metric: keyof BitAccuracyValues, source?: BitsTimelineSource): number[][];
  /** Over every token of every scale, per point. */
  overall(metric: keyof BitAccuracyValues): number[];
}

/** Evaluations ordered by step (unknown steps keep their given order, after the known ones). */
export function orderByStep<E extends AnyDatasetEvaluation>(evals: E[]): E[] {
  return evals
    .map((e, i) => ({ e, i }))
    .sort((a, b) => (a.e.model.step ?? Infinity) - (b.e.model.step ?? Infinity) || a.i - b.i)
    .map((x) => x.e);
}

/** The axis of evaluations already ordered. */
function axisOf(ordered: AnyDatasetEvaluation[]): TimelineAxis {
  const byStep = ordered.length > 0 && ordered.every((e) => e.model.step !== null);
  const byEpoch = byStep && ordered.every((e) => e.model.checkpoint?.epoch !== undefined && e.model.checkpoint.epoch === e.model.step);
  return {
    points: ordered.map((e, i) => ({
      step: byStep ? e.model.step! : i,
      label: e.model.step === null ? e.model.name : `${byEpoch ? 'epoch' : 'step'} ${e.model.step}`,
      model: e.model.dir,
      images: e.images,
    })),
    byStep,
    axis: byEpoch ? 'epoch' : byStep ? 'training step' : 'checkpoint',
  };
}

/** The timeline of evaluations (of one folder, one family and one set of scales: see timelineMismatch). */
export function timelineOf(evals: DatasetEvaluation[]): Timeline;
export function timelineOf(evals: BitsDatasetEvaluation[]): BitsTimeline;
export function timelineOf(evals: AnyDatasetEvaluation[]): Timeline | BitsTimeline;
export function timelineOf(evals: AnyDatasetEvaluation[]): Timeline | BitsTimeline {
  const ordered = orderByStep(evals);
  if (ordered[0]?.family === 'infinity') return bitsTimelineOf(ordered as BitsDatasetEvaluation[]);
  const vars = ordered as DatasetEvaluation[];
  const patchNums = vars[0]?.scales.map((s) => s.pn) ?? [];
  return {
    family: 'var',
    ...axisOf(vars),
    patchNums,
    series: (metric) => patchNums.map((_, k) => vars.map((e) => (e.scales[k] as ScaleMetrics | undefined)?.[metric] ?? NaN)),
    usedOverall: vars.map((e) => e.usage.used),
  };
}

function bitsTimelineOf(ordered: BitsDatasetEvaluation[]): BitsTimeline {
  const first = ordered[0];
  const scaleNames = first.scales.map((s) => (s.grid ? `${s.grid.h}×${s.grid.w}` : `scale ${s.scaleIndex}`));
  const valueOf = (e: BitsDatasetEvaluation, k: number, metric: keyof BitAccuracyValues, source: BitsTimelineSource) => {
    const s = e.scales[k];
    const from = !s ? null : source === 'model' ? s : source === 'majority' ? s.baselines.majority : s.baselines.copyCoarser;
    return from ? from[metric] : NaN;
  };
  return {
    family: 'infinity',
    ...axisOf(ordered),
    bits: first.bits,
    scaleNames,
    series: (metric, source = 'model') => scaleNames.map((_, k) => ordered.map((e) => valueOf(e, k, metric, source))),
    overall: (metric) => ordered.map((e) => e.overall[metric]),
  };
}

/** What the checkpoints of one timeline share: the family, and for Infinity the bits per token and the scales. */
export interface TimelineShape {
  /** Which checkpoint, for messages. */
  name: string;
  family: 'var' | 'infinity';
  bits?: number;
  /** The scales as words: an evaluation's grids ("1×1,2×2,…"), a bundle's patch numbers or schedule ids. */
  schedule?: string;
}

/** The shape of an evaluation (its scales as the timeline draws them). */
export function shapeOfEvaluation(e: AnyDatasetEvaluation): TimelineShape {
  const name = e.model.name;
  if (e.family !== 'infinity') return { name, family: 'var', schedule: e.scales.map((s) => `${s.pn}×${s.pn}`).join(',') };
  return { name, family: 'infinity', bits: e.bits, schedule: timelineOf([e]).scaleNames.join(',') };
}

const familyWords = (f: TimelineShape['family']) => (f === 'infinity' ? 'an Infinity' : 'a VAR');

/**
 * Why `shapes` cannot share a timeline, in one line (the first that differs from the first one), or undefined: a
 * timeline's checkpoints are of one family, and share their bits per token and their scales (where both are known).
 */
export function timelineMismatch(shapes: TimelineShape[]): string | undefined {
  const [a] = shapes;
  for (const b of shapes.slice(1)) {
    if (b.family !== a.family)
      return `${b.name} is ${familyWords(b.family)} checkpoint and ${a.name} ${familyWords(a.family)} one: a timeline's checkpoints are of one family`;
    if (a.bits !== undefined && b.bits !== undefined && a.bits !== b.bits)
      return `${b.name} has ${b.bits} bits per token and ${a.name} ${a.bits}: a timeline's checkpoints have one bit width`;
    if (a.schedule !== undefined && b.schedule !== undefined && a.schedule !== b.schedule)
      return `${b.name} has the scales ${b.schedule} and ${a.name} ${a.schedule}: a timeline's checkpoints have one schedule`;
  }
  return undefined;
}
