/**
 * The engine's request API (served by the engine child process, called through EngineClient) and the
 * events it streams. Every request names the model bundle folder, so a restarted engine process serves
 * the next request without any other state being replayed.
 */
import type { AnyDatasetEvaluation, EvaluationProgress, FreeRunMode, LabelSource } from './evaluation';
import type { BitEditRequest, BitEditResult } from './bitEdit';
import type { EditRequest, EditResult } from './protocol';
import type { ModelFamily } from './manifest';
import type { AnySamplingGridRequest, AnySamplingGridResult, BitSamplingGridRequest, BitSamplingGridResult } from './bitSamplingGrid';
import type { SamplingGridRequest, SamplingGridResult } from './samplingGrid';
import type {
  AnyModelInfo,
  AnyGenerationSettings,
  AnyGenerationStep,
  AnyUsage,
  AttentionResult,
  BitGenerationSettings,
  BitsEvalResult,
  BitsInspectResult,
  CodebookUsage,
  EvalResult,
  GenerationSettings,
  InspectResult,
  NodePlacement,
  RgbaImage,
  ScaleProfile,
} from './results';
import type { Side } from './rpc';
import type { TextCondition } from './textCondition';

/** Requests that take a caption name it as a TextCondition (declared beside the panel's protocol, which shares it). */
export type { TextCondition } from './textCondition';

/** The execution-provider choices (setting varscope.executionProvider, CLI --provider). */
export const PROVIDER_CHOICES = ['auto', 'cuda', 'dml', 'coreml', 'webgpu', 'cpu'] as const;

/** Process-wide engine settings (VS Code settings or CLI flags). */
export interface EngineConfig {
  /** `auto` tries the platform's chain: cuda (Linux), dml (Windows) or coreml (macOS), then webgpu, then cpu. */
  provider: (typeof PROVIDER_CHOICES)[number];
  /** Intra-op threads; 0 = the measured default. */
  threads: number;
  /** Folder of onnxruntime's CUDA provider libraries (the client also puts it on LD_LIBRARY_PATH). */
  cudaLibraryPath?: string;
  /** The Python interpreter VARScope exports with: the CUDA libraries of its nvidia-* wheels go on LD_LIBRARY_PATH. */
  pythonPath?: string;
  /** Images with more pixels are refused (decompression bombs). */
  maxImagePixels: number;
}

/** An image given by path (read by the engine) or by its bytes. */
export type ImageSource = { path: string } | { bytes: Uint8Array; name?: string };

/** Which model a request is for: the bundle folder (holding varscope.json). */
export interface ModelRef {
  model: string;
}

/** Options of the image preprocessing. */
export interface ImageOptions {
  /** Short side before the centre crop = round(resizeRatio × imageSize); default 1. */
  resizeRatio?: number;
}

/** An edit of an image's token pyramid (or of a given pyramid). */
export interface EngineEditRequest extends ModelRef, EditRequest {
  /** The pyramid to edit: an image (tokenized first) or tokens per scale. */
  source: { image: ImageSource } | { tokens: Int32Array[] };
  /** Keep mask at the finest scale (lastPn² values, 1 = keep the source token), the official in/out-painting
   *  mask; default: keep everything outside the footprint of `positions`. */
  keepMask?: Uint8Array;
}

/** A whole VAR generation at once (CLI, scripts). */
export interface GenerateResult {
  family?: 'var';
  runId: string;
  tokens: Int32Array[];
  /** decode(f̂) of the last scale. */
  image: RgbaImage;
}

/** A whole Infinity generation at once (CLI, scripts). */
export interface BitGenerateResult {
  family: 'infinity';
  runId: string;
  /** The schedule's id ('hw0.750-0.06M'). */
  schedule: string;
  /** Per scale, its bits 0/1 [h·w·d]. */
  bits: Uint8Array[];
  /** decode(f̂) of the last scale. */
  image: RgbaImage;
}

/** What `generate` takes: the settings say the family (VAR's may force tokens of some scales, -1 = sample). */
export type GenerateParams<S extends AnyGenerationSettings> = ModelRef & {
  settings: S;
  runId?: string;
  forced?: Array<Int32Array | null>;
  stream?: boolean;
};

/** Folder statistics request: images under a folder (recursively) or a file list. */
export interface FolderUsageRequest extends ModelRef, ImageOptions {
  runId: string;
  folder?: string;
  files?: string[];
  /** Emit a folderUsage event every this many images (default 16). */
  every?: number;
  /** Images per encoder batch (default 4). */
  batch?: number;
}

/** Folder statistics outcome: usage (a VAR model's codebook counts, an Infinity model's bit usage) plus the files that could not be read (and why). */
export interface FolderUsageResult {
  usage: AnyUsage;
  failed: Array<{ file: string; message: string }>;
  cancelled: boolean;
}

/** A folder evaluation request (`evaluate`, Evaluate Model on a Folder). */
export interface EvaluateFolderRequest extends ModelRef, ImageOptions {
  runId: string;
  folder: string;
  /** Where each image's class (VAR) or caption (Infinity) comes from (teacher forcing is conditioned on it). */
  labels: LabelSource;
  /** Images per batch (default 8). */
  batch?: number;
  /** Only the first N images (sorted order). */
  limit?: number;
  /**
   * Only the images of shard `index` (0 … count − 1) of `count`, cut after `limit` (src/engine/dataset/shards.ts);
   * the result then holds what `varscope merge` needs (DatasetEvaluation.shard).
   */
  shard?: { index: number; count: number };
  /**
   * Also let the model continue each image from every prefix of its own tokens, in these modes, at the bundle's sampling
   * settings (src/engine/dataset/freeRunning.ts): K − 1 generations per image and mode.
   */
  freeRunning?: { modes: FreeRunMode[] };
}

/** What `attention` takes: the image, the block and head, and VAR's class or Infinity's caption. */
export type AttentionParams = ModelRef & { image: ImageSource; layer: number; head: number | 'mean' } & (
    (ImageOptions & { classId: number }) | { text: TextCondition; hDivW?: number }
  );

/** Requests the engine serves. */
export interface EngineApi {
  /** Set provider / threads / limits; closes opened models when the runtime settings change. */
  configure(params: EngineConfig): Promise<void>;
  /** Load and check a bundle, open all its graphs; returns its facts (and the provider in use). */
  openModel(params: ModelRef): Promise<AnyModelInfo>;
  /** Tokenize an image: every scale's tokens, residuals, reconstructions. */
  inspect(params: ModelRef & ImageOptions & { image: ImageSource }): Promise<InspectResult>;
  /** Teacher-forced evaluation of an image for a class (nullClass = no class). */
  evaluate(params: ModelRef & ImageOptions & { image: ImageSource; classId: number; topK?: number }): Promise<EvalResult>;
  /**
   * Attention weights of a block (one head or the mean) on the teacher-forced input: VAR for a class; Infinity for a
   * caption (at the schedule of `hDivW`, else of the image's ratio), with the cross-attention to the caption's tokens.
   */
  attention(params: AttentionParams): Promise<AttentionResult>;
  /**
   * Start a step-wise generation (nothing computed yet) of the settings' family (Infinity: its caption's features are
   * read now). VAR: `forced[k]` forces tokens of scale k (-1 = sample).
   */
  generationStart(
    params: ModelRef & { settings: AnyGenerationSettings; runId?: string; forced?: Array<Int32Array | null> },
  ): Promise<{ runId: string }>;
  /**
   * Compute up to `scaleIndex` (default: the next scale) or go back to it; every scale reached going forward is
   * also a `generationStep` event. The engine computes the next scale ahead meanwhile.
   */
  generationStep(params: { runId: string; scaleIndex?: number }): Promise<AnyGenerationStep>;
  /** Cancel a run (the scale in progress finishes; later steps reject with Cancelled) and forget it. */
  generationCancel(params: { runId: string }): Promise<void>;
  /** Generate every scale at once; streams `generationStep` events only when `stream`. */
  generate(params: GenerateParams<GenerationSettings>): Promise<GenerateResult>;
  generate(params: GenerateParams<BitGenerationSettings>): Promise<BitGenerateResult>;
  generate(params: GenerateParams<AnyGenerationSettings>): Promise<GenerateResult | BitGenerateResult>;
  /**
   * Replace tokens of a scale or a region and regenerate the finer scales (Infinity: of the generation of the
   * settings, for its caption; shared/bitEdit.ts).
   */
  edit(params: EngineEditRequest): Promise<EditResult>;
  edit(params: ModelRef & BitEditRequest): Promise<BitEditResult>;
  edit(params: EngineEditRequest | (ModelRef & BitEditRequest)): Promise<EditResult | BitEditResult>;
  /**
   * Sampler settings side by side: N seeded samples per class (Infinity: for the caption) per setting, each a
   * `generate` run, with per-scale metrics; progress streamed as `samplingGrid` events; cancel with `cancel`.
   */
  samplingGrid(params: ModelRef & SamplingGridRequest & { runId?: string }): Promise<SamplingGridResult>;
  samplingGrid(params: ModelRef & BitSamplingGridRequest & { runId?: string }): Promise<BitSamplingGridResult>;
  samplingGrid(params: ModelRef & AnySamplingGridRequest & { runId?: string }): Promise<AnySamplingGridResult>;
  /** Codebook usage (Infinity: bit usage) over many images, streamed as `folderUsage` events; cancel with `cancel`. */
  folderUsage(params: FolderUsageRequest): Promise<FolderUsageResult>;
  /**
   * Per-scale metrics and baselines of a model over a folder (an Infinity model: bit and token accuracy, labels
   * `captions`), progress streamed as `evaluateFolder` events; cancel with `cancel`.
   */
  evaluateFolder(params: EvaluateFolderRequest): Promise<AnyDatasetEvaluation>;
  /** The checkpoint's training hit counts, when the bundle has them. */
  trainingUsage(params: ModelRef): Promise<CodebookUsage | null>;
  /**
   * Time one generation (the bundle's sampling, seed 0) and one teacher-forced pass (on the image, else on the
   * generated sample) per scale and per graph, beside FLOPs, KV cache bytes and the machine's matrix-product rate.
   */
  profile(params: ModelRef & { image?: ImageSource; classId: number; repeats?: number }): Promise<ScaleProfile>;
  /** A bundle's model family (the bundle is opened): 'var' or 'infinity'. */
  modelFamily(params: ModelRef): Promise<ModelFamily>;
  /**
   * Infinity: an image's bits per scale and the reconstruction after each, at the bundle's schedule of the ratio
   * hDivW (h / w; default: the template ratio nearest the image's own).
   */
  inspectBits(params: ModelRef & { image: ImageSource; hDivW?: number }): Promise<BitsInspectResult>;
  /** Infinity: teacher-forced bit and token accuracy per scale of an image's bits for one caption, beside the no-model baselines. */
  evaluateBits(params: ModelRef & { image: ImageSource; hDivW?: number; text: TextCondition }): Promise<BitsEvalResult>;
  /** Cancel any run by id (generation or folder statistics). */
  cancel(params: { runId: string }): Promise<void>;
  /** Process facts (memory, provider) for diagnostics and tests. */
  status(params: Record<string, never>): Promise<EngineStatus>;
}

/** What `status` reports. */
export interface EngineStatus {
  pid: number;
  rss: number;
  heapUsed: number;
  provider: string | null;
  providerFallbacks: Array<{ provider: string; reason: string }>;
  openModels: string[];
  runs: number;
}

/** Events the engine streams. */
export interface EngineEvents {
  generationStep: AnyGenerationStep;
  folderUsage: { runId: string; usage: AnyUsage; done: number; total: number; finished: boolean; failed: number };
  evaluateFolder: EvaluationProgress;
  samplingGrid: { runId: string; done: number; total: number };
  log: { level: 'info' | 'warn' | 'error'; message: string };
  /** Where a graph's nodes ran, once known (after its first run). */
  nodePlacement: { model: string; role: string; provider: string; placement: NodePlacement };
}

/** The engine process's end of its channel: it serves EngineApi and streams EngineEvents. */
export type EngineSide = Side<EngineApi, EngineEvents>;
