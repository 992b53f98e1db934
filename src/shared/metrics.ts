/**
 * The per-scale metrics of a folder evaluation, each declared once: its JSON key, how it reads and is shown, how it
 * gathers over the images, which way is better and which baselines stand beside it. The JSON result's order, both CSV
 * files, the Dataset view's table and the timeline's curves derive from this table; the engine accumulates each metric
 * by its key (src/engine/datasetMetrics.ts), and the compiler asks for one accumulator per declared key.
 */

/**
 * How a metric gathers over the folder's images at one scale:
 * - `tokenMean`: a value per token, Σ / tokens; also over the tokens of every scale (the result's `overall`);
 * - `calibration`: from equal-width bins of the top-1 probability (ECE), with the reliability diagram beside it; also
 *   over every scale;
 * - `imageMean`: a value per image, Σ / images;
 * - `codeCounts`: from the folder's code counts at the scale once every image is in (distinct codes, perplexity).
 */
export type Accumulation = 'tokenMean' | 'calibration' | 'imageMean' | 'codeCounts';

/** How a value is shown: `digits` after the point, of the value × 100 when `percent`. */
export interface MetricFormat {
  digits: number;
  percent?: boolean;
}

/** The baselines a metric can stand beside: predictors that use no transformer. */
export type BaselineKey = 'priorTraining' | 'priorFolder' | 'copyCoarser';

/** One baseline: its JSON key, its CSV prefix, its short name in the table and its name in a legend. */
export interface BaselineDecl {
  key: BaselineKey;
  csv: string;
  /** Baselines with the same column share one table column (the first that is present fills it). */
  column: string;
  label: string;
}

/** The baselines, in the order of their CSV columns. */
export const BASELINES: readonly BaselineDecl[] = [
  { key: 'priorTraining', csv: 'prior_training', column: 'prior', label: 'prior (training counts)' },
  { key: 'priorFolder', csv: 'prior_folder', column: 'prior', label: 'prior (folder counts)' },
  { key: 'copyCoarser', csv: 'copy_coarser', column: 'copy', label: 'copy coarser' },
];

/** One per-scale metric. */
export interface MetricDecl {
  /** JSON key and CSV column. */
  key: string;
  /** Its name in a chart (the axis adds the unit). */
  label: string;
  /** Its header in the Dataset view's table. */
  column: string;
  /** Of the shown value ('' when it has none). */
  unit: string;
  format: MetricFormat;
  accumulation: Accumulation;
  /** Which way is better (null: neither, e.g. entropy). */
  better: 'higher' | 'lower' | null;
  /** The baselines scored with the same measure (their values are under `baselines[b][key]`). */
  baselines: readonly BaselineKey[];
  /** Metrics of one group share their baselines' table columns, which follow the group's last metric. */
  group?: string;
  /** False for a metric whose curve along a training run says nothing new (dead = vocabulary − used). */
  timeline?: boolean;
}

/** The declarations, typed as written (the keys below derive from them). */
const DECLARED = [
  // Teacher-forced top-1 accuracy of the true token (ties go to the lower id, as argmax).
  {
    key: 'accuracy',
    label: 'accuracy',
    column: 'acc %',
    unit: '%',
    format: { digits: 1, percent: true },
    accumulation: 'tokenMean',
    better: 'higher',
    baselines: ['priorTraining', 'priorFolder', 'copyCoarser'],
    group: 'accuracy',
  },
  // The true token among the five most probable.
  {
    key: 'top5',
    label: 'top-5 accuracy',
    column: 'top-5 %',
    unit: '%',
    format: { digits: 1, percent: true },
    accumulation: 'tokenMean',
    better: 'higher',
    baselines: [],
    group: 'accuracy',
  },
  // Mean −log p(true token).
  {
    key: 'nll',
    label: 'NLL',
    column: 'NLL',
    unit: 'nats / token',
    format: { digits: 3 },
    accumulation: 'tokenMean',
    better: 'lower',
    baselines: ['priorTraining', 'priorFolder'],
  },
  // Mean entropy of the predicted distribution.
  {
    key: 'entropy',
    label: 'entropy',
    column: 'entropy',
    unit: 'nats / token',
    format: { digits: 3 },
    accumulation: 'tokenMean',
    better: null,
    baselines: [],
  },
  // Expected calibration error of the top-1 probability over `method.eceBins` equal-width bins.
  {
    key: 'ece',
    label: 'ECE',
    column: 'ECE %',
    unit: '%',
    format: { digits: 1, percent: true },
    accumulation: 'calibration',
    better: 'lower',
    baselines: [],
  },
  // Brier score of the predicted distribution: mean over tokens of Σ_v (p_v − [v = true])², from 0 to 2.
  {
    key: 'brier',
    label: 'Brier score',
    column: 'Brier',
    unit: '',
    format: { digits: 3 },
    accumulation: 'tokenMean',
    better: 'lower',
    baselines: [],
  },
  // Mean over images of PSNR and SSIM of decode(f̂ after this scale) against the input (`method` says how).
  {
    key: 'psnr',
    label: 'PSNR',
    column: 'PSNR dB',
    unit: 'dB',
    format: { digits: 2 },
    accumulation: 'imageMean',
    better: 'higher',
    baselines: [],
  },
  {
    key: 'ssim',
    label: 'SSIM',
    column: 'SSIM',
    unit: '',
    format: { digits: 3 },
    accumulation: 'imageMean',
    better: 'higher',
    baselines: [],
  },
  // Codes used at this scale over the folder, the rest of the vocabulary, exp(entropy) of the counts.
  {
    key: 'used',
    label: 'codes used',
    column: 'used',
    unit: '',
    format: { digits: 0 },
    accumulation: 'codeCounts',
    better: 'higher',
    baselines: [],
  },
  {
    key: 'dead',
    label: 'dead codes',
    column: 'dead',
    unit: '',
    format: { digits: 0 },
    accumulation: 'codeCounts',
    better: 'lower',
    baselines: [],
    timeline: false,
  },
  {
    key: 'perplexity',
    label: 'perplexity',
    column: 'perplexity',
    unit: '',
    format: { digits: 1 },
    accumulation: 'codeCounts',
    better: 'higher',
    baselines: [],
  },
] as const satisfies readonly MetricDecl[];

type Declared = (typeof DECLARED)[number];

/** The key of a per-scale metric. */
export type ScaleMetricKey = Declared['key'];

/** The keys of the metrics that gather by `A`. */
export type MetricKeyOf<A extends Accumulation> = Extract<Declared, { accumulation: A }>['key'];

/** The metrics measured over the tokens of every scale too (the result's `overall`). */
export type OverallMetricKey = MetricKeyOf<'tokenMean' | 'calibration'>;

/** A declared metric: checking its accumulation narrows its key. */
export type ScaleMetric = { [A in Accumulation]: MetricDecl & { accumulation: A; key: MetricKeyOf<A> } }[Accumulation];

/** Every per-scale metric, in the order of the JSON result, the CSV columns and the table. */
export const SCALE_METRICS: readonly ScaleMetric[] = DECLARED;

/** The metrics a training run's timeline draws (and writes to its CSV). */
export const TIMELINE_METRICS: readonly ScaleMetricKey[] = SCALE_METRICS.filter((m) => m.timeline !== false).map((m) => m.key);

/** The keys of the metrics that gather by `a`, in order. */
export function keysOf<A extends Accumulation>(a: A): Array<MetricKeyOf<A>> {
  return SCALE_METRICS.filter((m) => m.accumulation === a).map((m) => m.key as MetricKeyOf<A>);
}

/** The declaration of a metric. */
export function metricOf(key: ScaleMetricKey): ScaleMetric {
  return SCALE_METRICS.find((m) => m.key === key)!;
}

/** A metric's value as shown ('–' when the result has none, e.g. one saved before the metric existed). */
export function formatMetric(m: MetricDecl, v: number | null | undefined): string {
  if (typeof v !== 'number') return '–';
  return (m.format.percent ? v * 100 : v).toFixed(m.format.digits);
}

/** A chart axis for a metric: "accuracy (%)". */
export function axisLabel(m: MetricDecl): string {
  return m.unit ? `${m.label} (${m.unit})` : m.label;
}

/** One baseline's score by one metric, in a result's `baselines` (undefined when absent). */
export function baselineValue(
  baselines: Readonly<Record<BaselineKey, Partial<Record<ScaleMetricKey, number>> | null>>,
  b: BaselineKey,
  key: ScaleMetricKey,
): number | undefined {
  return baselines[b]?.[key];
}

/** The baseline columns of the per-scale CSV: every baseline, by every metric it is scored with. */
export const BASELINE_COLUMNS: ReadonlyArray<{ name: string; baseline: BaselineKey; metric: ScaleMetricKey }> = BASELINES.flatMap((b) =>
  SCALE_METRICS.filter((m) => m.baselines.includes(b.key)).map((m) => ({ name: `${b.csv}_${m.key}`, baseline: b.key, metric: m.key })),
);
