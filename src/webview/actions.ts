/** What the panel asks of the host: every request goes through here and lands in the store, never in a view directly. */
import type { TextCondition } from '../shared/textCondition';
import type { HostApi } from '../shared/protocol';
import type { Params, Result } from '../shared/rpc';
import type { AnyGenerationSettings, AnyGenerationStep, CodebookUsage } from '../shared/results';
import { bitSamplingSettingsError, samplingSettingsError } from '../shared/samplingBounds';
import type { AnySamplingGridRequest, AnySamplingGridResult } from '../shared/bitSamplingGrid';
import type { TokenRef } from './geometry/scales';
import type { HostChannel } from './hostBridge';
import { applyInit, generationScales, modelFields, withModelSampling, type InspectorState, type Loadable, type Store } from './store';
import type { DatasetEvaluation } from '../shared/evaluation';
import { orderByStep } from '../shared/timeline';

type Host = HostChannel;

/** Folder counts cancelled with their model: their late events are dropped. */
const cancelledFolderRuns = new Set<string>();

// Latest-wins: a reply is applied only if no newer request of the same kind started since (e.g. the model changed).
const latest = new Map<string, number>();
let nextTicket = 1;
function ticket(kind: string): () => boolean {
  const t = nextTicket++;
  latest.set(kind, t);
  return () => latest.get(kind) === t;
}

/** The requests whose reply is a Loadable in the store, and where in the store each lands. */
type Loaded = 'inspect' | 'evaluate' | 'evaluateBits' | 'attention' | 'trainingUsage' | 'edit' | 'profile';
const SLOTS: { [M in Loaded]: (s: InspectorState, l: Loadable<Result<HostApi[M]>>) => Partial<InspectorState> } = {
  // The one place an inspection is narrowed on its family: each family's views read their own slot.
  inspect: (_s, l) => {
    const { value, ...status } = l; // loading or failed: both slots say so
    if (!value) return { inspect: status, bitsInspect: status };
    return value.family === 'infinity'
      ? { bitsInspect: { ...status, value }, inspect: { status: 'idle' } }
      : { inspect: { ...status, value }, bitsInspect: { status: 'idle' } };
  },
  evaluate: (_s, l) => ({ evaluation: l }),
  evaluateBits: (_s, l) => ({ bitsEvaluation: l }),
  attention: (_s, l) => ({ attention: l }),
  trainingUsage: (_s, l) => ({ trainingUsage: l }),
  profile: (_s, l) => ({ profile: l }),
  edit: (s, l) => ({ edit: { ...s.edit, result: l } }),
};

/**
 * Ask the host for `method` and keep the answer in its store slot: loading, then ready or error (also shown in
 * place). `andThen` adds to the loading update (e.g. the panel state that asked). A reply is applied only while no
 * newer request of the same method started since (e.g. the model changed: latest wins).
 */
export async function load<M extends Loaded>(
  store: Store,
  host: Host,
  method: M,
  params: Params<HostApi[M]>,
  andThen?: (s: InspectorState) => Partial<InspectorState>,
): Promise<void> {
  const current = ticket(method);
  const put =
    (l: Loadable<Result<HostApi[M]>>) =>
    (s: InspectorState): Partial<InspectorState> =>
      SLOTS[method](s, l);
  store.update((s) => ({ ...put({ status: 'loading' })(s), ...andThen?.(s) }));
  try {
    const value = await host.call(method, params);
    if (current()) store.update(put({ status: 'ready', value }));
  } catch (e) {
    if (!current()) return;
    store.update(put({ status: 'error', error: asError(e) }));
    store.pushError(method, e);
  }
}

let gridRuns = 0;

/** A run id for a grid: the host refuses one of a run still going, and the time and a random part keep panels apart. */
function newGridRunId(): string {
  return `grid-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}-${++gridRuns}`;
}

/** The grid slot once no grid runs: the last result (kept through a cancel), or nothing yet. */
const settledGrid = (value: AnySamplingGridResult | undefined): Loadable<AnySamplingGridResult> =>
  value ? { status: 'ready', value } : { status: 'idle' };

/** The panel's progress line without the run `runId` (it ended). */
const withoutProgress = (s: InspectorState, runId: string): Partial<InspectorState> =>
  s.progress?.runId === runId ? { progress: null } : {};

/**
 * Sample a grid as a run of this panel: its samples done arrive as `progress` events (`samplingRun`), and
 * `cancelSamplingGrid` stops it. The previous result stays in the slot while it runs, and after a cancel or a failure.
 */
export async function runSamplingGrid(store: Store, host: Host, request: AnySamplingGridRequest): Promise<void> {
  if (store.state.samplingRun?.state === 'running') return; // one grid at a time (the view disables its buttons)
  const runId = newGridRunId();
  const total = request.settings.length * (request.family === 'infinity' ? 1 : request.classes.length) * request.samples;
  store.update((s) => ({
    samplingGrid: { status: 'loading', value: s.samplingGrid.value },
    samplingRun: { runId, done: 0, total, state: 'running' },
  }));
  // Cancelled here (or a newer grid started): whatever the host answers afterwards is stale.
  const current = () => store.state.samplingRun?.runId === runId && store.state.samplingRun.state === 'running';
  try {
    const value = await host.call('samplingGrid', { ...request, runId });
    if (current()) store.update((s) => ({ samplingGrid: { status: 'ready', value }, samplingRun: null, ...withoutProgress(s, runId) }));
  } catch (e) {
    if (!current()) return;
    const error = asError(e);
    if (error.code === 'Cancelled') {
      // Stopped by the host (e.g. the engine was stopped): as a cancel here.
      store.update((s) => ({
        samplingGrid: settledGrid(s.samplingGrid.value),
        samplingRun: { ...s.samplingRun!, state: 'cancelled' },
        ...withoutProgress(s, runId),
      }));
      return;
    }
    store.update((s) => ({
      samplingGrid: { status: 'error', error, value: s.samplingGrid.value },
      samplingRun: null,
      ...withoutProgress(s, runId),
    }));
    store.pushError('samplingGrid', e);
  }
}

/** Stop the running grid: the view says it was cancelled and keeps the previous result; the host stops the engine's run. */
export async function cancelSamplingGrid(store: Store, host: Host): Promise<void> {
  const run = store.state.samplingRun;
  if (run?.state !== 'running') return;
  store.update((s) => ({
    samplingGrid: settledGrid(s.samplingGrid.value),
    samplingRun: { ...run, state: 'cancelled' },
    ...withoutProgress(s, run.runId),
  }));
  await host.call('cancel', { runId: run.runId }).catch(() => undefined);
}

/** Start a new generation run (cancelling the previous one) and compute its first step. */
export async function startGeneration(store: Store, host: Host, settings: AnyGenerationSettings): Promise<void> {
  const problem =
    settings.family === 'infinity'
      ? bitSamplingSettingsError({ ...settings }, generationScales(store.state, settings.hDivW))
      : samplingSettingsError({ ...settings });
  if (problem) {
    // Refused in the panel, before the host: the run in progress (if any) stays as it was.
    store.update((s) => ({
      generation: { ...s.generation, status: 'error', playing: false, error: { code: 'BadRequest', message: problem } },
    }));
    return;
  }
  const old = store.state.generation.runId;
  if (old) void host.call('cancel', { runId: old }).catch(() => undefined);
  store.update((s) => {
    const fresh = { ...s.generation, runId: null, steps: [], cursor: -1, playing: false, status: 'loading' as const, error: undefined };
    if (settings.family !== 'infinity') return { generation: { ...fresh, settings }, panel: { ...s.panel, generation: settings } };
    const { family: _family, text: _text, ...form } = settings;
    return { generation: { ...fresh, bitSettings: form }, panel: { ...s.panel, bitGeneration: form } };
  });
  const current = ticket('generationStart');
  try {
    const { runId } = await host.call('generationStart', { settings });
    if (!current()) {
      // a newer start (or a model change) came while this one opened: its run is nobody's, so it is cancelled
      void host.call('cancel', { runId }).catch(() => undefined);
      return;
    }
    store.update((s) => ({ generation: { ...s.generation, runId, status: 'ready' } }));
    await stepGeneration(store, host);
  } catch (e) {
    if (current()) failGeneration(store, e);
  }
}

/** Show the next step: from the steps already computed, or ask the host for it. Returns false at the end. */
export async function stepGeneration(store: Store, host: Host, toScale?: number): Promise<boolean> {
  const g = store.state.generation;
  const last = generationScales(store.state) - 1;
  const target = toScale ?? g.cursor + 1;
  if (target > last || !g.runId) return false;
  if (target < g.steps.length) {
    store.update((s) => ({ generation: { ...s.generation, cursor: target }, focusScale: target }));
    return true;
  }
  store.update((s) => ({ generation: { ...s.generation, status: 'loading' } }));
  try {
    const step = await host.call('generationStep', { runId: g.runId, scaleIndex: target });
    acceptStep(store, step);
    store.update((s) => {
      const cursor = Math.min(target, s.generation.steps.length - 1);
      return { generation: { ...s.generation, status: 'ready', cursor }, focusScale: cursor };
    });
    return true;
  } catch (e) {
    failGeneration(store, e);
    return false;
  }
}

/** Store a streamed step of the current run; steps of other runs are stale and dropped. */
export function acceptStep(store: Store, step: AnyGenerationStep): void {
  const g = store.state.generation;
  if (step.runId !== g.runId) return;
  if (g.steps[step.scaleIndex]) return; // the event and the reply both carry it
  const steps = g.steps.slice();
  steps[step.scaleIndex] = step;
  store.update((s) => ({ generation: { ...s.generation, steps } }));
}

function failGeneration(store: Store, e: unknown): void {
  store.update((s) => ({ generation: { ...s.generation, status: 'error', playing: false, error: asError(e) } }));
  store.pushError('generation', e);
}

/** Route the host's events into the store; `onInit` runs after `init` and after every model change. */
export function bindHostEvents(store: Store, host: Host, onInit: () => void): Array<() => void> {
  return [
    host.on('init', (p) => {
      store.update((s) => applyInit(s, p));
      onInit();
    }),
    host.on('model', (m) => {
      const was = store.state.model ?? store.state.bitsModel;
      const changed = m.model?.id !== was?.id || m.model?.dir !== was?.dir;
      if (!changed) {
        store.update({ ...modelFields(m.model), modelError: m.modelError }); // e.g. only the provider changed
        return;
      }
      const run = store.state.generation.runId;
      if (run) void host.call('cancel', { runId: run }).catch(() => undefined);
      ticket('generationStart'); // a start still opening is the old model's: its run is cancelled when it replies
      const folderRun = store.state.folderRun;
      if (folderRun) {
        cancelledFolderRuns.add(folderRun); // its last counts may still come: they are the old model's
        void host.call('cancel', { runId: folderRun }).catch(() => undefined);
      }
      void cancelSamplingGrid(store, host);
      // Results of the old model no longer describe this one: drop them and ask again; the sampler starts from the
      // new model's recommended settings.
      const fields = modelFields(m.model);
      store.update((s) => ({
        ...fields,
        modelError: m.modelError,
        inspect: { status: 'idle' },
        bitsInspect: { status: 'idle' },
        evaluation: { status: 'idle' },
        bitsEvaluation: { status: 'idle' },
        attention: { status: 'idle' },
        trainingUsage: { status: 'idle' },
        profile: { status: 'idle' },
        comparison: null,
        folderUsage: null,
        folderRun: null,
        hover: null,
        selectedCode: null,
        edit: { ...s.edit, positions: [], result: { status: 'idle' } },
        generation: withModelSampling({ ...s.generation, runId: null, steps: [], cursor: -1, playing: false, status: 'idle' }, fields),
      }));
      onInit();
    }),
    host.on('generationStep', (p) => acceptStep(store, p)),
    host.on('progress', (p) => {
      const grid = store.state.samplingRun;
      if (grid?.runId !== p.runId) return store.update({ progress: p });
      // The running grid's samples done (a late, lower count is dropped); nothing more of a cancelled one.
      if (grid.state === 'running' && p.done >= grid.done)
        store.update({ progress: p, samplingRun: { ...grid, done: p.done, total: p.total } });
    }),
    host.on('folderUsage', (f) => {
      const cur = store.state.folderUsage;
      const running = store.state.folderRun;
      if (running && f.runId !== running) return; // a run cancelled for the one now running
      if (cancelledFolderRuns.has(f.runId)) return; // a run of a model no longer shown
      // A new run replaces the old; within a run, a lower `done` is a late message.
      if (cur && cur.runId === f.runId && f.done < cur.done) return;
      store.update({ folderUsage: f });
    }),
    host.on('dataset', (d) => {
      // An Infinity model's evaluations go to its own Dataset view (the view registry shows it for that family).
      const bits = d.evaluations.filter((e) => e.family === 'infinity');
      if (bits.length) {
        const bitsDataset = orderByStep(d.mode === 'append' ? [...store.state.bitsDataset, ...bits] : bits);
        store.update((s) => ({ bitsDataset, view: 'dataset', panel: { ...s.panel, view: 'dataset' } }));
        return;
      }
      const evaluations = d.evaluations.filter((e) => e.family !== 'infinity');
      const dataset = orderByStep(d.mode === 'append' ? [...store.state.dataset, ...evaluations] : evaluations);
      // The newest evaluation's counts are also the Codebook view's folder usage (one pass serves both).
      const last = evaluations[evaluations.length - 1];
      store.update((s) => ({
        dataset,
        view: 'dataset',
        panel: { ...s.panel, view: 'dataset' },
        folderUsage: last
          ? {
              runId: `dataset-${last.model.id}-${last.elapsedMs}`,
              usage: usageOfEvaluation(last),
              done: last.images,
              total: last.images,
              finished: true,
            }
          : s.folderUsage,
      }));
    }),
    host.on('comparison', (p) => store.update({ comparison: p })),
    host.on('error', (p) => store.pushError('host', p)),
  ];
}

function asError(e: unknown): { code: string; message: string } {
  const x = e as { code?: string; message?: string };
  return { code: typeof x?.code === 'string' ? x.code : 'Internal', message: typeof x?.message === 'string' ? x.message : String(e) };
}

/** Step on every `intervalMs` while `generation.playing` stays true and scales remain. */
export async function playGeneration(store: Store, host: Host, intervalMs = 500): Promise<void> {
  store.update((s) => ({ generation: { ...s.generation, playing: true } }));
  while (store.state.generation.playing) {
    const more = await stepGeneration(store, host);
    if (!more || store.state.generation.cursor >= generationScales(store.state) - 1) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  store.update((s) => ({ generation: { ...s.generation, playing: false } }));
}

/**
 * Condition the panel's Infinity views on `caption` (null: none): a different caption drops the evaluation made
 * with the old one, and the panel state keeps it across reloads.
 */
export function setCaption(store: Store, caption: TextCondition | null): void {
  const old = store.state.panel.caption;
  if (JSON.stringify(old ?? null) === JSON.stringify(caption)) return;
  latest.delete('evaluateBits'); // a reply for the old caption, still on its way, is stale
  store.update((s) => {
    const { caption: _old, ...rest } = s.panel;
    return { panel: caption ? { ...rest, caption } : rest, bitsEvaluation: { status: 'idle' } };
  });
}

/** Ask the host for a features file (its open dialog) and make it the caption; a cancelled dialog changes nothing. */
export async function chooseCaptionFile(store: Store, host: Host): Promise<void> {
  try {
    const file = await host.call('chooseTextFeatures', {});
    if (file) setCaption(store, { featuresFile: file });
  } catch (e) {
    store.pushError('chooseTextFeatures', e);
  }
}

let folderRuns = 0;

/**
 * Count the current model's codebook use over a folder the user picks (the host's dialog): the Codebook view shows
 * the folder's counts as they stream in (`folderUsage` events); a count still running is cancelled first.
 */
export async function countFolder(store: Store, host: Host): Promise<void> {
  let folder: string | null;
  try {
    folder = await host.call('chooseImageFolder', {});
  } catch (e) {
    store.pushError('chooseImageFolder', e);
    return;
  }
  if (!folder) return;
  const old = store.state.folderRun;
  if (old) void host.call('cancel', { runId: old }).catch(() => undefined);
  const runId = `folder-${Date.now().toString(36)}-${++folderRuns}`;
  store.update({ folderRun: runId, folderUsage: null, codebookSource: 'folder' });
  try {
    await host.call('folderUsage', { runId, folder });
  } catch (e) {
    store.pushError('folderUsage', e);
  } finally {
    if (store.state.folderRun === runId) store.update({ folderRun: null });
  }
}

/** Link the hovered token everywhere and focus its scale; a repeated report of the same token changes nothing. */
export function hoverToken(store: Store, t: TokenRef): void {
  const h = store.state.hover;
  if (h?.scaleIndex !== t.scaleIndex || h.position !== t.position) store.update({ hover: t, focusScale: t.scaleIndex });
}

/** The codebook usage of a folder evaluation, as the Codebook view reads it. */
export function usageOfEvaluation(ev: DatasetEvaluation): CodebookUsage {
  const perScale = ev.usage.counts.map((c) => Float64Array.from(c));
  const overall = new Float64Array(perScale[0]?.length ?? 0);
  for (const c of perScale) c.forEach((v, i) => (overall[i] += v));
  return {
    perScale,
    overall,
    used: ev.usage.used,
    perplexity: ev.usage.perplexity,
    perplexityPerScale: ev.scales.map((s) => s.perplexity),
    images: ev.images,
  };
}
