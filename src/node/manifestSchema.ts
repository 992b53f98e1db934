/**
 * The schema of varscope.json: one row per field the engine reads (path → check), so that a new field is one line.
 * Checked before anything reads the manifest; the relations between fields (beginEnds from patchNums, shapes of
 * the interpolation matrices, ...) are checked after it, in manifestCheck.ts. Unknown fields are allowed.
 *
 * Paths: `a.b` a field, `a?` a field that may be absent (or null), `*` every entry of an object or array, `{key}`
 * every key of an object (checked as a string). Every lookup is of an own property: a key named after an
 * Object.prototype member (`toString`, `__proto__`) is a key like any other.
 */
import * as path from 'path';
import graphSpecJson from '../shared/graphSpec.json';
import { INFINITY_GRAPH_ROLES, INFINITY_OPTIONAL_GRAPH_ROLES, type GraphRole, type ModelFamily } from '../shared/manifest';
import { samplingValueError, type SamplingField } from '../shared/samplingBounds';
import { isOneLine, quoted } from '../shared/errors';

/** Why a value is wrong ("must be a finite number (got "abc")"), or null when it is right. */
export type Check = (v: unknown) => string | null;

/**
 * Most entries `files` may have. A bundle reads 7 graphs, their external data (one weights.bin; even one file per
 * tensor would be ~450 for the official d36), a codebook and training hits: 1024 is far above any real bundle
 * and keeps a hostile manifest from asking for thousands of stats and hashes.
 */
export const MAX_BUNDLE_FILES = 1024;

/** Largest integer fact (sizes, counts, ids): tokens are int32 on the wire. */
const MAX_INT = 2 ** 31 - 1;

/** A short, one-line rendering of any parsed JSON value for messages (never recursive, so any depth is fine). */
export function brief(v: unknown): string {
  const one = (x: unknown): string => {
    if (typeof x === 'string') return quoted(x, 40);
    if (x === null || typeof x === 'number' || typeof x === 'boolean') return String(x);
    if (x === undefined) return 'nothing';
    return Array.isArray(x) ? '[…]' : '{…}';
  };
  if (Array.isArray(v)) {
    const items = v.slice(0, 3).map(one).join(', ');
    return v.length > 3 ? `[${items}, …] (${v.length} items)` : `[${items}]`;
  }
  if (isObject(v)) {
    const keys = Object.keys(v);
    const shown = keys.slice(0, 3).map((k) => one(k));
    return keys.length > 3 ? `an object {${shown.join(', ')}, …}` : `an object {${shown.join(', ')}}`;
  }
  return one(v);
}

/** A plain JSON object (not an array, not null). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A check from what a value must be and a test. */
function is(want: string, ok: (v: unknown) => boolean): Check {
  return (v) => (ok(v) ? null : `must be ${want} (got ${brief(v)})`);
}

const isInt = (min: number, max: number) => (v: unknown) => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isString = (max: number) => (v: unknown) => typeof v === 'string' && v.length <= max;
/** A string of one line (it may appear in messages). */
const isLine = (max: number) => (v: unknown) => isString(max)(v) && isOneLine(v as string);
const everyOf = (ok: (x: unknown) => boolean, n?: { min?: number; max?: number; len?: number }) => (v: unknown) =>
  Array.isArray(v) &&
  (n?.len === undefined || v.length === n.len) &&
  v.length >= (n?.min ?? 0) &&
  v.length <= (n?.max ?? Infinity) &&
  v.every(ok);

const object = is('an object', isObject);
const positiveInt = is(`a positive integer (at most ${MAX_INT})`, isInt(1, MAX_INT));
const countInt = is(`a non-negative integer (at most ${MAX_INT})`, isInt(0, MAX_INT));
const finite = is('a finite number', isFiniteNumber);
const line = is('a string of one line', isLine(1000));
const dims = is('an array of non-negative integers', everyOf(isInt(0, Number.MAX_SAFE_INTEGER), { max: 16 }));
/** Interpolation weights: bicubic ones lie in about [-0.2, 1.2] (rows sum to 1), area ones in [0, 1]. */
const matrix = is('a matrix (an array of rows of numbers in [-2, 2])', everyOf(everyOf((v) => isFiniteNumber(v) && v >= -2 && v <= 2)));

/** A bundle file: a relative path in normal form (one spelling per file), '/' between folders, on one line. */
const bundlePath: Check = (v) => {
  if (typeof v !== 'string' || v === '' || !isLine(4096)(v)) return `must be a relative file path of one line (got ${brief(v)})`;
  if (path.posix.isAbsolute(v) || /^[A-Za-z]:/.test(v)) return `must be relative to the bundle folder (got ${brief(v)})`;
  if (v.includes('\\')) return `must use / between folders (got ${brief(v)})`;
  const normal = path.posix.normalize(v);
  if (normal !== v) return `is not a file path in normal form: write ${quoted(normal, 200)} (each file has one spelling)`;
  if (v === '.' || v === '..' || v.endsWith('/') || v.endsWith('/..')) return `must name a file (got ${brief(v)})`;
  return null;
};

/** `files`: an object of at most MAX_BUNDLE_FILES entries. */
const fileTable: Check = (v) => {
  if (!isObject(v)) return object(v);
  const n = Object.keys(v).length;
  return n > MAX_BUNDLE_FILES ? `must list at most ${MAX_BUNDLE_FILES} files (got ${n})` : null;
};

/** A setting of `sampling`, inside the bounds the generator accepts. */
const sampling =
  (name: SamplingField): Check =>
  (v) =>
    samplingValueError(name, v);

/** The rows of the graph at manifest path `g`: its file, and each input's and output's dtype (one of `dtypes`) and dims. */
function graphRows(g: string, dtypes: readonly string[]): Array<[string, Check]> {
  const names = dtypes.map((d) => JSON.stringify(d));
  const dtypeText = `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
  return [
    [g, object],
    [`${g}.file`, bundlePath],
    ...(['inputs', 'outputs'] as const).flatMap((side): Array<[string, Check]> => [
      [`${g}.${side}`, object],
      [`${g}.${side}.*`, object],
      [`${g}.${side}.*.dtype`, is(dtypeText, (v) => dtypes.includes(v as string))],
      [
        `${g}.${side}.*.dims`,
        is(
          'an array of dims (non-negative integers or axis names)',
          everyOf((d) => isInt(0, MAX_INT)(d) || isLine(100)(d), { max: 16 }),
        ),
      ],
    ]),
  ];
}

/** A manifest's model family, or null for one this engine does not know. */
export function manifestFamily(m: Record<string, unknown>): ModelFamily | null {
  const family = Object.hasOwn(m, 'family') ? m.family : undefined;
  if (family === undefined || family === 'var') return 'var';
  return family === 'infinity' ? 'infinity' : null;
}

/**
 * Why this engine cannot open a manifest's model family, or null for a family it opens. Checked before the version
 * and the schema: another family lays out every other field its own way.
 */
export function familyProblem(m: Record<string, unknown>): string | null {
  return manifestFamily(m) ? null : `family is ${brief(m.family)}: this version of the engine opens VAR and Infinity bundles`;
}

/** The roles every bundle has (src/shared/graphSpec.json). */
const ROLES = Object.keys(graphSpecJson.graphs) as GraphRole[];

/** Every field the engine reads, after `format` and `version` (checked first: another version may differ). */
export const MANIFEST_SCHEMA: ReadonlyArray<readonly [string, Check]> = [
  ['id', is('a folder-safe name (letters, digits, ".", "_", "-")', (v) => isString(255)(v) && /^[A-Za-z0-9._-]+$/.test(v as string))],
  ['name', line],
  ['description?', is('a string', isString(100_000))],
  ['vae', object],
  ['vae.imageSize', positiveInt],
  ['vae.latentSize', positiveInt],
  ['vae.downsample', positiveInt],
  ['vae.Cvae', positiveInt],
  ['vae.vocabSize', positiveInt],
  ['vae.ch', positiveInt],
  ['vae.chMult', is('a non-empty array of positive integers', everyOf(isInt(1, MAX_INT), { min: 1, max: 64 }))],
  ['vae.quantResi?', finite],
  ['vae.phiCount', countInt],
  ['var', object],
  ['var.depth', positiveInt],
  ['var.embedDim', positiveInt],
  ['var.numHeads', positiveInt],
  ['var.numClasses', positiveInt],
  ['var.nullClass', countInt],
  ['var.sharedAdaLN?', is('true or false', (v) => typeof v === 'boolean')],
  ['var.attnL2Norm?', is('true or false', (v) => typeof v === 'boolean')],
  ['var.mlpRatio?', is('a positive finite number', (v) => isFiniteNumber(v) && v > 0)],
  [
    'patchNums',
    is(
      'a non-empty array of increasing positive integers',
      // Sides of token grids (the last is the latent side): far below 2^15, so pn² and their sum stay exact int32s.
      (v) => everyOf(isInt(1, 2 ** 15), { min: 1, max: 1024 })(v) && (v as number[]).every((pn, k, a) => k === 0 || pn > a[k - 1]),
    ),
  ],
  ['beginEnds', is('an array of [begin, end) pairs of non-negative integers', everyOf(everyOf(isInt(0, MAX_INT), { len: 2 })))],
  ['tokenCount', positiveInt],
  ['firstL', positiveInt],
  ['phiIndexPerScale', is('an array of non-negative integers', everyOf(isInt(0, MAX_INT)))],
  ['normalization', object],
  ['normalization.mean', finite],
  ['normalization.std', is('a finite number > 0', (v) => isFiniteNumber(v) && v > 0)],
  ['normalization.background', is('3 integers in [0, 255] (RGB)', everyOf(isInt(0, 255), { len: 3 }))],
  ['classes?', is('an array of class names (strings of one line)', everyOf(isLine(1000)))],
  ['interpolation', object],
  ['interpolation.up', is('an array of matrices', Array.isArray)],
  ['interpolation.up.*', matrix],
  ['interpolation.down', is('an array of matrices', Array.isArray)],
  ['interpolation.down.*', matrix],
  ['graphs', object],
  ...ROLES.flatMap((role) => graphRows(`graphs.${role}`, ['float32', 'float16', 'int64'])),
  ['codebook', object],
  ['codebook.file', bundlePath],
  ['codebook.dtype', is('"float32"', (v) => v === 'float32')],
  ['codebook.dims', dims],
  ['trainingHits?', object],
  ['trainingHits?.file', bundlePath],
  ['trainingHits?.dtype', is('"float32", "int64" or "int32"', (v) => v === 'float32' || v === 'int64' || v === 'int32')],
  ['trainingHits?.dims', dims],
  ['files', fileTable],
  ['files.{key}', bundlePath],
  ['files.*', object],
  ['files.*.sha256', is('64 lowercase hex digits', (v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v))],
  ['files.*.bytes', is('a byte count', isInt(0, Number.MAX_SAFE_INTEGER))],
  ['sampling?', object],
  ['sampling?.cfg', sampling('cfg')],
  ['sampling?.topK', sampling('topK')],
  ['sampling?.topP', sampling('topP')],
  ['provenance?', object],
  ['provenance?.sources?', is('an array of objects', everyOf(isObject))],
  ['provenance?.sources?.*.role?', line],
  ['provenance?.sources?.*.file?', line],
  ['provenance?.training?', object],
];

/** Every field the engine reads of an Infinity bundle (`"family": "infinity"`), after `format` and `version`. */
export const INFINITY_MANIFEST_SCHEMA: ReadonlyArray<readonly [string, Check]> = [
  ['id', is('a folder-safe name (letters, digits, ".", "_", "-")', (v) => isString(255)(v) && /^[A-Za-z0-9._-]+$/.test(v as string))],
  ['name', line],
  ['bits', is('an integer in 1..64', isInt(1, 64))],
  ['vae', object],
  ['vae.codebookDim', positiveInt],
  ['vae.downsample', positiveInt],
  ['vae.ch', positiveInt],
  ['vae.chMult', is('a non-empty array of positive integers', everyOf(isInt(1, MAX_INT), { min: 1, max: 64 }))],
  ['infinity', object],
  ['infinity.depth', positiveInt],
  ['infinity.embedDim', positiveInt],
  ['infinity.numHeads', positiveInt],
  ['infinity.headDim', positiveInt],
  ['text', object],
  ['text.featureWidth', positiveInt],
  ['text.maxLength', positiveInt],
  ...graphRows('textEncoder?', ['int64', 'float32']),
  ['textEncoder?.tokenizer', bundlePath],
  ['unconditionalText', object],
  ['unconditionalText.file', bundlePath],
  ['unconditionalText.dtype', is('"float32"', (v) => v === 'float32')],
  ['unconditionalText.dims', dims],
  ['normalization', object],
  ['normalization.mean', finite],
  ['normalization.std', is('a finite number > 0', (v) => isFiniteNumber(v) && v > 0)],
  ['sampling', object],
  ['sampling.cfg', finite],
  ['sampling.tau', is('a finite number > 0', (v) => isFiniteNumber(v) && v > 0)],
  ['sampling.topK', countInt],
  ['sampling.topP', is('a number in [0, 1]', (v) => isFiniteNumber(v) && v >= 0 && v <= 1)],
  ['sampling.cfgInsertionLayer', is('an integer', (v) => Number.isInteger(v))],
  ['schedules', is('a non-empty array of schedules', everyOf(isObject, { min: 1, max: 64 }))],
  ['schedules.*.id', is('a folder-safe name', (v) => isString(100)(v) && /^[A-Za-z0-9._-]+$/.test(v as string))],
  ['schedules.*.hDivW', is('a finite number > 0', (v) => isFiniteNumber(v) && v > 0)],
  ['schedules.*.pn', line],
  ['schedules.*.scales', is('a non-empty array of (t, h, w) scales', everyOf(everyOf(isInt(1, 2 ** 15), { len: 3 }), { min: 1, max: 64 }))],
  ['schedules.*.beginEnds', is('an array of [begin, end) pairs of non-negative integers', everyOf(everyOf(isInt(0, MAX_INT), { len: 2 })))],
  ['schedules.*.tokenCount', positiveInt],
  ['schedules.*.pixelSize', is('[H, W] positive integers', everyOf(isInt(1, 2 ** 16), { len: 2 }))],
  ['schedules.*.latentSize', is('[h, w] positive integers', everyOf(isInt(1, 2 ** 15), { len: 2 }))],
  ['schedules.*.graphs', object],
  ...INFINITY_GRAPH_ROLES.flatMap((role) => graphRows(`schedules.*.graphs.${role}`, ['float32', 'int64', 'uint8'])),
  ...INFINITY_OPTIONAL_GRAPH_ROLES.flatMap((role) => graphRows(`schedules.*.graphs.${role}?`, ['float32', 'int64'])),
  ['files', fileTable],
  ['files.{key}', bundlePath],
  ['files.*', object],
  ['files.*.sha256', is('64 lowercase hex digits', (v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v))],
  ['files.*.bytes', is('a byte count', isInt(0, Number.MAX_SAFE_INTEGER))],
];

/** A path segment as written in messages: `.name`, `[3]` or `["a b"]`. */
function step(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (/^[A-Za-z_$][\w$]*$/.test(key)) return parent ? `${parent}.${key}` : key;
  return `${parent}[${quoted(key, 200)}]`;
}

/** The values a schema path names in `root`, with their written paths; absent required fields come back `missing`. */
function resolve(root: unknown, pattern: string): Array<{ at: string; value: unknown; missing?: boolean }> {
  const segs = pattern.split('.');
  let here: Array<{ at: string; value: unknown }> = [{ at: '', value: root }];
  const out: Array<{ at: string; value: unknown; missing?: boolean }> = [];
  segs.forEach((seg, i) => {
    const last = i === segs.length - 1;
    const optional = seg.endsWith('?');
    const key = optional ? seg.slice(0, -1) : seg;
    const next: Array<{ at: string; value: unknown }> = [];
    for (const { at, value } of here) {
      // A parent of the wrong type is its own row's problem.
      if (key === '*' || key === '{key}') {
        if (Array.isArray(value)) value.forEach((x, k) => next.push({ at: step(at, k), value: key === '*' ? x : k }));
        else if (isObject(value)) for (const k of Object.keys(value)) next.push({ at: step(at, k), value: key === '*' ? value[k] : k });
        continue;
      }
      if (!isObject(value)) continue;
      const present = Object.hasOwn(value, key) && value[key] !== undefined && !(optional && value[key] === null);
      if (present) next.push({ at: step(at, key), value: value[key] });
      else if (last && !optional) out.push({ at: step(at, key), value: undefined, missing: true });
    }
    here = next;
  });
  return [...out, ...here];
}

/** Problems of a manifest against a schema (MANIFEST_SCHEMA, INFINITY_MANIFEST_SCHEMA), as "normalization.mean must be a finite number (got "abc")". */
export function schemaProblems(m: unknown, schema: ReadonlyArray<readonly [string, Check]> = MANIFEST_SCHEMA): string[] {
  const p: string[] = [];
  for (const [pattern, check] of schema) {
    for (const { at, value, missing } of resolve(m, pattern)) {
      const problem = missing ? 'is missing' : check(value);
      if (problem) p.push(`${at} ${problem}`);
      if (p.length >= 20) return p; // enough to act on
    }
  }
  return p;
}
