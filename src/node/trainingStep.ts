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
