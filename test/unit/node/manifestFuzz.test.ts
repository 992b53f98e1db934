/**
 * Fuzzing of the manifest parser and checker (parseManifest): seeded mutations of the real manifests (the default
 * models' and the fixture bundle's) — bytes flipped, spans deleted, duplicated or cut off, values replaced by strings,
 * huge, negative or non-finite numbers, deep nesting, arrays of the wrong length, keys named after Object.prototype
 * members. Every case ends in a clear refusal (a ModelLoad VarScopeError of one line naming the file) or in a manifest
 * that is well-formed by the independent checks below; any other exception fails the test with the case to replay.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { checkGraph, GRAPH_ROLES, manifestFacts, parseManifest } from '../../../src/engine/bundle/manifestCheck';
import { Rng } from '../../../src/engine/model/rng';
import { fromNested } from '../../../src/engine/runtime/tensor';
import type { BundleManifest } from '../../../src/shared/manifest';
import { VarScopeError } from '../../../src/shared/errors';
import { BUNDLE, requireBundle, ROOT } from '../fixtures';

/** The fuzzer's bounds: this many cases, or this long, whichever ends first (every case is replayable by its index). */
const MAX_CASES = 3000;
const MAX_MS = 3000;
const SEED = 20240024;
const FILE = '/bundles/fuzzed/varscope.json';

/** Values that replace a field: wrong types, extremes, JSON that parses to Infinity, nesting past any bound. */
const REPLACEMENTS: string[] = [
  '"abc"',
  '""',
  '"NaN"',
  '"Infinity"',
  '1e999',
  '-1e999',
  '1e308',
  '-1',
  '-0.5',
  '0',
  '1.5',
  '2147483648',
  '9007199254740993',
  'null',
  'true',
  '[]',
  '{}',
  '[1,2]',
  '[1,2,3,4]',
  '["x","y","z"]',
  '[[1]]',
  '{"__proto__":{"sha256":"0","bytes":1}}',
  '"../../../etc/passwd"',
  '"/abs/weights.bin"',
  '"a/../weights.bin"',
  '"toString"',
  `"${'x'.repeat(5000)}"`,
  `${'['.repeat(70)}${']'.repeat(70)}`,
  `${'{"a":'.repeat(500)}1${'}'.repeat(500)}`,
  `${'['.repeat(100000)}${']'.repeat(100000)}`,
];
/** Keys added to objects: Object.prototype members and the like. */
const KEYS = ['__proto__', 'toString', 'constructor', 'hasOwnProperty', 'valueOf', 'weights.bin', 'a/../weights.bin', ''];
/** Characters a flipped byte becomes: JSON's structure, escapes, control characters. */
const CHARS = ['"', '{', '}', '[', ']', ',', ':', '0', '9', '-', 'e', '.', '\\', ' ', 'a', '\n', '\u0000', '\u2028', 'é'];

/** Every path to a value in a parsed manifest (object keys and array indices). */
function paths(v: unknown, at: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

/** One mutation of a manifest's text, and what it did (to replay a failure). */
function mutate(text: string, value: unknown, allPaths: Array<Array<string | number>>, rng: Rng): [string, string] {
  const pick = <T>(a: readonly T[]): T => a[rng.nextUint32() % a.length];
  const at = () => rng.nextUint32() % (text.length + 1);
  const kind = rng.nextUint32() % 9;
  if (kind === 0) {
    const i = at();
    const c = pick(CHARS);
    return [text.slice(0, i) + c + text.slice(i + 1), `byte ${i} -> ${JSON.stringify(c)}`];
  }
  if (kind === 1) {
    const i = at();
    const n = 1 + (rng.nextUint32() % 64);
    return [text.slice(0, i) + text.slice(i + n), `delete ${n} at ${i}`];
  }
  if (kind === 2) {
    const i = at();
    const j = Math.min(text.length, i + 1 + (rng.nextUint32() % 200));
    const k = at();
    return [text.slice(0, k) + text.slice(i, j) + text.slice(k), `copy [${i}, ${j}) to ${k}`];
  }
  if (kind === 3) {
    const i = at();
    return [text.slice(0, i), `truncate at ${i}`];
  }
  // Structural mutations on a copy of the parsed value, written back with placeholders for raw JSON.
  const m = JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
  const p = pick(allPaths.filter((x) => x.length > 0));
  let parent = m as Record<string | number, unknown>;
  for (const k of p.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = p[p.length - 1];
  const raw: string[] = [];
  const placeholder = (json: string) => `\u0001${raw.push(json) - 1}\u0001`;
  let what: string;
  if (kind <= 5) {
    const r = pick(REPLACEMENTS);
    parent[last] = placeholder(r);
    what = `${p.join('.')} = ${r.slice(0, 40)}`;
  } else if (kind === 6) {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
    what = `delete ${p.join('.')}`;
  } else if (kind === 7) {
    const target = parent[last];
    if (Array.isArray(target)) {
      if (rng.nextUint32() % 2) target.pop();
      else target.push(target[0] ?? 1);
      what = `resize ${p.join('.')}`;
    } else {
      parent[last] = [parent[last], parent[last]];
      what = `wrap ${p.join('.')} in an array`;
    }
  } else {
    const target = parent[last] && typeof parent[last] === 'object' && !Array.isArray(parent[last]) ? parent[last] : parent;
    const key = pick(KEYS);
    (target as Record<string, unknown>)[key === '__proto__' ? '\u0002' : key] = placeholder(pick(REPLACEMENTS.slice(0, 22)));
    what = `add key ${JSON.stringify(key)} near ${p.join('.')}`;
  }
  const out = JSON.stringify(m)
    .replace(/"\\u0002"/g, '"__proto__"')
    .replace(/"\\u0001(\d+)\\u0001"/g, (_, i: string) => raw[Number(i)]);
  return [out, what];
}

/** Independent checks that an accepted manifest is one the engine can use (not the checker's own code). */
function assertWellFormed(m: BundleManifest): void {
  const posInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  const { vae, patchNums } = m;
  for (const k of ['imageSize', 'latentSize', 'downsample', 'Cvae', 'vocabSize', 'ch'] as const) assert.ok(posInt(vae[k]), `vae.${k}`);
  assert.strictEqual(vae.imageSize, vae.latentSize * vae.downsample);
  for (const k of ['depth', 'embedDim', 'numHeads', 'numClasses'] as const) assert.ok(posInt(m.var[k]), `var.${k}`);
  assert.strictEqual(m.var.nullClass, m.var.numClasses);
  assert.ok(patchNums.length > 0 && patchNums.every((pn, k) => posInt(pn) && (k === 0 || pn > patchNums[k - 1])), 'patchNums');
  assert.strictEqual(patchNums[patchNums.length - 1], vae.latentSize);
  let L = 0;
  patchNums.forEach((pn, k) => assert.deepStrictEqual(m.beginEnds[k], [L, (L += pn * pn)]));
  assert.strictEqual(m.tokenCount, L);
  assert.strictEqual(m.firstL, patchNums[0] ** 2);
  assert.ok(m.phiIndexPerScale.length === patchNums.length && m.phiIndexPerScale.every((i) => Number.isInteger(i) && i >= 0));
  const { mean, std, background } = m.normalization;
  assert.ok(Number.isFinite(mean) && Number.isFinite(std) && std > 0, 'normalization');
  assert.ok(background.length === 3 && background.every((c) => Number.isInteger(c) && c >= 0 && c <= 255), 'background');
  patchNums.forEach((pn, k) => {
    const up = fromNested(m.interpolation.up[k], [vae.latentSize, pn], 'up');
    const down = fromNested(m.interpolation.down[k], [pn, vae.latentSize], 'down');
    assert.ok([...up, ...down].every(Number.isFinite), `interpolation ${k}`);
  });
  const normal = (f: unknown) => typeof f === 'string' && f !== '' && path.posix.normalize(f) === f && !path.posix.isAbsolute(f);
  const files = Object.keys(m.files);
  assert.ok(files.length <= 1024 && files.every(normal), 'files keys');
  for (const f of files) {
    const h = m.files[f];
    assert.ok(/^[0-9a-f]{64}$/.test(h.sha256) && Number.isInteger(h.bytes) && h.bytes >= 0, `files[${f}]`);
  }
  for (const role of GRAPH_ROLES) {
    assert.ok(normal(m.graphs[role].file), `graphs.${role}.file`);
    assert.ok(Array.isArray(checkGraph(m, role, [], [], [])));
  }
  assert.ok(normal(m.codebook.file) && JSON.stringify(m.codebook.dims) === JSON.stringify([vae.vocabSize, vae.Cvae]));
  if (m.trainingHits) assert.ok(normal(m.trainingHits.file));
  if (m.classes) assert.ok(m.classes.every((c) => typeof c === 'string'));
  if (m.sampling) assert.ok(Number.isFinite(m.sampling.cfg) && Number.isInteger(m.sampling.topK) && Number.isFinite(m.sampling.topP));
  assert.ok(Object.values(manifestFacts(m)).every(Number.isFinite), 'facts');
}

describe('manifest fuzzing: parseManifest refuses clearly or accepts a well-formed manifest', function () {
  this.timeout(60000);

  it(`mutated real manifests: a one-line refusal naming the file, or a well-formed manifest (${MAX_CASES} cases or ${MAX_MS} ms)`, () => {
    requireBundle();
    const modelsDir = path.join(ROOT, 'models');
    const sources = [
      ...fs
        .readdirSync(modelsDir)
        .filter((d) => fs.existsSync(path.join(modelsDir, d, 'varscope.json')))
        .map((d) => path.join(modelsDir, d, 'varscope.json')),
      path.join(BUNDLE, 'varscope.json'),
    ].map((f) => {
      const text = fs.readFileSync(f, 'utf8');
      const value = JSON.parse(text) as unknown;
      return { f, text, value, allPaths: paths(value) };
    });
    assert.ok(sources.length >= 2);
    for (const s of sources) assertWellFormed(parseManifest(s.text, FILE)); // the unmutated manifests pass
    const rng = new Rng(SEED);
    const t0 = Date.now();
    let refused = 0;
    let accepted = 0;
    for (let i = 0; i < MAX_CASES && Date.now() - t0 < MAX_MS; i++) {
      const s = sources[rng.nextUint32() % sources.length];
      const [text, what] = mutate(s.text, s.value, s.allPaths, rng);
      const replay = `case ${i} (seed ${SEED}, ${path.basename(path.dirname(s.f))}: ${what})`;
      let m: BundleManifest;
      try {
        m = parseManifest(text, FILE);
      } catch (e) {
        if (!(e instanceof VarScopeError)) throw new Error(`${replay}: ${e instanceof Error ? e.stack : String(e)}`);
        assert.strictEqual(e.code, 'ModelLoad', replay);
        assert.ok(e.message.startsWith(`${FILE}: `), `${replay}: ${e.message}`);
        assert.ok(!/[\n\r\u2028\u2029]/.test(e.message) && e.message.length < 1000, `${replay}: not one short line: ${e.message}`);
        refused++;
        continue;
      }
      try {
        assertWellFormed(m);
      } catch (e) {
        throw new Error(`${replay}: accepted but not well-formed: ${e instanceof Error ? e.message : String(e)}`);
      }
      accepted++;
    }
    assert.ok(refused > 100 && accepted > 10, `refused ${refused}, accepted ${accepted}`);
  });
});
