/** The webview's one store: everything the views draw, updated immutably so views can compare by reference. */
import { OFFICIAL_SAMPLING, type ModelFamily } from '../shared/manifest';
import type { EditResult, HostEvents, InitPayload, PanelState, ViewId } from '../shared/protocol';
import { nearestSchedule } from '../shared/modelFamily';
import type {
  AnyGenerationStep,
  BitSamplingForm,
  AnyModelInfo,
  AttentionResult,
  BitsEvalResult,
  BitsInspectResult,
  BitsModelInfo,
  CodebookUsage,
  EvalResult,
  GenerationSettings,
  InspectResult,
  ModelInfo,
  ScaleProfile,
} from '../shared/results';
import type { BitsDatasetEvaluation, DatasetEvaluation, FreeRunMode } from '../shared/evaluation';
import type { AnySamplingGridResult } from '../shared/bitSamplingGrid';
import type { BitEditResult } from '../shared/bitEdit';
import type { TokenRef } from './geometry/scales';

/** A value fetched from the host. */
export interface Loadable<T> {
  status: 'idle' | 'loading' | 'ready' | 'error';
  value?: T;
  error?: { code: string; message: string };
}

/** An error shown in place in the panel. */
export interface ShownError {
  id: number;
  source: string;
  code: string;
  message: string;
}

/** The step-through generation. */
export interface GenerationState {
  settings: GenerationSettings;
  /** An Infinity model's sampler settings (null while the model is VAR's). */
  bitSettings: BitSamplingForm | null;
  runId: string | null;
  /** The run's steps: VAR's or Infinity's, as the model's family (a model change drops them). */
  steps: AnyGenerationStep[];
  /** Index into `steps` of the step on screen (-1 = none yet). */
  cursor: number;
  playing: boolean;
  status: Loadable<unknown>['status'];
  error?: { code: string; message: string };
}

/** The Sampling view's grid run: running (its samples done of total, from the host's `progress`), or cancelled. */
export interface SamplingRun {
  runId: string;
  done: number;
  total: number;
  state: 'running' | 'cancelled';
}

/** The what-if edit: the cells chosen at one scale and the result of the last edit. */
export interface EditState {
  scaleIndex: number;
  positions: number[];
  tokenId: number;
  /** The last edit, of the model's family. */
  result: Loadable<EditResult | BitEditResult>;
}

/** Everything the panel shows. */
export interface InspectorState {
  initialised: boolean;
  imageName: string | null;
  imageSrc: string | null;
  /** The current model's family ('var' while there is none): which tabs show (main.ts's view registry). */
  family: ModelFamily;
  /** The current VAR model (null for none or an Infinity model). */
  model: ModelInfo | null;
  /** The current Infinity model (null for none or a VAR model). */
  bitsModel: BitsModelInfo | null;
  modelError?: { code: string; message: string };
  panel: PanelState;
  view: ViewId;
  /** The panel image's tokens (VAR model). */
  inspect: Loadable<InspectResult>;
  /** The panel image's bits per scale (Infinity model). */
  bitsInspect: Loadable<BitsInspectResult>;
  evaluation: Loadable<EvalResult>;
  /** Teacher-forced bit and token accuracy of the panel image for the caption (Infinity model). */
  bitsEvaluation: Loadable<BitsEvalResult>;
  /** The features file found beside the image (the default caption, `panel.caption` holds the one in use). */
  captionBesideImage: string | null;
  attention: Loadable<AttentionResult>;
  trainingUsage: Loadable<CodebookUsage | null>;
  /** The Profile view's measurement. */
  profile: Loadable<ScaleProfile>;
  folderUsage: HostEvents['folderUsage'] | null;
  /** The folder count this panel started and that has not ended (its run id), else null. */
  folderRun: string | null;
  comparison: HostEvents['comparison'] | null;
  /** Folder evaluations shown in the Dataset view, ordered by training step (several = a run's timeline). */
  dataset: DatasetEvaluation[];
  /** Folder evaluations of Infinity models shown in their Dataset view, ordered by training step (several = a run's timeline). */
  bitsDataset: BitsDatasetEvaluation[];
  generation: GenerationState;
  /** Which half of the step-through view shows: sampling a new image, or teacher-forced on the open one. */
  stepMode: 'generate' | 'teacher';
  edit: EditState;
  /** The last sampling grid, of the model's family (each family's Sampling view shows its own). */
  samplingGrid: Loadable<AnySamplingGridResult>;
  /** The latest grid run, while it runs and after it was cancelled (null once a grid finished). */
  samplingRun: SamplingRun | null;
  /** The token under the pointer anywhere (linked highlight). */
  hover: TokenRef | null;
  /** Code clicked: every place it occurs is marked. */
  selectedCode: number | null;
  /** Scale with keyboard focus (arrow keys). */
  focusScale: number;
  colorBy: 'embedding' | 'id';
  /** Which counts the codebook view shows. */
  codebookSource: 'image' | 'folder' | 'training';
  /** Which continuations the Dataset view's free-running curves show. */
  freeRunMode: FreeRunMode;
  /** Bumped when the theme changes so canvases redraw with the new colours. */
  themeVersion: number;
  errors: ShownError[];
  progress: HostEvents['progress'] | null;
}

/** Default sampling settings (the official sampler's defaults). */
export const defaultGenerationSettings: GenerationSettings = { classId: 0, seed: 0, ...OFFICIAL_SAMPLING };

/** The state before the host's `init`. */
export function initialState(): InspectorState {
  return {
    initialised: false,
    imageName: null,
    imageSrc: null,
    family: 'var',
    model: null,
    bitsModel: null,
    panel: { imageUri: null },
    view: 'pyramid',
    inspect: { status: 'idle' },
    bitsInspect: { status: 'idle' },
    evaluation: { status: 'idle' },
    bitsEvaluation: { status: 'idle' },
    captionBesideImage: null,
    attention: { status: 'idle' },
    trainingUsage: { status: 'idle' },
    profile: { status: 'idle' },
    folderUsage: null,
    folderRun: null,
    dataset: [],
    bitsDataset: [],
    comparison: null,
    generation: {
      settings: defaultGenerationSettings,
      bitSettings: null,
      runId: null,
      steps: [],
      cursor: -1,
      playing: false,
      status: 'idle',
    },
    stepMode: 'generate',
    edit: { scaleIndex: 0, positions: [], tokenId: 0, result: { status: 'idle' } },
    samplingGrid: { status: 'idle' },
    samplingRun: null,
    hover: null,
    selectedCode: null,
    focusScale: 0,
    colorBy: 'embedding',
    codebookSource: 'image',
    freeRunMode: 'sampled',
    themeVersion: 0,
    errors: [],
    progress: null,
  };
}

/** The store's model fields for a model of either family: the one place the panel narrows a model on its family. */
export function modelFields(info: AnyModelInfo | null): Pick<InspectorState, 'family' | 'model' | 'bitsModel'> {
  if (info?.family === 'infinity') return { family: 'infinity', model: null, bitsModel: info };
  return { family: 'var', model: info, bitsModel: null };
}

/** State after the host's `init` payload. */
export function applyInit(s: InspectorState, init: InitPayload): InspectorState {
  const state = init.state ?? { imageUri: null };
  const beside = init.captionBesideImage ?? null;
  // The caption chosen before a reload stays; else the features beside the image, when there are some.
  const panel = state.caption || !beside ? state : { ...state, caption: { featuresFile: beside } };
  return {
    ...s,
    initialised: true,
    imageName: init.imageName,
    imageSrc: init.imageSrc,
    captionBesideImage: beside,
    ...modelFields(init.model),
    modelError: init.modelError,
    panel,
    // A panel without an image (generation only) opens on the step-through view.
    view: panel.view ?? (panel.imageUri ? s.view : 'stepThrough'),
    generation: withSavedBitSampling(
      withModelSampling(
        panel.generation ? { ...s.generation, settings: panel.generation } : s.generation,
        modelFields(init.model),
        !panel.generation,
      ),
      modelFields(init.model).bitsModel,
      panel.bitGeneration,
    ),
  };
}

/** An Infinity model's form as saved before a reload, when its lists still fit the schedule of its ratio. */
function withSavedBitSampling(g: GenerationState, m: BitsModelInfo | null, saved: BitSamplingForm | undefined): GenerationState {
  if (!m || !saved) return g;
  const K = nearestSchedule(m.schedules, saved.hDivW ?? m.schedules[0].hDivW).scales.length;
  return saved.cfgList.length === K && saved.tauList.length === K ? { ...g, bitSettings: saved } : g;
}

/**
 * Before any run, the sampler settings follow the model's recommended sampling (class and seed stay; `var`: false
 * keeps VAR's settings as given); an Infinity model's follow its first schedule.
 */
export function withModelSampling(
  g: InspectorState['generation'],
  models: { model: ModelInfo | null; bitsModel: BitsModelInfo | null },
  varSettings = true,
): InspectorState['generation'] {
  if (g.runId) return g;
  const { model, bitsModel } = models;
  return {
    ...g,
    settings: model && varSettings ? { ...g.settings, ...model.sampling } : g.settings,
    bitSettings: bitsModel ? bitSamplingOf(bitsModel, bitsModel.schedules[0].hDivW, g.bitSettings?.seed ?? 0) : null,
  };
}

/** An Infinity model's recommended sampling at the schedule of h / w: its CFG and tau at every scale. */
export function bitSamplingOf(m: BitsModelInfo, hDivW: number, seed: number): BitSamplingForm {
  const K = nearestSchedule(m.schedules, hDivW).scales.length;
  const { cfg, tau, topK, topP } = m.sampling;
  return { hDivW, seed, cfgList: new Array<number>(K).fill(cfg), tauList: new Array<number>(K).fill(tau), topK, topP };
}

/** Scales of the current model's generation (an Infinity model: of the schedule of `hDivW`, default its settings'). */
export function generationScales(st: InspectorState, hDivW = st.generation.bitSettings?.hDivW): number {
  const m = st.bitsModel;
  if (!m) return st.model?.patchNums.length ?? 0;
  return nearestSchedule(m.schedules, hDivW ?? m.schedules[0].hDivW).scales.length;
}

type Listener = (state: InspectorState, prev: InspectorState) => void;

/** A minimal observable store; listeners run synchronously so a hover highlights within the same frame. */
export class Store {
  private current: InspectorState;
  private readonly listeners = new Set<Listener>();
  private nextErrorId = 1;

  constructor(initial: InspectorState = initialState()) {
    this.current = initial;
  }

  /** The current state (never mutate it). */
  get state(): InspectorState {
    return this.current;
  }

  /** Replace part of the state and notify listeners. */
  update(patch: Partial<InspectorState> | ((s: InspectorState) => Partial<InspectorState>)): void {
    const prev = this.current;
    const p = typeof patch === 'function' ? patch(prev) : patch;
    this.current = { ...prev, ...p };
    for (const l of [...this.listeners]) l(this.current, prev);
  }

  /** Show an error in place. */
  pushError(source: string, e: unknown): void {
    const err = e as { code?: string; message?: string };
    const code = typeof err?.code === 'string' ? err.code : 'Internal';
    if (code === 'Cancelled') return; // cancellations are the user's own doing: stay silent
    const message = typeof err?.message === 'string' ? err.message : String(e);
    this.update((s) => ({ errors: [...s.errors, { id: this.nextErrorId++, source, code, message }] }));
  }

  /** Listen to every change; returns an unsubscribe function. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** The members of a union of both families' results that belong to `F`. */
export type OfFamily<V, F extends ModelFamily> = Extract<V, F extends 'infinity' ? { family: 'infinity' } : { family?: 'var' }>;

/**
 * A slot holding either family's result as one family's view sees it (the Sampling grid, the What-if edit): a result
 * of the other family (the model changed) is none.
 */
export function ofFamily<V extends { family?: ModelFamily }, F extends ModelFamily>(l: Loadable<V>, family: F): Loadable<OfFamily<V, F>> {
  const v = l.value;
  const own = v && (v.family === 'infinity') === (family === 'infinity') ? (v as OfFamily<V, F>) : undefined;
  if (own || l.status !== 'ready') return { ...l, value: own };
  return { status: 'idle' };
}
