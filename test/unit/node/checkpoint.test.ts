/**
 * The TypeScript checkpoint reader against torch itself: checkpoints written by both torches (every dtype, views,
 * shared storages, pickle protocol 4, the official trainer's ar-ckpt with AdamW state, safetensors, a big-endian
 * archive) and the official fixtures, each tensor's key, dtype, shape and bytes equal to what the Python exporter
 * loads (test/unit/node/checkpointTorch.py dumps their sha256).
 */
import * as assert from 'assert';
import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { isCheckpointComplete, readCheckpoint, toFloat32, type StateDict } from '../../../src/node/checkpoint';
import { CheckpointFile } from '../../../src/node/checkpoint/checkpointFile';
import { findStateDicts } from '../../../src/node/checkpoint/layouts';
import { readTorchZip } from '../../../src/node/checkpoint/torchZip';
import { fixture, loadRefusal, ROOT } from '../fixtures';

/** One tensor as torch reads it. */
interface Expected {
  key: string;
  dtype: string;
  shape: number[];
  sha256: string;
  float32: string | null;
}
interface ExpectedFile {
  roles: { vae?: Expected[]; var?: Expected[] };
  meta: { epoch?: number; iter?: number; args?: unknown; trainerConfig?: unknown };
  stateDicts: Record<string, Expected[]>;
}

const PYTHONS: Array<[string, string]> = [
  ['torch 1.13', '/usr/bin/python3'],
  ['torch 2', path.join(ROOT, '.venv-torch2', 'bin', 'python')],
];
const INFINITY = path.join(ROOT, 'test', 'fixtures', 'infinity');
const infinityFiles = () =>
  fs
    .readdirSync(INFINITY)
    .flatMap((d) => ['vae.pth', 'infinity.pth'].map((f) => path.join(INFINITY, d, f)))
    .filter((f) => fs.existsSync(f));

const sha256 = (b: Buffer | Float32Array) =>
  createHash('sha256')
    .update(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
    .digest('hex');

/** x with every NaN as the NaN 0x7fc00000, as checkpointTorch.py hashes it (torch 2 and 1.13 differ in NaN payloads). */
function oneNaN(x: Float32Array): Float32Array {
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  for (let i = 0; i < x.length; i++) if (Number.isNaN(x[i])) bits[i] = 0x7fc00000;
  return x;
}

/** Every tensor of `sd` read and compared with torch's (its float32 conversion too). */
async function assertTensors(sd: StateDict, expected: Expected[], where: string): Promise<void> {
  assert.deepStrictEqual(
    [...sd.keys()],
    expected.map((e) => e.key),
    `${where}: keys`,
  );
  for (const e of expected) {
    const t = sd.get(e.key)!;
    assert.deepStrictEqual([t.dtype, t.shape], [e.dtype, e.shape], `${where} ${e.key}`);
    const bytes = await t.read();
    assert.strictEqual(bytes.length, t.byteLength, `${where} ${e.key}: byteLength`);
    assert.strictEqual(sha256(bytes), e.sha256, `${where} ${e.key}: bytes`);
    if (e.float32 !== null)
      assert.strictEqual(sha256(oneNaN(toFloat32(bytes, t.dtype as 'float16'))), e.float32, `${where} ${e.key}: as float32`);
  }
}

for (const [torchName, python] of PYTHONS) {
  describe(`checkpoint reader: files written by ${torchName}`, function () {
    let dir: string;
    let expected: Record<string, ExpectedFile>;
    const official = () => [fixture('vae.pth'), fixture('var.pth')];

    before(function () {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-ckpt-'));
      const script = path.join(ROOT, 'test', 'unit', 'node', 'checkpointTorch.py');
      const r = spawnSync(python, [script, dir, ...official(), ...infinityFiles()], {
        encoding: 'utf8',
        env: { ...process.env, PYTHONPATH: path.join(ROOT, 'python') },
        maxBuffer: 64 << 20,
      });
      assert.strictEqual(r.status, 0, r.stderr);
      expected = JSON.parse(r.stdout).files;
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('reads each role as the Python exporter loads it: keys, dtypes, shapes and bytes, views and shared storages included', async () => {
      const files = ['plain.pth', 'protocol4.pth', 'ar-ckpt-last.pth', 'vae.pth', 'var.safetensors']
        .map((f) => path.join(dir, f))
        .concat(official());
      for (const file of files) {
        const want = expected[file];
        const c = await readCheckpoint(file);
        try {
          assert.strictEqual(c.format, file.endsWith('.safetensors') ? 'safetensors' : 'torch-zip');
          assert.deepStrictEqual(Object.keys(c.roles).sort(), Object.keys(want.roles).sort(), `${file}: roles`);
          for (const role of ['vae', 'var'] as const)
            if (want.roles[role]) await assertTensors(c.roles[role]!, want.roles[role]!, `${file} ${role}`);
        } finally {
          await c.close();
        }
      }
    });

    it("reads the trainer's epoch, iter, args and config; the models under the exporter's names (no DDP prefix, canonical Phi)", async () => {
      const file = path.join(dir, 'ar-ckpt-last.pth');
      const c = await readCheckpoint(file);
      await c.close();
      assert.deepStrictEqual(c.meta, expected[file].meta);
      assert.deepStrictEqual(c.meta.args, {
        depth: 16,
        tblr: 1e-4,
        exp_name: 'text',
        pn: '1_2_3',
        flags: [true, null],
        nested: { a: 1.5 },
      });
      assert.deepStrictEqual(c.meta.trainerConfig, { patch_nums: [1, 2, 3], resos: [16, 32, 48], prog_it: 0 });
      assert.ok(c.roles.var!.has('class_emb.weight') && !c.roles.var!.has('module.class_emb.weight'), 'DDP prefix stripped');
      assert.ok(c.roles.vae!.has('quantize.quant_resi.qresi_ls.0.weight'), 'shared Phi under its canonical name');
    });

    it('reads a big-endian archive (byteorder "big") as the little-endian one it was made from', async () => {
      const c = await readCheckpoint(path.join(dir, 'big-endian.pth'));
      try {
        await assertTensors(c.roles.var!, expected[path.join(dir, 'small.pth')].roles.var!, 'big-endian.pth');
      } finally {
        await c.close();
      }
    });

    it('reads every tensor of the Infinity fixtures (no VAR role) as torch does, and opens them as Infinity (BSQ VAE, transformer)', async () => {
      const files = infinityFiles();
      assert.ok(files.length >= 2, 'the Infinity fixtures are missing');
      for (const file of files) {
        const f = await CheckpointFile.open(file);
        try {
          const found = new Map(findStateDicts(await readTorchZip(f)));
          const want = expected[file].stateDicts;
          assert.deepStrictEqual([...found.keys()], Object.keys(want), `${file}: state_dicts`);
          for (const [p, sd] of found) {
            const entries = new Map(
              [...sd].map(([k, t]) => [k, { key: k, dtype: t.dtype, shape: [...t.shape], byteLength: t.byteLength, read: t.read }]),
            );
            await assertTensors(entries, want[p], `${file} ${p}`);
          }
        } finally {
          await f.close();
        }
        // no VAR role (Python's VAR extract finds none), but an Infinity model's: the BSQ VAE, or the transformer
        assert.deepStrictEqual(expected[file].roles, {});
        const c = await readCheckpoint(file);
        try {
          assert.strictEqual(c.family, 'infinity');
          assert.deepStrictEqual(Object.keys(c.roles), [path.basename(file) === 'vae.pth' ? 'vae' : 'var'], file);
        } finally {
          await c.close();
        }
      }
    });

    it('refuses, in one line each: a legacy torch.save file, TorchScript, a storage missing from the archive, compressed members', async () => {
      assert.match(
        await loadRefusal(() => readCheckpoint(path.join(dir, 'torchscript.pt')), 'torchscript'),
        /a TorchScript archive \(torch\.jit\.save\), not a checkpoint of weights/,
      );
      const refusal = (name: string) => loadRefusal(() => readCheckpoint(path.join(dir, name)), name);
      assert.match(await refusal('legacy.pth'), /a legacy torch\.save file .* only the Python export path reads$/);
      assert.match(await refusal('missing-storage.pth'), /damaged PyTorch checkpoint: storage "0" has no record "data\/0"/);
      assert.match(
        await refusal('deflated.pth'),
        /zip member ".*" is compressed \(zip method 8\); torch\.save stores its members uncompressed/,
      );
    });

    it('tells a whole file from one cut short while torch.save writes it', async () => {
      for (const name of ['plain.pth', 'var.safetensors']) {
        const file = path.join(dir, name);
        assert.strictEqual(await isCheckpointComplete(file), true, name);
        const whole = fs.readFileSync(file);
        const cut = path.join(dir, `cut-${name}`);
        for (const n of [0, 10, whole.length >> 1, whole.length - 30, whole.length - 1]) {
          fs.writeFileSync(cut, whole.subarray(0, n));
          assert.strictEqual(await isCheckpointComplete(cut), false, `${name} cut at ${n} bytes`);
        }
        fs.writeFileSync(cut, whole.subarray(0, whole.length >> 1));
        assert.match(
          await loadRefusal(() => readCheckpoint(cut), name),
          /truncated|not a complete zip archive|header length \d+ for a \d+-byte file/,
        );
      }
    });
  });
}
