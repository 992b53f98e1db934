/**
 * A bundle's weight map (weightMap.json, written by python/varscope/bundle/weight_map.py): for every byte region of
 * its per-checkpoint files, the checkpoint tensor it copies (role, canonical key, view, stored dtype) or that it is a
 * constant of the architecture. Read and checked here; bundleTemplate.ts writes a new bundle by it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { VarScopeError } from '../../shared/errors';
import type { StateDict } from '../checkpoint/types';
import { isFloatDtype, itemSize, type StoredDtype } from './convert';

export const WEIGHT_MAP_FILE = 'weightMap.json';
const FORMAT = 'varscope-weight-map';
const VERSION = 1;
const STORED: ReadonlySet<string> = new Set(['float32', 'float16', 'int64', 'int32']);

/** The two checkpoints a bundle is made from. */
export type CheckpointRole = 'vae' | 'var';
export const CHECKPOINT_ROLES: readonly CheckpointRole[] = ['vae', 'var'];

/** Where a region's bytes come from: a checkpoint tensor, read through a view and rounded to float16 first if `via`. */
export interface RegionSource {
  role: CheckpointRole;
  key: string;
  /** A strided view of the tensor's row-major elements (a folded transpose); absent: a plain copy or reshape. */
  strides?: number[];
  start?: number;
  /** 'float16': the export rounded the values to float16 and stored them as float32. */
  via?: 'float16';
}

/** One region of a weight file. */
export interface Region {
  offset: number;
  bytes: number;
  dtype: StoredDtype;
  shape: number[];
  /** The template's own bytes (a constant of the architecture). */
  constant?: true;
  source?: RegionSource;
}

/** One per-checkpoint file: its size and regions (sorted by offset; the bytes between them are zero). */
export interface MappedFile {
  bytes: number;
  regions: Region[];
}

/** The whole map. */
export interface WeightMap {
  format: typeof FORMAT;
  version: typeof VERSION;
  /** The template key (varscope.json's template.key). */
  key: string;
  /** Per role: the keys a checkpoint must have, with their shapes, and the keys it may have (structural buffers). */
  checkpoints: Record<CheckpointRole, { required: Record<string, number[]>; optional: string[] }>;
  files: Record<string, MappedFile>;
  /** varscope.json fields a bundle written from the template fills itself. */
  manifestFields: string[];
}

const count = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
const isIntArray = (v: unknown): v is number[] => Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && d >= 0);
const shapeText = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/** Why a parsed map is unusable, or null. */
function mapProblem(m: unknown): string | null {
  const w = m as WeightMap;
  if (typeof m !== 'object' || m === null || w.format !== FORMAT) return `not a weight map (no "format": "${FORMAT}")`;
  if (w.version !== VERSION) return `version ${String(w.version)}, this VARScope reads version ${VERSION}`;
  if (typeof w.key !== 'string' || typeof w.files !== 'object' || w.files === null) return 'no key or files';
  for (const role of CHECKPOINT_ROLES) {
    const c = w.checkpoints?.[role];
    if (!c || typeof c.required !== 'object' || !Array.isArray(c.optional)) return `no key list for the ${role} checkpoint`;
    if (!Object.values(c.required).every(isIntArray)) return `a shape of the ${role} checkpoint's keys is not a list of sizes`;
  }
  for (const [name, f] of Object.entries(w.files)) {
    if (name !== path.basename(name) || name.startsWith('.')) return `file ${JSON.stringify(name)} is not a plain file name`;
    if (!Number.isSafeInteger(f?.bytes) || !Array.isArray(f.regions)) return `${name}: no size or regions`;
    let end = 0;
    for (const r of f.regions) {
      const where = `${name} region at ${String(r?.offset)}`;
      if (!Number.isSafeInteger(r?.offset) || !Number.isSafeInteger(r.bytes) || r.offset < end)
        return `${where}: overlaps or is out of order`;
      if (!STORED.has(r.dtype) || !isIntArray(r.shape) || count(r.shape) * itemSize(r.dtype) !== r.bytes)
        return `${where}: dtype ${String(r.dtype)} and shape do not give its ${r.bytes} bytes`;
      const s = r.source;
      if (!r.constant && !(s && CHECKPOINT_ROLES.includes(s.role) && Object.hasOwn(w.checkpoints[s.role].required, s.key)))
        return `${where}: neither a constant nor a key of the checkpoints`;
      if (s?.strides && !(isIntArray(s.strides) && s.strides.length === r.shape.length && Number.isSafeInteger(s.start)))
        return `${where}: a view whose strides do not fit its shape`;
      end = r.offset + r.bytes;
    }
    if (end > f.bytes) return `${name}: regions end at ${end}, past its ${f.bytes} bytes`;
  }
  // Every tensor of the checkpoints must land somewhere: torch's export merges initializers of equal value (zero
  // biases, unit norms of an untrained model), and the graph of such an export reads one tensor where another
  // checkpoint has several.
  for (const role of CHECKPOINT_ROLES) {
    const placed = new Set(
      Object.values(w.files).flatMap((f) => f.regions.filter((r) => r.source?.role === role).map((r) => r.source!.key)),
    );
    const lost = Object.keys(w.checkpoints[role].required).filter((k) => !placed.has(k));
    if (lost.length)
      return `${lost.length} ${role} tensors (${lost[0]}, …) are in no region: torch merged tensors of equal value when it exported this bundle`;
  }
  return null;
}

/** The weight map of a bundle folder, checked; a VarScopeError naming the folder when it has none or a bad one. */
export function readWeightMap(bundleDir: string): WeightMap {
  const file = path.join(bundleDir, WEIGHT_MAP_FILE);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new VarScopeError('ModelLoad', `${bundleDir} is not a template: cannot read ${WEIGHT_MAP_FILE} (${(e as Error).message})`);
  }
  const problem = mapProblem(parsed);
  if (problem) throw new VarScopeError('ModelLoad', `${file}: ${problem}`);
  return parsed as WeightMap;
}

/**
 * The first mismatch between the checkpoints and the template's architecture, as one line (a missing key, an extra
 * key, a shape, an element type that cannot be stored), or null when they fit.
 */
export function checkpointMismatch(map: WeightMap, sources: Record<CheckpointRole, StateDict>): string | null {
  const problems: string[] = [];
  const floatKeys = new Set<string>();
  for (const f of Object.values(map.files))
    for (const r of f.regions) if (r.source && r.dtype.startsWith('float')) floatKeys.add(`${r.source.role}\0${r.source.key}`);
  for (const role of CHECKPOINT_ROLES) {
    const { required, optional } = map.checkpoints[role];
    const sd = sources[role];
    for (const [key, shape] of Object.entries(required)) {
      const t = sd.get(key);
      if (!t) problems.push(`${role} checkpoint: key ${key} ${shapeText(shape)} is missing (the template's architecture has it)`);
      else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
        problems.push(
          `${role} checkpoint: key ${key} has shape ${shapeText(t.shape)}, the template's architecture has ${shapeText(shape)}`,
        );
      else if (floatKeys.has(`${role}\0${key}`) && !isFloatDtype(t.dtype))
        problems.push(`${role} checkpoint: key ${key} holds ${t.dtype}, the template stores it as floating point`);
      else if (t.byteLength !== count(t.shape) * itemSize(t.dtype))
        problems.push(
          `${role} checkpoint: key ${key} has ${t.byteLength} bytes, ${t.dtype} ${shapeText(t.shape)} takes ${count(t.shape) * itemSize(t.dtype)}`,
        );
    }
    for (const [key, t] of sd)
      if (!Object.hasOwn(required, key) && !optional.includes(key))
        problems.push(`${role} checkpoint: extra key ${key} ${shapeText(t.shape)} (not in the template's architecture)`);
  }
  if (!problems.length) return null;
  return problems[0] + (problems.length > 1 ? ` (and ${problems.length - 1} more mismatches)` : '');
}

/** The file of a compact template (templateStore.ts writeTemplate) that holds its weight files' constant regions. */
export const CONSTANTS_FILE = 'constants.bin';

/** A constant region of a weight file and where its bytes start in a compact template's constants.bin. */
export interface ConstantRegion {
  file: string;
  region: Region;
  at: number;
}

/** Every constant region of the map, as constants.bin holds them: by file name, each file's regions by offset. */
export function constantRegions(map: WeightMap): ConstantRegion[] {
  const out: ConstantRegion[] = [];
  let at = 0;
  for (const file of Object.keys(map.files).sort())
    for (const region of map.files[file].regions)
      if (region.constant) {
        out.push({ file, region, at });
        at += region.bytes;
      }
  return out;
}
