/**
 * The checkpoints of a training run, for the timeline and watch mode: model bundles (a folder holding
 * varscope.json), found in a folder of bundles or given one by one, each with its training step. PyTorch checkpoints
 * (`.pth`, e.g. the official trainer's `ar-ckpt-*.pth`) are listed too, as `needsExport`: each becomes a bundle only
 * while it is evaluated (src/client/checkpointBundler.ts: from its architecture template when one fits).
 */
import * as fs from 'fs';
import * as path from 'path';
import { oneLine, VarScopeError } from '../shared/errors';
import type { ModelFamily } from '../shared/manifest';
import type { TimelineShape } from '../shared/timeline';
import { readCheckpoint } from './checkpoint';
import { isObject } from './manifestSchema';
import { MAX_MANIFEST_BYTES } from './readCapped';
import { stepFromName, trainingStep } from './trainingStep';

/** One checkpoint of a run: a bundle (of its family, from its manifest) or a PyTorch file (its family known once read). */
export type Checkpoint =
  | { kind: 'bundle'; dir: string; step: number | null; family: ModelFamily; shape: TimelineShape }
  | { kind: 'needsExport'; file: string; step: number | null };

/** A bundle folder's checkpoint entry (its step from the manifest, else its name; its family and shape). */
export function bundleCheckpoint(dir: string): Checkpoint {
  const file = path.join(dir, 'varscope.json');
  let manifest: unknown;
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_MANIFEST_BYTES) throw new Error(`${size} bytes, more than the ${MAX_MANIFEST_BYTES} bytes allowed (manifest)`);
    manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new VarScopeError('ModelLoad', `${file}: ${(e as NodeJS.ErrnoException).code ?? oneLine((e as Error).message)}`);
  }
  // Only the step is read here (the engine checks the whole manifest when it opens the bundle).
  const facts = isObject(manifest) && Object.hasOwn(manifest, 'provenance') ? { provenance: manifest.provenance } : {};
  const family: ModelFamily = isObject(manifest) && manifest.family === 'infinity' ? 'infinity' : 'var';
  const real = fs.realpathSync(dir); // real path: a bundle's graphs may be named relative to it (../other/x.onnx)
  return { kind: 'bundle', dir: real, step: trainingStep(facts, dir).step, family, shape: manifestShape(manifest, family, real) };
}

/** What a timeline's bundles must share, from the manifest (unchecked JSON: what is not there is not compared). */
function manifestShape(manifest: unknown, family: ModelFamily, dir: string): TimelineShape {
  const m = isObject(manifest) ? manifest : {};
  const list = (v: unknown): unknown[] | undefined => (Array.isArray(v) ? v : undefined);
  if (family === 'infinity') {
    const ids = list(m.schedules)?.map((s) => (isObject(s) ? s.id : undefined));
    return {
      name: dir,
      family,
      bits: typeof m.bits === 'number' ? m.bits : undefined,
      schedule: ids?.every((id) => typeof id === 'string') ? ids.join(',') : undefined,
    };
  }
  const pns = list(m.patchNums);
  return { name: dir, family, schedule: pns?.every((pn) => typeof pn === 'number') ? pns.map((pn) => `${pn}×${pn}`).join(',') : undefined };
}

/** Checkpoints in a folder: the folder itself when it is a bundle, else its sub-folders that are bundles and its .pth files. */
export function listCheckpoints(folder: string): Checkpoint[] {
  if (fs.existsSync(path.join(folder, 'varscope.json'))) return [bundleCheckpoint(folder)];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(folder, { withFileTypes: true });
  } catch (e) {
    throw new VarScopeError('BadRequest', `cannot read folder ${folder}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const out: Checkpoint[] = [];
  for (const e of entries) {
    const p = path.join(folder, e.name);
    if ((e.isDirectory() || e.isSymbolicLink()) && fs.existsSync(path.join(p, 'varscope.json'))) out.push(bundleCheckpoint(p));
    else if (e.isFile() && /\.pth$/i.test(e.name)) out.push({ kind: 'needsExport', file: path.resolve(p), step: stepFromName(e.name) });
  }
  return sortCheckpoints(out);
}

/** By step (unknown last), then by path. */
export function sortCheckpoints(list: Checkpoint[]): Checkpoint[] {
  const where = (c: Checkpoint) => (c.kind === 'bundle' ? c.dir : c.file);
  return [...list].sort((a, b) => (a.step ?? Infinity) - (b.step ?? Infinity) || (where(a) < where(b) ? -1 : 1));
}

/**
 * The family of a run's checkpoints, for the questions asked before they are evaluated (classes or captions): the
 * first bundle's, else the first PyTorch file's that the TypeScript reader reads; undefined when none says.
 */
export async function runFamily(list: Checkpoint[]): Promise<ModelFamily | undefined> {
  const bundle = list.find((c) => c.kind === 'bundle');
  if (bundle?.kind === 'bundle') return bundle.family;
  for (const c of list) {
    if (c.kind !== 'needsExport') continue;
    try {
      const read = await readCheckpoint(c.file);
      await read.close();
      return read.family;
    } catch {
      // unreadable here (Python reads it when it is evaluated): the next one may say
    }
  }
  return undefined;
}
