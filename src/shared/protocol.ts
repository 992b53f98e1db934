/**
 * Messages between the extension host and the inspector webview.
 *
 * Both sides wrap `postMessage` in an RpcChannel (rpc.ts). The webview calls the host through
 * `HostApi`; the host pushes events (`HostEvents`). Handshake: the webview emits `ready` once its
 * script runs; the host answers with the `init` event; nothing else is sent before `ready`.
 * Long runs carry a `runId`; events of a run that is no longer current are dropped by the store.
 */
import type { TextCondition } from './textCondition';
import type {
  AnyGenerationSettings,
  AnyGenerationStep,
  AnyModelInfo,
  AnyUsage,
  AttentionResult,
  BitSamplingForm,
  BitsEvalResult,
  BitsInspectResult,
  CodebookUsage,
  EvalResult,
  GenerationSettings,
  GenerationStep,
  InspectResult,
  ModelInfo,
  ScaleProfile,
} from './results';
import type { Nothing, Side } from './rpc';
import type { AnyDatasetEvaluation } from './evaluation';
import type { BitEditRequest, BitEditResult } from './bitEdit';
import type { AnySamplingGridRequest, AnySamplingGridResult } from './bitSamplingGrid';

/** What the panel shows; kept in webview state so a reload restores it. */
export interface PanelState {
  /** Image open in the panel (a URI string), or null for a generation-only panel. */
  imageUri: string | null;
  /** Selected view tab. */
  view?: ViewId;
  /** Last generation settings. */
  generation?: GenerationSettings;
  /** Last generation settings of an Infinity model (its caption: `caption`). */
  bitGeneration?: BitSamplingForm;
  /** Teacher-forcing class. */
  evalClass?: number;
  attention?: { layer: number; head: number | 'mean' };
  /** The caption an Infinity model's views are conditioned on (src/webview/ui/captionInput.ts). */
  caption?: TextCondition;
}

/** The views of the inspector, in tab order (the webview's tabs and the message validator both read this list). */
export const VIEW_IDS = [
  'pyramid',
  'reconstruction',
  'residual',
  'codebook',
  'attention',
  'stepThrough',
  'sampling',
  'whatIf',
  'compare',
  'dataset',
  'profile',
] as const;

/** A view of the inspector. */
export type ViewId = (typeof VIEW_IDS)[number];

/** The contributed commands a button in the panel may run (anything else is refused by the host). */
export const PANEL_COMMANDS = [
  'varscope.chooseModel',
  'varscope.evaluateFolder',
  'varscope.evaluateTimeline',
  'varscope.openEvaluation',
  'varscope.compareModels',
  'varscope.showLog',
] as const;

/** What a view exports as, and the MIME type of each. */
export const EXPORT_MIMES = { png: 'image/png', svg: 'image/svg+xml', json: 'application/json' } as const;

/** An export format. */
export type ExportFormat = keyof typeof EXPORT_MIMES;

/** What the panel may save through the host: a view's export, or a table as CSV (the Dataset view). */
export const SAVE_MIMES = [...Object.values(EXPORT_MIMES), 'text/csv'] as const;

/** Sent by the host after `ready`. */
export interface InitPayload {
  state: PanelState;
  /** Display name of the image (file name), or null. */
  imageName: string | null;
  /** A webview URI of the image for an immediate preview while the engine runs. */
  imageSrc: string | null;
  /** The model, when it loaded; otherwise `modelError` says why. */
  model: AnyModelInfo | null;
  modelError?: { code: string; message: string };
  /** T5 features beside the image with its basename (`img.npy` or `img.safetensors` for `img.png`), if present: the default caption. */
  captionBesideImage: string | null;
}

/** Token edit for the what-if view (VAR's zero-shot in/out-painting semantics). */
export interface EditRequest {
  family?: 'var';
  /** Scale whose tokens change; finer scales are regenerated, coarser kept. */
  scaleIndex: number;
  /** Positions (row-major within the scale) to change. */
  positions: number[];
  /** New token ids for those positions, or 'resample' to draw them from the model. */
  tokens: number[] | 'resample';
  settings: GenerationSettings;
}

/** Result of an edit: the new pyramid from `scaleIndex` on, and its image. */
export interface EditResult {
  family?: 'var';
  /** tokens per scale (all scales). */
  tokens: Int32Array[];
  /** decode(f̂) per scale from `scaleIndex` on. */
  steps: GenerationStep[];
}

/** The panel image tokenized by the current model, of its family: a VAR model's tokens, an Infinity model's bits. */
export type PanelInspectResult = ({ family: 'var' } & InspectResult) | ({ family: 'infinity' } & BitsInspectResult);

/** Requests the webview makes of the host. */
export interface HostApi {
  /** Tokenize the panel's image with the current model (an Infinity model: its bits per scale). */
  inspect(params: Record<string, never>): Promise<PanelInspectResult>;
  /** Teacher-forced evaluation of the panel's image for a class. */
  evaluate(params: { classId: number }): Promise<EvalResult>;
  /** Infinity: teacher-forced bit and token accuracy per scale of the panel's image for a caption. */
  evaluateBits(params: { text: TextCondition }): Promise<BitsEvalResult>;
  /** Ask the user for a caption's T5 features file (.npy / .safetensors); its path, or null if cancelled. */
  chooseTextFeatures(params: Record<string, never>): Promise<string | null>;
  /** Ask the user for a folder of images (the host's dialog); its path, or null if cancelled. */
  chooseImageFolder(params: Record<string, never>): Promise<string | null>;
  /**
   * Codebook statistics of the current model over the images under `folder` (an Infinity model: bit usage), streamed
   * as `folderUsage` events of `runId` (chosen by the panel); `cancel` stops it.
   */
  folderUsage(params: { runId: string; folder: string }): Promise<{ images: number; failed: number; cancelled: boolean }>;
  /**
   * Attention weights of one layer / head for the panel's image (teacher-forced): a VAR model for a class, an Infinity
   * model for a caption (with the cross-attention to its tokens).
   */
  attention(params: { layer: number; head: number | 'mean' } & ({ classId: number } | { text: TextCondition })): Promise<AttentionResult>;
  /** Start a generation; steps are computed on request. Returns the run id. */
  generationStart(params: { settings: AnyGenerationSettings }): Promise<{ runId: string }>;
  /** Compute the next scale of a run (or up to `scaleIndex`); each step also arrives as a `generationStep` event. */
  generationStep(params: { runId: string; scaleIndex?: number }): Promise<AnyGenerationStep>;
  /**
   * Stop a run of this panel, whatever its kind (a generation: pending steps reject with Cancelled; a sampling grid:
   * its request rejects with Cancelled). Runs of other panels, and runs already over, are left alone.
   */
  cancel(params: { runId: string }): Promise<void>;
  /**
   * Sampler settings side by side with the current model: N seeded samples per class per setting, per-scale metrics.
   * `runId` (chosen by the panel, unique to it) names the run for `progress` events and `cancel`.
   */
  samplingGrid(params: AnySamplingGridRequest & { runId: string }): Promise<AnySamplingGridResult>;
  /** Change tokens and regenerate finer scales, starting from the panel image's pyramid. */
  /** Edit tokens and regenerate the finer scales: the panel image's (VAR), or a generation's for the caption (Infinity). */
  edit(params: EditRequest | BitEditRequest): Promise<EditResult | BitEditResult>;
  /** The checkpoint's training hit counts, when it carries them. */
  trainingUsage(params: Record<string, never>): Promise<CodebookUsage | null>;
  /** Time one generation of a class and one teacher-forced pass (on the panel's image, else the sample) per scale. */
  profile(params: { classId: number; repeats: number }): Promise<ScaleProfile>;
  /** Save a file the user exports (asks where; never overwrites without asking). Returns the path or null if cancelled. */
  saveExport(params: { suggestedName: string; mime: (typeof SAVE_MIMES)[number]; data: Uint8Array | string }): Promise<string | null>;
  /** Persist panel state (also kept by the webview itself). */
  saveState(params: PanelState): Promise<void>;
  /** Run a contributed command (e.g. varscope.chooseModel) from a button in the panel. */
  runCommand(params: { command: (typeof PANEL_COMMANDS)[number] }): Promise<void>;
  /** Open an image file in the inspector with a model bundle (a row of the Dataset view's worst images). */
  openImage(params: { file: string; model: string }): Promise<void>;
}

/** One model of a comparison: its tokens of the image and its teacher-forced evaluation with its null class. */
export interface ComparedModel {
  model: ModelInfo;
  inspect: InspectResult;
  evaluation: EvalResult;
}

/** Events the host pushes to the webview. */
export interface HostEvents {
  init: InitPayload;
  /** The model changed (chosen in the picker) or its provider changed. */
  model: { model: AnyModelInfo | null; modelError?: { code: string; message: string } };
  generationStep: AnyGenerationStep;
  /** Progress of a long run (folder statistics, comparison, a sampling grid's samples). */
  progress: { runId: string; done: number; total: number; message?: string };
  /** Folder codebook statistics (an Infinity model's: bit usage), streamed. */
  folderUsage: { runId: string; usage: AnyUsage; done: number; total: number; finished: boolean };
  /**
   * A comparison of models on the same image finished: the panel's model first (A), then the others (B, C, …) in
   * the order chosen. Each entry holds that model's tokenization of the image and its teacher-forced evaluation of
   * its own tokens with no class (its null class: checkpoints of one run share a tokenizer, so their tokens agree
   * and the accuracy is what tells them apart).
   */
  comparison: { models: ComparedModel[] };
  /** Folder evaluations for the Dataset view: a new result (replace) or one more checkpoint of a run (append). */
  dataset: { evaluations: AnyDatasetEvaluation[]; mode: 'replace' | 'append' };
  /** Something failed outside a request (shown in place). */
  error: { code: string; message: string };
  /** Ask the webview to export the current view. */
  exportView: { format: ExportFormat };
}

/** Events the webview emits. */
export interface WebviewEvents {
  ready: Record<string, never>;
}

/** The host's end of the panel channel: it serves HostApi and pushes HostEvents. */
export type HostSide = Side<HostApi, HostEvents>;

/** The webview's end: it serves nothing and emits WebviewEvents. */
export type WebviewSide = Side<Nothing, WebviewEvents>;
