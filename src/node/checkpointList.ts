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
import { isObject } from './manifestSchema';
import { MAX_MANIFEST_BYTES } from './readCapped';
import { stepFromName, trainingStep } from './trainingStep';

/** One checkpoint of a run: a bundle (of its family, from its manifest) or a PyTorch file (its family known once read). */
export type Checkpoint =
  { kind: 'bundle'; dir: string; step: number | null; family: ModelFamily } | { kind: 'needsExport'; file: string; step: number | null };

/** A bundle folder's checkpoint entry (its step from the manifest, else its name, and its family). */
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
  return { kind: 'bundle', dir: fs.realpathSync(dir), step: trainingStep(facts, dir).step, family }; // real path: a bundle's graphs may be named relative to it (../other/x.onnx)
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
