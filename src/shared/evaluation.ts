/**
 * The evaluation of a checkpoint over a folder of images: per-scale prediction quality, calibration,
 * reconstruction and codebook use, each beside baselines, plus per-class and per-image rows. Plain JSON
 * (numbers and arrays only), so a saved result is the same object when it is opened again.
 */
import type { ConsistencyWarning } from './consistency';
import type { OverallMetricKey, ScaleMetricKey } from './metrics';

/** One bin of a reliability diagram: tokens whose top-1 probability fell in [lo, hi). */
export interface ReliabilityBin {
  lo: number;
  hi: number;
  count: number;
  /** Mean top-1 probability of the bin's tokens (null when empty). */
  confidence: number | null;
  /** Fraction of the bin's tokens whose top-1 is the true token (null when empty). */
  accuracy: number | null;
}

/** A baseline's prediction quality at one scale. */
export interface BaselineScore {
  accuracy: number;
  /** Mean −log p(true token), nats (absent for baselines that predict a code, not a distribution). */
  nll?: number;
}

/** The value of every declared per-scale metric (src/shared/metrics.ts says what each is and how it gathers). */
export type ScaleValues = Record<ScaleMetricKey, number>;

/** Everything measured at one scale over the folder: the declared metrics in their order, then the baselines. */
export interface ScaleMetrics extends ScaleValues {
  scaleIndex: number;
  pn: number;
  /** Tokens scored at this scale (images × pn²). */
  tokens: number;
  /** The bins behind `ece` (equal-width bins of the top-1 probability; written right after it). */
  reliability: ReliabilityBin[];
  baselines: {
    /** Predict from the training hit counts stored in the bundle (null when it has none). */
    priorTraining: BaselineScore | null;
    /** Predict from the folder's own counts at this scale, leaving the scored image out. */
    priorFolder: BaselineScore;
    /** Copy the code at the same position of the coarser scale, upsampled (nearest); null at the first scale. */
    copyCoarser: BaselineScore | null;
  };
}

/** The token-level metrics over every token of every scale, and their reliability diagram. */
export interface OverallMetrics extends Record<OverallMetricKey, number> {
  reliability: ReliabilityBin[];
}

/** One image's row in the table of worst images. */
export interface ImageMetrics {
  file: string;
  classId: number;
  /** Over all L tokens: top-1 accuracy and mean NLL. */
  accuracy: number;
  nll: number;
  /** Of the final reconstruction. */
  psnr: number;
  ssim: number;
  /** Mean over its tokens of −ln(folder frequency of the code at that scale): high = rarely used codes. */
  rarity: number;
}

/** Per-class rows (when labels are known). */
export interface ClassMetrics {
  classId: number;
  name: string;
  images: number;
  accuracy: number[];
  nll: number[];
  /** Final-scale reconstruction. */
  psnr: number;
}

/**
 * How the images got their class (VAR), or their caption (Infinity: `captions`, from files beside each image, or from
 * one JSONL when `jsonl` is given: src/engine/dataset/captions.ts).
 */
export type LabelSource =
  { kind: 'none' } | { kind: 'class'; classId: number } | { kind: 'subfolders' } | { kind: 'captions'; jsonl?: string };

/** The version of a checkpoint file an evaluation came from (watch mode: the file is rewritten while a run trains). */
export interface CheckpointVersionFacts {
  file: string;
  sha256: string;
  size: number;
  mtimeMs: number;
  /** Training position stored in the checkpoint (the official trainer's `epoch` and `iter`). */
  epoch?: number;
  iter?: number;
}

/** The whole result of `evaluate` on a VAR model. */
export interface DatasetEvaluation {
  format: 'varscope-evaluation';
  version: 1;
  /** The model family (absent in results saved before Infinity: VAR). */
  family?: 'var';
  model: { id: string; name: string; dir: string; step: number | null; checkpoint?: CheckpointVersionFacts };
  folder: string;
  labels: LabelSource;
  /** Sub-folder -> class, and how it was matched (names, indices, or sorted order like torchvision's ImageFolder). */
  classMap: Array<{ folder: string; classId: number }>;
  classMatch: 'names' | 'indices' | 'sorted' | null;
  /** Where the folder's labels and the model's classes disagree (absent in results saved before the check). */
  warnings?: ConsistencyWarning[];
  images: number;
  failed: Array<{ file: string; message: string }>;
  cancelled: boolean;
  elapsedMs: number;
  /** The definitions behind the numbers. */
  method: { eceBins: number; priorUniformMix: number; ssim: string; psnr: string };
  scales: ScaleMetrics[];
  /** Over every token of every scale. */
  overall: OverallMetrics;
  /** Codebook usage over the folder: counts[k][v], codes used over all scales, perplexity over all scales. */
  usage: { counts: number[][]; used: number; dead: number; perplexity: number };
  perClass: ClassMetrics[];
  perImage: ImageMetrics[];
  /** Free running from every prefix of each image's own tokens (`varscope evaluate --free-running`; absent without). */
  freeRunning?: FreeRunningEvaluation;
  /** Only in the result of `varscope evaluate --shard K/N`: what `varscope merge` needs. */
  shard?: ShardPart;
}

/** How a free-running continuation picks its tokens: drawn at the bundle's sampling settings, or the most probable. */
export type FreeRunMode = 'sampled' | 'greedy';

/** Every mode, in the order results list them. */
export const FREE_RUN_MODES: readonly FreeRunMode[] = ['sampled', 'greedy'];

/** What a free-running evaluation was run with. */
export interface FreeRunSpec {
  modes: FreeRunMode[];
  /** The bundle's sampling settings and the seed of every sampled continuation (greedy: CFG as here, then the argmax). */
  sampling: { cfg: number; topK: number; topP: number; seed: number };
  /** Which class each continuation is conditioned on: the image's label, one class for all, or the null class. */
  classSource: 'labels' | 'class' | 'unconditional';
}

/** One later scale j of the continuations from one prefix, over the folder. */
export interface FreeRunScale {
  scaleIndex: number;
  pn: number;
  /** Fraction of positions where the continuation's token is the image's own. */
  agreement: number;
  /** PSNR (dB) of decode(f̂ after scale j of the continuation) against the model input, mean over images. */
  psnr: number;
  /** Mean −ln p of the continuation's own tokens under the distribution they came from (CFG-combined, before top-k/top-p). */
  nll: number;
  /** Mean −ln p of the image's own tokens at this scale, teacher-forced (the scale's `nll`, for side by side). */
  trueNll: number;
}

/** The continuations that keep the image's own tokens at scales 1 … kept (1-based) and generate the finer ones. */
export interface FreeRunCurve {
  kept: number;
  scales: FreeRunScale[];
}

/**
 * One row per class or image: per prefix (kept = 1 … SN − 1), the agreement at the finest scale and the PSNR of the
 * continuation's final decode.
 */
export interface FreeRunRow {
  agreement: number[];
  psnr: number[];
}

/** Free running over the folder: where the model, left to itself after a prefix of the truth, departs from the data. */
export interface FreeRunningEvaluation extends FreeRunSpec {
  /** Continuations run: images × (SN − 1) prefixes × modes. */
  generations: number;
  curves: Partial<Record<FreeRunMode, FreeRunCurve[]>>;
  perClass: Array<{ classId: number; name: string; images: number } & Partial<Record<FreeRunMode, FreeRunRow>>>;
  perImage: Array<{ file: string; classId: number } & Partial<Record<FreeRunMode, FreeRunRow>>>;
}

/** One image's continuation from one prefix: per regenerated scale j = kept … SN − 1 (0-based), sums over its tokens. */
export interface FreeRunPrefixStats {
  /** Positions where the continuation's token is the image's own. */
  hits: number[];
  /** Σ −ln p of the continuation's tokens. */
  nll: number[];
  /** PSNR of decode(f̂ after j) against the model input. */
  psnr: number[];
}

/** One image's continuations, per mode, per prefix (kept = 1 … SN − 1). */
export type FreeRunImageStats = Partial<Record<FreeRunMode, FreeRunPrefixStats[]>>;

/**
 * The model facts that turn per-image statistics into a result (src/engine/dataset/datasetMetrics.ts): the scales,
 * the vocabulary, the class names, and whether the bundle has training hit counts (the training prior baseline).
 */
export interface MetricsFacts {
  patchNums: number[];
  vocabSize: number;
  classes: string[];
  trainingPrior: boolean;
}

/** One non-empty bin of a reliability counter: [bin, tokens, Σ top-1 probability, tokens whose top-1 was true]. */
export type ReliabilityCounts = [number, number, number, number];

/** One image's sums at one scale, each summed over the scale's tokens in position order. */
export interface ImageScaleStats {
  /** Σ of each `tokenMean` metric, in the order of src/shared/metrics.ts. */
  token: number[];
  /** Each `imageMean` metric of decode(f̂ after this scale), in the order of src/shared/metrics.ts. */
  image: number[];
  /** Positions where the coarser scale's code (upsampled, nearest) is the true one (0 at the first scale). */
  copyHits: number;
  /** Hits and Σ NLL of the training-count prior (0 without training hits). */
  priorHits: number;
  priorNll: number;
  reliability: ReliabilityCounts[];
}

/**
 * Everything an evaluation needs of one image (its row, its share of every sum, its tokens for the folder's own
 * code counts): a result is these rows summed in the folder's listing order, so parts computed on several machines
 * give the numbers of one run exactly.
 */
export interface ImageStats {
  file: string;
  classId: number;
  /** [L] its tokens. */
  tokens: number[];
  scales: ImageScaleStats[];
  /** Its free-running continuations (with --free-running). */
  freeRunning?: FreeRunImageStats;
}

/**
 * One part of an evaluation split over machines: shard `index` of `count` (an image's shard is its path's hash,
 * src/engine/dataset/shards.ts), with what must agree between parts and every image's statistics.
 */
export interface ShardPart {
  index: number;
  count: number;
  /** The bundle: its id, a sha256 over the sha256 of its files, and the facts the metrics need. */
  model: MetricsFacts & { id: string; hash: string };
  /** The settings that change results (the batch does not). */
  settings: { limit: number | null; resizeRatio: number; maxImagePixels: number; provider: string; freeRunning?: FreeRunSpec };
  /** The whole folder's images (labelled ones, after --limit), before the split: their number and a sha256 of their paths. */
  listing: { images: number; sha256: string };
  /** Every image of this part that was read (the result's `failed` lists the others), in listing order. */
  stats: ImageStats[];
}

/** Progress of a folder evaluation (also of a codebook-usage-only run). */
export interface EvaluationProgress {
  runId: string;
  done: number;
  total: number;
  failed: number;
  elapsedMs: number;
  finished: boolean;
}

/** Bit and token accuracy (every bit of the token right), as Infinity's trainer logs them. */
export interface BitAccuracyValues {
  bitAccuracy: number;
  tokenAccuracy: number;
}

/** One scale of an Infinity model over the folder: its tokens' teacher-forced accuracy beside the no-model baselines. */
export interface BitsScaleMetrics extends BitAccuracyValues {
  scaleIndex: number;
  /** The scale's grid, when every image has the same (one schedule); else null. */
  grid: { h: number; w: number } | null;
  /** Tokens scored at this scale (Σ over images of h·w). */
  tokens: number;
  baselines: {
    /** Each bit's majority value at this scale, per image (src/engine/model/infinityModel.ts scoreBits). */
    majority: BitAccuracyValues;
    /** The coarser scale's bits, nearest-upsampled; null at the first scale. */
    copyCoarser: BitAccuracyValues | null;
  };
}

/** One image's row of an Infinity evaluation. */
export interface BitsImageMetrics extends BitAccuracyValues {
  file: string;
  /** The schedule it was scored at (the template ratio nearest its own h / w). */
  schedule: string;
  /** Where its caption came from: a features file, or `prompt: TEXT`. */
  caption: string;
  /** Per scale. */
  scales: BitAccuracyValues[];
}

/** One image's hits at one scale (sums over its tokens): what a result and a merge are computed from. */
export interface BitsScaleStats {
  /** The scale's grid at the image's schedule. */
  h: number;
  w: number;
  tokens: number;
  bitsRight: number;
  tokensRight: number;
  majorityBitsRight: number;
  majorityTokensRight: number;
  /** 0 at the first scale. */
  copyBitsRight: number;
  copyTokensRight: number;
}

/** One image's statistics of an Infinity evaluation. */
export interface BitsImageStats {
  file: string;
  schedule: string;
  caption: string;
  scales: BitsScaleStats[];
}

/** One part of a split Infinity evaluation (as ShardPart for VAR). */
export interface BitsShardPart {
  index: number;
  count: number;
  model: { id: string; hash: string; bits: number };
  settings: { limit: number | null; maxImagePixels: number; provider: string };
  listing: { images: number; sha256: string };
  stats: BitsImageStats[];
}

/** The whole result of `evaluate` on an Infinity model (`family: 'infinity'`). */
export interface BitsDatasetEvaluation {
  format: 'varscope-evaluation';
  version: 1;
  family: 'infinity';
  model: { id: string; name: string; dir: string; step: number | null; checkpoint?: CheckpointVersionFacts };
  folder: string;
  /** Always captions: from files beside the images or one JSONL. */
  labels: LabelSource;
  /** Bits per token. */
  bits: number;
  images: number;
  failed: Array<{ file: string; message: string }>;
  cancelled: boolean;
  elapsedMs: number;
  /** Every bit's argmax against the image's own bits, teacher-forced on its caption. */
  method: { prediction: string; folderMean: string };
  scales: BitsScaleMetrics[];
  /** Over every token of every scale. */
  overall: BitAccuracyValues;
  perImage: BitsImageMetrics[];
  /** Only in the result of `varscope evaluate --shard K/N`. */
  shard?: BitsShardPart;
}

/** An evaluation of either family. */
export type AnyDatasetEvaluation = DatasetEvaluation | BitsDatasetEvaluation;
