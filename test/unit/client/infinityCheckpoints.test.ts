/**
 * Infinity checkpoints through the one path every checkpoint takes (CheckpointBundler: Open Checkpoint, the cache,
 * the timeline): the TypeScript reader says the family and the roles (BSQ VAE, transformer) of the fixture's slim
 * files and of an ar-ckpt; the bundle is written by python -m varscope.infinity.export and opens as an Infinity model
 * whose bits are the official tokenizer's; a pair of two families, or no Python, is refused in one line.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CheckpointBundler } from '../../../src/client/checkpointBundler';
import { parseExportLine, pythonPackageDir } from '../../../src/client/checkpointExport';
import { Engine } from '../../../src/engine/engine';
import { listCheckpoints } from '../../../src/node/checkpointList';
import { FIXTURES, ROOT } from '../fixtures';
import { readNpy } from '../npy';

const A = path.join(ROOT, 'test', 'fixtures', 'infinity', 'infinity-A');

describe('CheckpointBundler on Infinity checkpoints (slim and ar-ckpt)', function () {
  this.timeout(600000);
  let work: string;
  const withPython = () =>
    new CheckpointBundler({
      templateFolders: [],
      store: path.join(work, 'store'),
      python: async (signal) => ({ python: '/usr/bin/python3', packageDir: pythonPackageDir(ROOT), signal }),
    });

  before(() => (work = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-infinity-ckpt-'))));
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  /** The bits of the fixture image through the bundle at `dir`, as the official tokenizer's. */
  async function assertOfficialBits(dir: string): Promise<void> {
    const engine = new Engine();
    try {
      await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
      assert.strictEqual(await engine.modelFamily({ model: dir }), 'infinity');
      const r = await engine.inspectBits({ model: dir, image: { path: path.join(A, 'image.png') } });
      const bits = readNpy(path.join(A, 'tok_bits.npy')).data as Uint8Array;
      const ours = new Uint8Array(r.scales.flatMap((s) => Array.from(s.bits)));
      assert.ok(Buffer.from(ours).equals(Buffer.from(bits)), 'bits differ from tok_bits');
    } finally {
      await engine.dispose();
    }
  }

  it('describe() gives the family and roles of the slim files; make() exports them with Python into a bundle with the official bits', async () => {
    const bundler = withPython();
    const d = await bundler.describe([path.join(A, 'vae.pth'), path.join(A, 'infinity.pth')]);
    assert.deepStrictEqual(
      d.map((x) => [x.family, x.roles, x.error]),
      [
        ['infinity', ['vae'], null],
        ['infinity', ['var'], null],
      ],
    );
    const out = path.join(work, 'slim');
    const stages: string[] = [];
    const made = await bundler.make({ vae: path.join(A, 'vae.pth'), var: path.join(A, 'infinity.pth') }, out, {
      id: 'a',
      name: 'a',
      onStage: (s) => stages.push(s.message),
    });
    assert.strictEqual(made.via, 'python');
    assert.ok(stages.includes('export infinityTransformer (hw1.000-0.06M)'), stages.join(' | '));
    assert.deepStrictEqual(parseExportLine('exporting infinityTransformer-hw0.750-0.25M.onnx'), {
      stage: 'graph',
      message: 'export infinityTransformer (hw0.750-0.25M)',
      k: 4,
      n: 6,
    });
    assert.ok(stages.includes('verify: the graphs in onnxruntime'), stages.join(' | '));
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'varscope.json'), 'utf8'));
    assert.strictEqual(manifest.family, 'infinity');
    // the exporter ran every graph against PyTorch: the bits exact, the logits within the verifier's 5e-5
    assert.strictEqual(manifest.provenance.verification['bsqEncoder.bits'], 0);
    assert.ok(manifest.provenance.verification['infinityStep.logits'] <= 5e-5, JSON.stringify(manifest.provenance.verification));
    assert.deepStrictEqual(
      listCheckpoints(work).map((c) => [c.kind, c.kind === 'bundle' && c.family]),
      [['bundle', 'infinity']],
    );
    await assertOfficialBits(out);
  });

  it("an ar-ckpt (the trainer's gpt_fsdp and vae_local, its args) opens as one file at its epoch", async () => {
    const ar = path.join(work, 'ar-ckpt-ep3.pth');
    execFileSync(
      '/usr/bin/python3',
      [
        '-c',
        [
          'import sys, torch',
          'slim = torch.load(sys.argv[1]); vae = torch.load(sys.argv[2])["vae"]',
          'args = dict(rope2d_normalized_by_hw=2, use_bit_label=1, saln=True, cos=True, Ct5=128)',
          'torch.save({"args": args, "epoch": 3, "iter": 7, "trainer": {"gpt_fsdp": slim, "vae_local": vae}}, sys.argv[3])',
        ].join('\n'),
        path.join(A, 'infinity.pth'),
        path.join(A, 'vae.pth'),
        ar,
      ],
      { stdio: 'pipe' },
    );
    const bundler = withPython();
    const [d] = await bundler.describe([ar]);
    assert.deepStrictEqual([d.family, d.roles], ['infinity', ['vae', 'var']]);
    const out = path.join(work, 'ar');
    const made = await bundler.make({ vae: ar, var: ar }, out, { id: 'ar', name: 'ar' });
    assert.deepStrictEqual([made.via, made.epoch, made.iter], ['python', 3, 7]);
    await assertOfficialBits(out);
  });

  it('a VAR checkpoint paired with an Infinity one, or an Infinity pair without Python, is refused in one line', async () => {
    const bundler = withPython();
    const mixed = { vae: path.join(FIXTURES, 'vae.pth'), var: path.join(A, 'infinity.pth') };
    await assert.rejects(
      bundler.make(mixed, path.join(work, 'mixed'), { id: 'x', name: 'x' }),
      (e: Error) =>
        e.message === `${mixed.var} is an Infinity checkpoint and ${mixed.vae} a VAR one: a model's two checkpoints are of one family`,
    );
    const noPython = new CheckpointBundler({ templateFolders: [], store: path.join(work, 'store') });
    await assert.rejects(
      noPython.make({ vae: path.join(A, 'vae.pth'), var: path.join(A, 'infinity.pth') }, path.join(work, 'none'), { id: 'x', name: 'x' }),
      (e: Error) => e.message === 'infinity.pth: an Infinity checkpoint, which needs Python to export (varscope.pythonPath / --python)',
    );
    assert.ok(!fs.existsSync(path.join(work, 'mixed')) && !fs.existsSync(path.join(work, 'none')));
  });
});
