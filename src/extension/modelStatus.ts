/**
 * The current model as the panels and the status bar see it, and each way it changes: a bundle's manifest read, the
 * model opened by the engine or failing to open, a graph's node placement learnt, a bundle refused. Pure functions of
 * the state: EngineHost holds it and fires the events.
 */
import * as path from 'path';
import type { EngineEvents } from '../shared/engineApi';
import { VarScopeError } from '../shared/errors';
import type { AnyModelInfo } from '../shared/results';
import type { BundleSummary } from './modelCatalog';

/** The state of the current model as the panel and status bar see it. */
export interface ModelStatus {
  /** Bundle folder, or null when there is none. */
  dir: string | null;
  /** Read from varscope.json without loading the graphs (null when unreadable or absent). */
  summary: BundleSummary | null;
  /** Present once the engine opened the model. */
  info: AnyModelInfo | null;
  /** Why `info` is null (not opened yet, or failed). */
  error?: { code: string; message: string };
}

/** No bundle at all. */
export function noModel(message = 'no model'): ModelStatus {
  return { dir: null, summary: null, info: null, error: { code: 'ModelNotFound', message } };
}

/** A bundle whose manifest was read; the engine opens it when a panel needs it. */
export function notOpened(dir: string, summary: BundleSummary): ModelStatus {
  return { dir, summary, info: null, error: { code: 'ModelLoad', message: `"${summary.name}" is not opened yet` } };
}

/** A bundle that cannot be used (unreadable manifest, refused in an untrusted workspace), and why. */
export function unusable(dir: string | null, reason: unknown): ModelStatus {
  const w = VarScopeError.toWire(reason);
  return { dir, summary: null, info: null, error: { code: w.code, message: w.message } };
}

/** Whether the engine should open `s`: a readable bundle not opened yet. */
export function needsOpening(s: ModelStatus): boolean {
  return !s.info && s.dir !== null && s.summary !== null;
}

/** `s` opened by the engine. */
export function opened(s: ModelStatus, info: AnyModelInfo): ModelStatus {
  return { ...s, info, error: undefined };
}

/** `s` after the engine failed to open it. */
export function openFailed(s: ModelStatus, reason: unknown): ModelStatus {
  const w = VarScopeError.toWire(reason);
  return { ...s, info: null, error: { code: w.code, message: w.message } };
}

/** `s` with a graph's node placement when the event is about the VAR model `s` opened; else `s` itself. */
export function withPlacement(s: ModelStatus, p: EngineEvents['nodePlacement']): ModelStatus {
  if (s.info?.family !== 'var' || !s.dir || path.resolve(s.dir) !== p.model) return s;
  return { ...s, info: { ...s.info, nodePlacement: { ...s.info.nodePlacement, [p.role]: p.placement } } };
}

/** The folder of the opened model; throws why it is not open (its error's code, ModelNotFound when it has none). */
export function openedDir(s: ModelStatus): string {
  if (!s.info || !s.dir)
    throw new VarScopeError((s.error?.code as VarScopeError['code']) ?? 'ModelNotFound', s.error?.message ?? 'no model');
  return s.dir;
}
