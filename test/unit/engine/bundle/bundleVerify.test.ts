/**
 * What the hash check of a bundle cannot be talked out of: a change that restores size and mtime (`touch -r`), one
 * file listed under thousands of spellings, and ONNX external data ranges that lie outside their file. Each on a
 * copy of the fixture bundle made in the test.
 */
import * as assert from 'assert';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ModelBundle } from '../../../../src/engine/bundle/bundle';
import { verifyBundleFiles } from '../../../../src/engine/bundle/bundleVerify';
import { externalRange, readInitializers } from '../../../../src/engine/bundle/onnxInitializers';
import type { OnnxRuntime } from '../../../../src/engine/runtime/onnxRuntime';
import type { BundleManifest } from '../../../../src/shared/manifest';
import { loadRefusal, requireBundle } from '../../fixtures';

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Protobuf wire format, enough to write a ModelProto holding initializers (see src/engine/bundle/onnxInitializers.ts). */
function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 128; n = Math.floor(n / 128)) out.push((n % 128) | 128);
  out.push(n);
  return out;
}
const bytesField = (num: number, payload: number[]) => [...varint(num * 8 + 2), ...varint(payload.length), ...payload];
const intField = (num: number, v: number) => [...varint(num * 8), ...varint(v)];
const text = (s: string) => [...Buffer.from(s, 'utf8')];

/** A graph file with one float32 initializer `name` [dims] stored as external data with these entries. */
function externalGraph(name: string, dims: number[], external: Record<string, string>): Buffer {
  const entries = Object.entries(external).flatMap(([k, v]) => bytesField(13, [...bytesField(1, text(k)), ...bytesField(2, text(v))]));
  const tensor = [...dims.flatMap((d) => intField(1, d)), ...intField(2, 1), ...bytesField(8, text(name)), ...entries];
  return Buffer.from(bytesField(7, bytesField(5, tensor)));
}

describe('bundle integrity: the hash cache, file spellings, external data ranges', function () {
  this.timeout(120000);
  let tmp: string;
  let copies = 0;
  const runtime = {} as OnnxRuntime; // loading opens no graph

  before(() => {
    requireBundle();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-integrity-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** A copy of the fixture bundle; `edit` changes its files and manifest, then the hashes of `rehash` are recorded. */
  function copy(edit: (dir: string, m: BundleManifest) => void = () => undefined, rehash: string[] = []): string {
    const dir = path.join(tmp, `b${copies++}`);
    fs.cpSync(requireBundle(), dir, { recursive: true });
    const file = path.join(dir, 'varscope.json');
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as BundleManifest;
    edit(dir, m);
    for (const rel of rehash) m.files[rel] = { sha256: sha256(path.join(dir, rel)), bytes: fs.statSync(path.join(dir, rel)).size };
    fs.writeFileSync(file, JSON.stringify(m));
    return dir;
  }
  const manifestOf = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'varscope.json'), 'utf8')) as BundleManifest;

  /** The loader's refusal of a bundle: a ModelLoad VarScopeError of one line (a failure when it loads). */
  const refusal = (dir: string) =>
    loadRefusal(() => ModelBundle.load(dir, runtime, { cacheFile: path.join(tmp, `cache${copies}`, 'verified.json') }), dir);

  describe('class 1: the verified-hash cache', () => {
    for (const how of ['changed in place', 'replaced by another file'] as const) {
      it(`a cached file ${how}, same size, its mtime restored (touch -r), is hashed again and refused`, async () => {
        const dir = copy();
        const m = manifestOf(dir);
        const cache = path.join(tmp, `cache-touch-${copies}`, 'verified.json');
        const f = path.join(dir, 'codebook.bin');
        fs.utimesSync(f, 1e9, 1e9); // whole seconds: restored exactly below, as touch -r does
        assert.deepStrictEqual((await verifyBundleFiles(dir, m, 'hint', cache)).hashed.includes('codebook.bin'), true);
        const b = fs.readFileSync(f);
        b[10] ^= 1;
        if (how === 'changed in place') fs.writeFileSync(f, b);
        else {
          fs.writeFileSync(`${f}.new`, b);
          fs.renameSync(`${f}.new`, f);
        }
        fs.utimesSync(f, 1e9, 1e9);
        assert.strictEqual(fs.statSync(f).mtimeMs, 1e12);
        await assert.rejects(verifyBundleFiles(dir, m, 'hint', cache), (e: Error) => {
          assert.match(e.message, /^official-var-A: codebook\.bin does not match the sha256 recorded at export/);
          return true;
        });
      });
    }

    it('an unchanged file is still taken from the cache', async () => {
      const dir = copy();
      const m = manifestOf(dir);
      const cache = path.join(tmp, 'cache-same', 'verified.json');
      await verifyBundleFiles(dir, m, 'hint', cache);
      const again = await verifyBundleFiles(dir, m, 'hint', cache);
      assert.deepStrictEqual([again.hashed, again.cached.length], [[], Object.keys(m.files).length]);
    });
  });

  describe('class 5: one file under many spellings', () => {
    it('20,000 spellings of codebook.bin ("aN/../codebook.bin") are refused at once, before any hashing', async () => {
      let listed = 0;
      const dir = copy((_, m) => {
        for (let i = 0; i < 20000; i++) m.files[`a${i}/../codebook.bin`] = m.files['codebook.bin'];
        listed = Object.keys(m.files).length;
      });
      const t0 = Date.now();
      assert.strictEqual(await refusal(dir), `${path.join(dir, 'varscope.json')}: files must list at most 1024 files (got ${listed})`);
      assert.ok(Date.now() - t0 < 10000, `${Date.now() - t0} ms`);
    });

    it('a spelling that is not in normal form is refused with the one to write', async () => {
      const dir = copy((_, m) => (m.files['a0/../codebook.bin'] = m.files['codebook.bin']));
      assert.strictEqual(
        await refusal(dir),
        `${path.join(dir, 'varscope.json')}: files["a0/../codebook.bin"] is not a file path in normal form: write "codebook.bin" (each file has one spelling)`,
      );
      const abs = copy((_, m) => (m.files['/etc/hostname'] = m.files['codebook.bin']));
      assert.strictEqual(
        await refusal(abs),
        `${path.join(abs, 'varscope.json')}: files["/etc/hostname"] must be relative to the bundle folder (got "/etc/hostname")`,
      );
    });

    it('two normal spellings of one real file ("../bN/weights.bin") hash it once', async () => {
      const dir = copy();
      const m = manifestOf(dir);
      const alias = `../${path.basename(dir)}/weights.bin`;
      m.files[alias] = m.files['weights.bin'];
      const r = await verifyBundleFiles(dir, m, 'hint', path.join(tmp, 'cache-alias', 'verified.json'));
      assert.deepStrictEqual(r.aliases, [alias]);
      assert.deepStrictEqual(
        r.hashed.sort(),
        Object.keys(m.files)
          .filter((f) => f !== alias)
          .sort(),
      );
    });
  });

  describe('class 3: ONNX external data outside its file', () => {
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      [
        'length 10^12',
        { length: '1000000000000' },
        /external data offset 0 \+ length 1000000000000 runs past the end of "weights\.bin" \(\d+ bytes\)$/,
      ],
      [
        'length 6·10^9',
        { length: '6000000000' },
        /external data offset 0 \+ length 6000000000 runs past the end of "weights\.bin" \(\d+ bytes\)$/,
      ],
      [
        'an offset past the end',
        { offset: '999999999', length: '40' },
        /external data offset 999999999 \+ length 40 runs past the end of "weights\.bin"/,
      ],
      ['a length its dims do not need', { length: '44' }, /external data length 44, its dims \[10\] of data type 1 need 40 bytes$/],
      ['an offset that is not a number', { offset: '-5' }, /external data offset "-5" is not a byte count$/],
    ];
    for (const [what, ext, want] of cases) {
      it(`${what}: refused in one line naming the graph file and the initializer`, async () => {
        const dir = copy(
          (d) => fs.writeFileSync(path.join(d, 'decoder.onnx'), externalGraph('decoder.w', [10], { location: 'weights.bin', ...ext })),
          ['decoder.onnx'],
        );
        const message = await refusal(dir);
        assert.ok(message.startsWith(`${path.join(dir, 'decoder.onnx')} (decoder): initializer "decoder.w": `), message);
        assert.match(message, want);
      });
    }

    it('the fixture graphs: every external range lies in weights.bin and has the bytes its dims need', () => {
      const dir = requireBundle();
      const size = fs.statSync(path.join(dir, 'weights.bin')).size;
      const inits = readInitializers(fs.readFileSync(path.join(dir, 'transformer.onnx'))).filter((t) => t.external);
      assert.ok(inits.length > 10);
      const ranges = inits.map((t) => externalRange(t, size));
      assert.ok(ranges.every((r) => r.location === 'weights.bin' && r.offset + r.length <= size));
      assert.throws(() => externalRange(inits[0], ranges[0].offset + ranges[0].length - 1), /runs past the end of "weights\.bin"/);
    });
  });
});
