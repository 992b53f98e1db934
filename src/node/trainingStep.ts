/**
 * The training step of a checkpoint, for curves along a training run: the bundle's provenance
 * (`training.step`, else `training.epoch` and `training.iter` with `itersPerEpoch`), else the last number in
 * its folder or file name (`ar-ckpt-ep12-iter3400` -> 3400, `step_800` -> 800), else null.
 */
import * as path from 'path';

/** The step of a bundle (manifest provenance, else its folder name). */
export function trainingStep(manifest: { provenance?: unknown }, dir: string): { step: number | null; from: 'provenance' | 'name' | null } {
  const p = manifest.provenance; // unchecked JSON when listing checkpoints
  const t = p && typeof p === 'object' ? ((p as Record<string, unknown>).training as Record<string, unknown> | undefined) : undefined;
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const step = n(t?.step);
  if (step !== undefined) return { step, from: 'provenance' };
  const ep = n(t?.epoch);
  const it = n(t?.iter);
  const per = n(t?.itersPerEpoch);
  if (ep !== undefined && it !== undefined && per !== undefined) return { step: ep * per + it, from: 'provenance' };
  const fromName = stepFromName(path.basename(dir));
  return fromName === null ? { step: null, from: null } : { step: fromName, from: 'name' };
}

/** The last integer in a file or folder name (extension dropped), or null. */
export function stepFromName(name: string): number | null {
  const m = name.replace(/\.[a-z]+$/i, '').match(/(\d+)(?!.*\d)/);
  return m ? Number(m[1]) : null;
}

/**
 * The global iteration an Infinity trainer checkpoint was saved at (the official CKPTSaver's `g_it`, which names its
 * file ar-ckpt-giter<g_it / 1000>K-ep<epoch>-iter<iter>-last.pth): `epoch` × the iterations of an epoch + `iter`, the
 * epoch's length from the args' `cur_it` ("it/iters_train", set by train.py every iteration); in epoch 0 just `iter`.
 * Undefined when the file stores no position, or the epoch's length is needed and unknown.
 */
export function globalIteration(meta: { epoch?: number; iter?: number; args?: unknown }): number | undefined {
  if (meta.epoch === undefined || meta.iter === undefined) return undefined;
  if (meta.epoch === 0) return meta.iter;
  const curIt = meta.args && typeof meta.args === 'object' ? (meta.args as Record<string, unknown>).cur_it : undefined;
  const perEpoch = typeof curIt === 'string' ? /^\s*\d+\s*\/\s*(\d+)\s*$/.exec(curIt)?.[1] : undefined;
  return perEpoch === undefined || Number(perEpoch) === 0 ? undefined : meta.epoch * Number(perEpoch) + meta.iter;
}
