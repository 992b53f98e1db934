/**
 * Where architecture templates are found and kept. A template is any bundle with a weight map (weightMap.json,
 * bundleTemplate.ts): the graphs of its architecture plus, for every region of its weight files, the checkpoint tensor
 * it holds. A checkpoint whose keys and shapes fit a template's map becomes a bundle without Python.
 *
 * Templates are looked for in folders of bundles (the template store, the checkpoint cache, templates shipped with the
 * extension). After a Python export the new bundle's template is kept in the store: its graphs, map and manifest, and
 * its weight files holding only the architecture's constants (written sparse, so a d16 template takes about 1 MB on
 * disk, not 1.7 GB).
 */
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { StateDict } from './checkpoint/types';
import { templateKeyOf } from './bundleTemplate';
import { checkpointMismatch, readWeightMap, WEIGHT_MAP_FILE, type CheckpointRole, type WeightMap } from './template/weightMap';

const MANIFEST = 'varscope.json';

/** The user's template store: $VARSCOPE_TEMPLATES, else $XDG_CACHE_HOME/varscope/templates, else ~/.cache/varscope/templates. */
export function templateStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VARSCOPE_TEMPLATES) return path.resolve(env.VARSCOPE_TEMPLATES);
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'varscope', 'templates');
}

/** A template that fits, or why none does. */
export type TemplateMatch = { dir: string; map: WeightMap } | { miss: string };

/** Parsed maps by folder, re-read when the map file changes. */
const maps = new Map<string, { mtimeMs: number; map: WeightMap }>();

function mapOf(dir: string): WeightMap | undefined {
  try {
    const mtimeMs = fs.statSync(path.join(dir, WEIGHT_MAP_FILE)).mtimeMs;
    const known = maps.get(dir);
    if (known?.mtimeMs === mtimeMs) return known.map;
    const map = readWeightMap(dir);
    maps.set(dir, { mtimeMs, map });
    return map;
  } catch {
    return undefined; // not a template (no map, or one this version cannot read)
  }
}

/** The template folders directly inside each of `folders`, in order. */
export function templatesIn(folders: string[]): string[] {
  const out: string[] = [];
  for (const folder of folders) {
    let names: string[];
    try {
      names = fs
        .readdirSync(folder, { withFileTypes: true })
        .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
        .map((d) => d.name)
        .sort();
    } catch {
      continue;
    }
    for (const n of names) if (templateKeyOf(path.join(folder, n))) out.push(path.join(folder, n));
  }
  return out;
}

/** The first template directly inside `folder` (the checkpoint cache, a models folder) for template key `key`. */
export function findTemplate(folder: string, key: string): string | undefined {
  return templatesIn([folder]).find((dir) => templateKeyOf(dir) === key);
}

/**
 * The first template in `folders` whose map the checkpoints fit (the same keys, shapes and element types), or the
 * reason none does: the mismatch with the template that shares the most keys with them.
 */
export function findMatchingTemplate(folders: string[], sources: Record<CheckpointRole, StateDict>): TemplateMatch {
  const dirs = templatesIn(folders);
  let closest: { shared: number; why: string } | undefined;
  for (const dir of dirs) {
    const map = mapOf(dir);
    if (!map) continue;
    const why = checkpointMismatch(map, sources);
    if (!why) return { dir, map };
    const shared = (['vae', 'var'] as const).reduce(
      (n, r) => n + Object.keys(map.checkpoints[r].required).filter((k) => sources[r].has(k)).length,
      0,
    );
    if (!closest || shared > closest.shared) closest = { shared, why };
  }
  if (!closest) return { miss: 'no architecture template yet' };
  return { miss: `no architecture template fits (${dirs.length} known; the closest: ${closest.why})` };
}

/**
 * Keeps the template of `bundleDir` in `store` (under its template key) unless one is there; returns its folder, or
 * undefined when the bundle is no template. Written into a temporary folder and renamed into place.
 */
export async function keepTemplate(bundleDir: string, store: string): Promise<string | undefined> {
  const key = templateKeyOf(bundleDir);
  const map = key ? mapOf(bundleDir) : undefined;
  if (!key || !map) return undefined;
  const dest = path.join(store, key.slice(0, 24));
  if (templateKeyOf(dest) === key) return dest;
  fs.mkdirSync(store, { recursive: true });
  const tmp = path.join(store, `.tmp-${randomBytes(6).toString('hex')}`);
  fs.mkdirSync(tmp);
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(bundleDir, MANIFEST), 'utf8')) as { graphs: Record<string, { file: string }> };
    for (const name of [MANIFEST, WEIGHT_MAP_FILE, ...Object.values(manifest.graphs).map((g) => g.file)])
      fs.copyFileSync(path.join(bundleDir, name), path.join(tmp, name));
    for (const [name, file] of Object.entries(map.files)) await copyConstants(path.join(bundleDir, name), path.join(tmp, name), file);
    fs.rmSync(dest, { recursive: true, force: true });
    fs.renameSync(tmp, dest);
    return dest;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** A weight file of the same size holding only its constant regions (the rest a hole: zeros that take no disk). */
async function copyConstants(from: string, to: string, file: WeightMap['files'][string]): Promise<void> {
  const src = await fs.promises.open(from, 'r');
  const dst = await fs.promises.open(to, 'wx');
  try {
    for (const r of file.regions) {
      if (!r.constant) continue;
      const buf = Buffer.alloc(r.bytes);
      await src.read(buf, 0, r.bytes, r.offset);
      await dst.write(buf, 0, r.bytes, r.offset);
    }
    await dst.truncate(file.bytes);
    await dst.sync();
  } finally {
    await src.close();
    await dst.close();
  }
}
