/**
 * Where architecture templates are found and kept. A template is any bundle with a weight map (weightMap.json,
 * bundleTemplate.ts), or the compact form of one: the graphs of its architecture plus, for every region of its weight files, the checkpoint tensor
 * it holds. A checkpoint whose keys and shapes fit a template's map becomes a bundle without Python.
 *
 * Templates are looked for in folders of bundles and templates (the template store, the checkpoint cache, the templates
 * shipped with the extension). A template not a bundle is compact (writeTemplate): the graphs, map and manifest, and
 * constants.bin with the architecture's constants (a d16 template takes about 1.3 MB). After a Python export the new
 * bundle's compact template is kept in the store; tools/build_templates.py writes the shipped ones the same way.
 */
import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { StateDict } from './checkpoint/types';
import { VarScopeError } from '../shared/errors';
import { readManifest, templateKeyOf } from './bundleTemplate';
import {
  checkpointMismatch,
  constantRegions,
  CONSTANTS_FILE,
  readWeightMap,
  WEIGHT_MAP_FILE,
  type CheckpointRole,
  type WeightMap,
} from './template/weightMap';

const MANIFEST = 'varscope.json';

type TemplateManifest = Record<string, unknown> & { template?: { key?: unknown }; graphs: Record<string, { file: string }> };

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
 * undefined when the bundle is no template.
 */
export async function keepTemplate(bundleDir: string, store: string): Promise<string | undefined> {
  const key = templateKeyOf(bundleDir);
  if (!key || !mapOf(bundleDir)) return undefined;
  const dest = path.join(store, key.slice(0, 24));
  if (templateKeyOf(dest) === key) return dest;
  await writeTemplate(bundleDir, dest);
  return dest;
}

/**
 * Writes the compact template of the bundle at `bundleDir` (it must have a weight map) at `outDir`: its graphs,
 * weight map and manifest, and constants.bin with its weight files' constant regions (weightMap.ts constantRegions);
 * the manifest's `template` names that file (and `facts`, what the key hashes, when given), its `files` the
 * template's own files with their sha256, and its id and name are `id` when given. Written into a hidden folder beside `outDir` and renamed into place,
 * replacing a template there.
 */
export async function writeTemplate(bundleDir: string, outDir: string, extra: { id?: string; facts?: object } = {}): Promise<void> {
  const manifest = readManifest<TemplateManifest>(bundleDir);
  const map = readWeightMap(bundleDir);
  if (manifest.template?.key !== map.key) throw new VarScopeError('ModelLoad', `${bundleDir} is not a template (no weight map of its key)`);
  fs.mkdirSync(path.dirname(path.resolve(outDir)), { recursive: true });
  const tmp = path.join(path.dirname(path.resolve(outDir)), `.${path.basename(outDir)}.tmp-${randomBytes(6).toString('hex')}`);
  fs.mkdirSync(tmp);
  try {
    const files: Record<string, { sha256: string; bytes: number }> = {};
    const keep = (name: string, bytes: Buffer) => {
      fs.writeFileSync(path.join(tmp, name), bytes);
      files[name] = { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.byteLength };
    };
    for (const name of [WEIGHT_MAP_FILE, ...Object.values(manifest.graphs).map((g) => g.file)])
      keep(name, fs.readFileSync(path.join(bundleDir, name)));
    keep(CONSTANTS_FILE, await constantBytes(bundleDir, map));
    const template = { ...manifest.template, constants: CONSTANTS_FILE, ...(extra.facts ? { facts: extra.facts } : {}) };
    const own = {
      ...manifest,
      ...(extra.id ? { id: extra.id, name: extra.id } : {}),
      template,
      files: Object.fromEntries(
        Object.keys(files)
          .sort()
          .map((k) => [k, files[k]]),
      ),
    };
    fs.writeFileSync(path.join(tmp, MANIFEST), JSON.stringify(own, null, 1));
    fs.rmSync(outDir, { recursive: true, force: true });
    fs.renameSync(tmp, outDir);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The constant regions of a bundle's weight files, one after another (constants.bin). */
async function constantBytes(bundleDir: string, map: WeightMap): Promise<Buffer> {
  const regions = constantRegions(map);
  const out = Buffer.alloc(regions.reduce((n, c) => n + c.region.bytes, 0));
  for (const file of new Set(regions.map((c) => c.file))) {
    const fh = await fs.promises.open(path.join(bundleDir, file), 'r');
    try {
      for (const c of regions.filter((x) => x.file === file)) {
        const { bytesRead } = await fh.read(out, c.at, c.region.bytes, c.region.offset);
        if (bytesRead !== c.region.bytes)
          throw new VarScopeError('ModelLoad', `${path.join(bundleDir, file)}: shorter than its weight map says`);
      }
    } finally {
      await fh.close();
    }
  }
  return out;
}
