/** What the panel asks of the host: every request goes through here and lands in the store, never in a view directly. */
import type { DatasetEvaluation } from '../shared/evaluation';
import { orderByStep } from '../shared/timeline';
import type { EditRequest, HostEvents } from '../shared/protocol';
import type { HostCalls } from './hostBridge';
import type { RpcChannel } from '../shared/rpc';
import type { CodebookUsage, GenerationSettings, GenerationStep } from '../shared/results';
import { applyInit, withModelSampling, type Store } from './store';

type Host = RpcChannel<HostCalls>;

// Latest-wins: a reply is applied only if no newer request of the same kind started since (e.g. the model changed).
const latest = new Map<string, number>();
let nextTicket = 1;
function ticket(kind: string): () => boolean {
  const t = nextTicket++;
  latest.set(kind, t);
  return () => latest.get(kind) === t;
}

/** Tokenize the panel image. */
export async function loadInspect(store: Store, host: Host): Promise<void> {
  const current = ticket('inspect');
  store.update({ inspect: { status: 'loading' } });
  try {
    const value = await host.call('inspect', {});
    if (current()) store.update({ inspect: { status: 'ready', value } });
  } catch (e) {
    if (!current()) return;
    store.update({ inspect: { status: 'error', error: asError(e) } });
    store.pushError('inspect', e);
  }
}

/** Teacher-forced evaluation for a class. */
export async function loadEvaluation(store: Store, host: Host, classId: number): Promise<void> {
  const current = ticket('evaluate');
  store.update({ evaluation: { status: 'loading' } });
  try {
    const value = await host.call('evaluate', { classId });
    if (current()) store.update({ evaluation: { status: 'ready', value } });
  } catch (e) {
    if (!current()) return;
    store.update({ evaluation: { status: 'error', error: asError(e) } });
    store.pushError('evaluate', e);
  }
}

/** Attention weights of a layer / head. */
export async function loadAttention(store: Store, host: Host, layer: number, head: number | 'mean'): Promise<void> {
  const classId = store.state.panel.evalClass ?? store.state.generation.settings.classId;
  const current = ticket('attention');
  store.update((s) => ({ attention: { status: 'loading' }, panel: { ...s.panel, attention: { layer, head } } }));
  try {
    const value = await host.call('attention', { classId, layer, head });
    if (current()) store.update({ attention: { status: 'ready', value } });
  } catch (e) {
    if (!current()) return;
    store.update({ attention: { status: 'error', error: asError(e) } });
    store.pushError('attention', e);
  }
}

/** The checkpoint's training hit counts. */
export async function loadTrainingUsage(store: Store, host: Host): Promise<void> {
  const current = ticket('trainingUsage');
  store.update({ trainingUsage: { status: 'loading' } });
  try {
    const value = await host.call('trainingUsage', {});
    if (current()) store.update({ trainingUsage: { status: 'ready', value } });
  } catch (e) {
    if (!current()) return;
    store.update({ trainingUsage: { status: 'error', error: asError(e) } });
    store.pushError('trainingUsage', e);
  }
}

/** Start a new generation run (cancelling the previous one) and compute its first step. */
export async function startGeneration(store: Store, host: Host, settings: GenerationSettings): Promise<void> {
  const old = store.state.generation.runId;
  if (old) void host.call('generationCancel', { runId: old }).catch(() => undefined);
  store.update((s) => ({
    generation: { ...s.generation, settings, runId: null, steps: [], cursor: -1, playing: false, status: 'loading', error: undefined },
    panel: { ...s.panel, generation: settings },
  }));
  try {
    const { runId } = await host.call('generationStart', { settings });
    store.update((s) => ({ generation: { ...s.generation, runId, status: 'ready' } }));
    await stepGeneration(store, host);
  } catch (e) {
    failGeneration(store, e);
  }
}

/** Show the next step: from the steps already computed, or ask the host for it. Returns false at the end. */
export async function stepGeneration(store: Store, host: Host, toScale?: number): Promise<boolean> {
  const g = store.state.generation;
  const last = (store.state.model?.patchNums.length ?? 0) - 1;
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
export function acceptStep(store: Store, step: GenerationStep): void {
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

/** Apply the what-if edit. */
export async function applyEdit(store: Store, host: Host, tokens: number[] | 'resample'): Promise<void> {
  const e = store.state.edit;
  const req: EditRequest = { scaleIndex: e.scaleIndex, positions: e.positions, tokens, settings: store.state.generation.settings };
  const current = ticket('edit');
  store.update((s) => ({ edit: { ...s.edit, result: { status: 'loading' } } }));
  try {
    const value = await host.call('edit', req);
    if (current()) store.update((s) => ({ edit: { ...s.edit, result: { status: 'ready', value } } }));
  } catch (err) {
    if (!current()) return;
    store.update((s) => ({ edit: { ...s.edit, result: { status: 'error', error: asError(err) } } }));
    store.pushError('edit', err);
  }
}

/** Route the host's events into the store; `onInit` runs after `init` and after every model change. */
export function bindHostEvents(store: Store, host: Host, onInit: () => void): Array<() => void> {
  return [
    host.on('init', (p) => {
      store.update((s) => applyInit(s, p as HostEvents['init']));
      onInit();
    }),
    host.on('model', (p) => {
      const m = p as HostEvents['model'];
      const changed = m.model?.id !== store.state.model?.id || m.model?.dir !== store.state.model?.dir;
      if (!changed) {
        store.update({ model: m.model, modelError: m.modelError }); // e.g. only the provider changed
        return;
      }
      const run = store.state.generation.runId;
      if (run) void host.call('generationCancel', { runId: run }).catch(() => undefined);
      // Results of the old model no longer describe this one: drop them and ask again; the sampler starts from the
      // new model's recommended settings.
      store.update((s) => ({
        model: m.model, modelError: m.modelError,
        inspect: { status: 'idle' }, evaluation: { status: 'idle' }, attention: { status: 'idle' }, trainingUsage: { status: 'idle' },
        comparison: null, folderUsage: null, hover: null, selectedCode: null,
        edit: { ...s.edit, positions: [], result: { status: 'idle' } },
        generation: withModelSampling({ ...s.generation, runId: null, steps: [], cursor: -1, playing: false, status: 'idle' }, m.model),
      }));
      onInit();
    }),
    host.on('generationStep', (p) => acceptStep(store, p as GenerationStep)),
    host.on('progress', (p) => store.update({ progress: p as HostEvents['progress'] })),
    host.on('folderUsage', (p) => {
      const f = p as HostEvents['folderUsage'];
      const cur = store.state.folderUsage;
      // A new run replaces the old; within a run, a lower `done` is a late message.
      if (cur && cur.runId === f.runId && f.done < cur.done) return;
      store.update({ folderUsage: f });
    }),
    host.on('dataset', (p) => {
      const d = p as HostEvents['dataset'];
      const dataset = orderByStep(d.mode === 'append' ? [...store.state.dataset, ...d.evaluations] : d.evaluations);
      // The newest evaluation's counts are also the Codebook view's folder usage (one pass serves both).
      const last = d.evaluations[d.evaluations.length - 1];
      store.update((s) => ({ dataset, view: 'dataset', panel: { ...s.panel, view: 'dataset' }, folderUsage: last ? { runId: `dataset-${last.model.id}-${last.elapsedMs}`, usage: usageOfEvaluation(last), done: last.images, total: last.images, finished: true } : s.folderUsage }));
    }),
    host.on('comparison', (p) => store.update({ comparison: p as HostEvents['comparison'] })),
    host.on('error', (p) => store.pushError('host', p)),
  ];
}

function asError(e: unknown): { code: string; message: string } {
  const x = e as { code?: string; message?: string };
  return { code: typeof x?.code === 'string' ? x.code : 'Internal', message: typeof x?.message === 'string' ? x.message : String(e) };
}

/** Typed re-export for views that build requests. */
export type { EditRequest };

/** Step on every `intervalMs` while `generation.playing` stays true and scales remain. */
export async function playGeneration(store: Store, host: Host, intervalMs = 500): Promise<void> {
  store.update((s) => ({ generation: { ...s.generation, playing: true } }));
  while (store.state.generation.playing) {
    const more = await stepGeneration(store, host);
    if (!more || store.state.generation.cursor >= (store.state.model?.patchNums.length ?? 0) - 1) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  store.update((s) => ({ generation: { ...s.generation, playing: false } }));
}

/** The codebook usage of a folder evaluation, as the Codebook view reads it. */
export function usageOfEvaluation(ev: DatasetEvaluation): CodebookUsage {
  const perScale = ev.usage.counts.map((c) => Float64Array.from(c));
  const overall = new Float64Array(perScale[0]?.length ?? 0);
  for (const c of perScale) c.forEach((v, i) => (overall[i] += v));
  return { perScale, overall, used: ev.usage.used, perplexity: ev.usage.perplexity, perplexityPerScale: ev.scales.map((s) => s.perplexity), images: ev.images };
}
