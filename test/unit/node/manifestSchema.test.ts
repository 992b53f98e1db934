/**
 * varscope.json against its schema (src/node/manifestSchema.ts), through the loader: a wrong field, a file named
 * after an Object.prototype member and a deeply nested manifest are each refused in one line naming varscope.json
 * and the field. Variants are manifests in a temp folder whose paths point back at the fixture bundle.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ModelBundle } from '../../../src/engine/bundle/bundle';
import { MANIFEST_SCHEMA } from '../../../src/node/manifestSchema';
import type { OnnxRuntime } from '../../../src/engine/runtime/onnxRuntime';
import type { BundleManifest } from '../../../src/shared/manifest';
import { loadRefusal, requireBundle } from '../fixtures';

/** Set (or with undefined, delete) the field at a dotted path ("normalization.background.1"). */
function set(m: unknown, at: string, value: unknown): void {
  const keys = at.split('.');
  let o = m as Record<string, unknown>;
  for (const k of keys.slice(0, -1)) o = o[k] as Record<string, unknown>;
  const last = keys[keys.length - 1];
  if (value === undefined) delete o[last];
  else o[last] = value;
}

describe('manifest schema: every field the engine reads is checked before use', function () {
  this.timeout(120000);
  let src: string;
  let tmp: string;
  let n = 0;
  // Loading opens no graph: the runtime only answers info()'s questions.
  const runtime = { provider: undefined, fallbacks: [] } as unknown as OnnxRuntime;

  before(() => {
    src = requireBundle();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-schema-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** A manifest folder: the fixture's manifest with its paths pointing back at the fixture, then edited. */
  function variant(edit: (m: BundleManifest, dir: string) => void = () => undefined): string {
    const dir = path.join(tmp, `m${n++}`);
    fs.mkdirSync(dir);
    const m = JSON.parse(fs.readFileSync(path.join(src, 'varscope.json'), 'utf8')) as BundleManifest;
    const rel = (f: string) => path.relative(dir, path.join(src, f));
    for (const g of Object.values(m.graphs)) g.file = rel(g.file);
    m.codebook.file = rel(m.codebook.file);
    if (m.trainingHits) m.trainingHits.file = rel(m.trainingHits.file);
    m.files = Object.fromEntries(Object.entries(m.files).map(([f, h]) => [rel(f), h]));
    edit(m, dir);
    fs.writeFileSync(path.join(dir, 'varscope.json'), JSON.stringify(m));
    return dir;
  }

  const load = (dir: string) => ModelBundle.load(dir, runtime, { cacheFile: path.join(tmp, 'verified.json') });

  /** The message of the loader's refusal (a ModelLoad VarScopeError of one line), or a failure when it loads. */
  const refusal = (dir: string) => loadRefusal(() => load(dir), dir);

  it('a wrong field is refused in one line naming varscope.json, the field path, what it must be and what it is', async () => {
    const cases: Array<[string, unknown, string]> = [
      ['normalization.mean', 'abc', 'normalization.mean must be a finite number (got "abc")'],
      ['normalization.background', ['x', 'y', 'z'], 'normalization.background must be 3 integers in [0, 255] (RGB) (got ["x", "y", "z"])'],
      ['normalization.background', [255, 255], 'normalization.background must be 3 integers in [0, 255] (RGB) (got [255, 255])'],
      ['normalization.background', [0, 300, 0], 'normalization.background must be 3 integers in [0, 255] (RGB) (got [0, 300, 0])'],
      ['normalization.std', 0, 'normalization.std must be a finite number > 0 (got 0)'],
      ['normalization.std', -0.5, 'normalization.std must be a finite number > 0 (got -0.5)'],
      ['patchNums', [1, 2, 2, 4], 'patchNums must be a non-empty array of increasing positive integers (got [1, 2, 2, …] (4 items))'],
      ['patchNums', [], 'patchNums must be a non-empty array of increasing positive integers (got [])'],
      ['vae.vocabSize', -512, 'vae.vocabSize must be a positive integer (at most 2147483647) (got -512)'],
      ['vae.vocabSize', 1e300, 'vae.vocabSize must be a positive integer (at most 2147483647) (got 1e+300)'],
      ['vae.Cvae', '16', 'vae.Cvae must be a positive integer (at most 2147483647) (got "16")'],
      ['vae.chMult', [1, 0], 'vae.chMult must be a non-empty array of positive integers (got [1, 0])'],
      ['var.numHeads', 0, 'var.numHeads must be a positive integer (at most 2147483647) (got 0)'],
      ['var', undefined, 'var is missing'],
      ['tokenCount', null, 'tokenCount must be a positive integer (at most 2147483647) (got null)'],
      ['phiIndexPerScale', 'all', 'phiIndexPerScale must be an array of non-negative integers (got "all")'],
      ['classes', [1, 2], 'classes must be an array of class names (strings of one line) (got [1, 2])'],
      ['sampling.cfg', 1e39, 'sampling.cfg must be a number in [0, 100], got 1e+39'],
      ['sampling.topP', 'high', 'sampling.topP must be a number in [0, 1], got "high"'],
      [
        'graphs.encoder.inputs.image.dtype',
        'float64',
        'graphs.encoder.inputs.image.dtype must be "float32", "float16" or "int64" (got "float64")',
      ],
      ['graphs.decoder.file', 42, 'graphs.decoder.file must be a relative file path of one line (got 42)'],
      ['codebook.dims', 'abc', 'codebook.dims must be an array of non-negative integers (got "abc")'],
      ['trainingHits.dtype', 'uint8', 'trainingHits.dtype must be "float32", "int64" or "int32" (got "uint8")'],
      [
        'interpolation.up.3.0.1',
        'x',
        'interpolation.up[3] must be a matrix (an array of rows of numbers in [-2, 2]) (got [[…], […], […], …] (16 items))',
      ],
      ['provenance.sources', 'vae.pth', 'provenance.sources must be an array of objects (got "vae.pth")'],
      ['name', 'two\nlines', 'name must be a string of one line (got "two\\nlines")'],
    ];
    for (const [at, value, want] of cases) {
      const dir = variant((m) => set(m, at, value));
      assert.strictEqual(await refusal(dir), `${path.join(dir, 'varscope.json')}: ${want}`, at);
    }
  });

  it('a files entry without its sha256 is named with its path', async () => {
    const dir = variant((m) => set(Object.values(m.files)[0], 'sha256', 'xyz'));
    const rel = path.relative(dir, path.join(src, 'attention.onnx'));
    assert.strictEqual(
      await refusal(dir),
      `${path.join(dir, 'varscope.json')}: files[${JSON.stringify(rel)}].sha256 must be 64 lowercase hex digits (got "xyz")`,
    );
  });

  it('every required field of the schema, when absent, is named as missing', async () => {
    const required = MANIFEST_SCHEMA.map(([at]) => at).filter((at) => !/[?*{]/.test(at));
    assert.ok(required.length > 40, String(required.length));
    for (const at of required) {
      const dir = variant((m) => set(m, at, undefined));
      assert.strictEqual(await refusal(dir), `${path.join(dir, 'varscope.json')}: ${at} is missing`);
    }
  });

  it('unknown fields are allowed, and absent or null optional fields mean their defaults', async () => {
    const dir = variant((m) => {
      set(m, 'futureField', { nested: [1, 2, 3] });
      set(m, 'vae.futureFact', 'x');
      set(m, 'classes', undefined);
      set(m, 'sampling', null);
      set(m, 'description', undefined);
    });
    const b = await load(dir);
    assert.strictEqual(b.info().classes[3], 'class 3');
    assert.deepStrictEqual(b.info().sampling, { cfg: 4, topK: 900, topP: 0.96 });
  });

  it('a graph or codebook file named after an Object.prototype member still needs its sha256 in "files"', async () => {
    for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      for (const role of ['encoder', 'codebook'] as const) {
        const dir = variant((m, d) => {
          // A damaged copy: without a files entry, nothing would hash it.
          const b = fs.readFileSync(path.join(src, role === 'codebook' ? 'codebook.bin' : 'encoder.onnx'));
          b[b.length - 1] ^= 0xff;
          fs.writeFileSync(path.join(d, name), b);
          if (role === 'codebook') m.codebook.file = name;
          else m.graphs.encoder.file = name;
        });
        assert.match(await refusal(dir), new RegExp(`varscope\\.json: ${name} has no sha256 in "files"; re-export`), `${role} ${name}`);
      }
    }
  });

  it('a varscope.json nested 10^6 deep is refused in one line naming the file', async () => {
    const deep = `${'['.repeat(1e6)}${']'.repeat(1e6)}`;
    for (const field of ['format', 'version', 'id', 'beginEnds', 'normalization']) {
      const dir = variant();
      const file = path.join(dir, 'varscope.json');
      const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
      m[field] = 0;
      fs.writeFileSync(file, JSON.stringify(m).replace(`"${field}":0`, `"${field}":${deep}`));
      assert.match(
        await refusal(dir),
        /varscope\.json: nested more than 64 levels deep \(at character \d+\); a VARScope manifest nests 6$/,
        field,
      );
    }
  });
});
