/**
 * A checkpoint made into a bundle without Python: the official fixture checkpoints, read by the TypeScript reader and
 * written from the template of their architecture (the fixture bundle, exported by Python), give that bundle's graphs
 * and weight files byte for byte; a template kept in a store (compact: constants.bin, no weight files) does the same; an official
 * trainer checkpoint (ar-ckpt, written by the simulated trainer) opens through it with its epoch; the consistency check
 * on open catches an ar-ckpt's patch numbers and a paired VQ-VAE that differ from the bundle's; with no template and
 * no Python the error says why.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CheckpointBundler } from '../../../src/client/checkpointBundler';
import { Engine } from '../../../src/engine/engine';
import { tokenize } from '../../../src/engine/model/tokenizer';
import { readCheckpoint } from '../../../src/node/checkpoint';
import { keepTemplate } from '../../../src/node/templateStore';
import { fixture, FIXTURES, requireBundle, ROOT } from '../fixtures';

const read = (dir: string, name: string) => fs.readFileSync(path.join(dir, name));

describe('CheckpointBundler: checkpoints to bundles through architecture templates', function () {
  this.timeout(600000);
  let work: string;
  let bundle: string;
  const pair = () => ({ vae: path.join(FIXTURES, 'vae.pth'), var: path.join(FIXTURES, 'var.pth') });

  before(() => {
    bundle = requireBundle();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-bundler-'));
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  /** Graphs and weight files of `dir` equal the fixture bundle's. */
  function assertSameAsFixtureBundle(dir: string): void {
    const manifest = JSON.parse(read(bundle, 'varscope.json').toString('utf8')) as { graphs: Record<string, { file: string }> };
    for (const name of [...Object.values(manifest.graphs).map((g) => g.file), 'weights.bin', 'codebook.bin', 'weightMap.json'])
      assert.ok(read(dir, name).equals(read(bundle, name)), `${name} differs from the Python export's`);
  }

  it('the fixture checkpoints, from the fixture bundle as template, give its graphs and weights byte for byte, without Python', async () => {
    const bundler = new CheckpointBundler({ templateFolders: [path.dirname(bundle)], store: path.join(work, 'store') });
    const out = path.join(work, 'from-bundle');
    const made = await bundler.make(pair(), out, { id: 'x', name: 'x' });
    assert.strictEqual(made.via, 'template');
    assertSameAsFixtureBundle(out);
  });

  it('a kept template is compact (graphs, map, constants.bin; no weight files) and writes the same bundle', async () => {
    const store = path.join(work, 'store');
    const kept = await keepTemplate(bundle, store);
    assert.ok(kept && fs.existsSync(path.join(kept, 'weightMap.json')));
    const names = fs.readdirSync(kept).sort();
    for (const name of ['weights.bin', 'codebook.bin', 'trainingHits.bin']) assert.ok(!names.includes(name), `${name} kept`);
    const manifest = JSON.parse(read(kept, 'varscope.json').toString('utf8'));
    assert.deepStrictEqual(
      Object.keys(manifest.files),
      names.filter((n) => n !== 'varscope.json'),
    );
    assert.strictEqual(manifest.template.constants, 'constants.bin');
    const bytes = names.reduce((n, f) => n + fs.statSync(path.join(kept, f)).size, 0);
    assert.ok(bytes < fs.statSync(path.join(bundle, 'weights.bin')).size / 4, `the kept template takes ${bytes} bytes`);
    assert.strictEqual(await keepTemplate(bundle, store), kept, 'kept once');
    const out = path.join(work, 'from-store');
    const made = await new CheckpointBundler({ templateFolders: [store], store }).make(pair(), out, { id: 'x', name: 'x' });
    assert.strictEqual(made.via, 'template');
    assertSameAsFixtureBundle(out);
  });

  /** The simulated trainer's ar-ckpt-last.pth (epoch 2) in `work/run`, written once. */
  function simulatedArCkpt(): string {
    const run = path.join(work, 'run');
    const file = path.join(run, 'ar-ckpt-last.pth');
    if (fs.existsSync(file)) return file;
    const script = path.join(ROOT, 'test', 'integration', 'simulated_trainer.py');
    const args = ['--vae', pair().vae, '--var', pair().var, '--out', run, '--epochs', '2', '--every', '0'];
    execFileSync('/usr/bin/python3', [script, ...args], { stdio: 'pipe' });
    return file;
  }

  /** Runs a torch snippet (torch 1.13) with argv; returns its stdout. */
  const torchSnippet = (code: string, ...argv: string[]) =>
    execFileSync('/usr/bin/python3', ['-c', `import sys, torch\ntorch.set_num_threads(2)\n${code}`, ...argv], { encoding: 'utf8' });

  it("an official trainer checkpoint (ar-ckpt) opens through the template at its epoch; its VQ-VAE's tokens are the fixture's", async () => {
    simulatedArCkpt();
    const bundler = new CheckpointBundler({ templateFolders: [path.dirname(bundle)], store: path.join(work, 'store') });
    const file = path.join(work, 'run', 'ar-ckpt-last.pth');
    const out = path.join(work, 'ar-ckpt');
    const made = await bundler.make({ vae: file, var: file }, out, { id: 'run', name: 'run' });
    assert.deepStrictEqual([made.via, made.epoch, made.iter], ['template', 2, 0]);
    assert.ok(!read(out, 'weights.bin').equals(read(bundle, 'weights.bin')), 'the trained weights moved');
    const engine = new Engine();
    try {
      await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
      const tokens = [];
      for (const dir of [out, bundle]) {
        const b = await engine.bundle(dir);
        const input = await engine.modelInput(b, { path: fixture('img0.png') });
        tokens.push(Array.from((await tokenize(b, input.tensor)).tokens));
      }
      assert.deepStrictEqual(tokens[0], tokens[1]);
    } finally {
      await engine.dispose();
    }
  });

  it("consistency: the fixture pair gives no warnings; the ar-ckpt only a note on its CFG against the bundle's sampling", async () => {
    const bundler = new CheckpointBundler({ templateFolders: [path.dirname(bundle)], store: path.join(work, 'store') });
    const plain = await bundler.make(pair(), path.join(work, 'plain-pair'), { id: 'x', name: 'x' });
    assert.deepStrictEqual(plain.warnings, []);
    const file = simulatedArCkpt();
    const made = await bundler.make({ vae: file, var: file }, path.join(work, 'ar-ckpt-plain'), { id: 'x', name: 'x' });
    assert.deepStrictEqual(made.warnings, [
      {
        check: 'samplingArgs',
        model: 'cfg 1.5',
        given: 'cfg 4',
        message: 'note: the run was configured with cfg 1.5; the bundle samples with cfg 4 by default',
      },
    ]);
  });

  it('consistency: an ar-ckpt whose args.pn and trainer.config.patch_nums differ from the bundle is one warning naming both', async () => {
    const file = path.join(work, 'ar-ckpt-pn.pth');
    torchSnippet(
      "c = torch.load(sys.argv[1])\nc['args']['pn'] = '1_2_3_4_6_9_13_16'\nc['trainer']['config']['patch_nums'] = (1, 2, 3, 4, 6, 9, 13, 16)\ntorch.save(c, sys.argv[2])",
      simulatedArCkpt(),
      file,
    );
    const bundler = new CheckpointBundler({ templateFolders: [path.dirname(bundle)], store: path.join(work, 'store') });
    const made = await bundler.make({ vae: file, var: file }, path.join(work, 'ar-ckpt-pn'), { id: 'x', name: 'x' });
    const pn = made.warnings!.filter((w) => w.check === 'patchNums');
    assert.deepStrictEqual(pn, [
      {
        check: 'patchNums',
        model: "args.pn '1_2_3_4_6_9_13_16'",
        given: 'patchNums (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)',
        message:
          "patch numbers differ: the checkpoint says args.pn '1_2_3_4_6_9_13_16', the bundle has patchNums (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)",
      },
    ]);
  });

  it('consistency: an ar-ckpt paired with a different VQ-VAE file names the first differing tensor and how many differ', async () => {
    const vae = path.join(work, 'vae-perturbed.pth');
    const perturbed = torchSnippet(
      'sd = torch.load(sys.argv[1])\nkeys = [k for k, v in sd.items() if v.is_floating_point()][-2:]\n' +
        "for k in keys: sd[k] = sd[k] + 0.01\ntorch.save(sd, sys.argv[2])\nprint(' '.join(keys))",
      pair().vae,
      vae,
    )
      .trim()
      .split(' ');
    assert.strictEqual(perturbed.length, 2);
    const file = simulatedArCkpt();
    const bundler = new CheckpointBundler({ templateFolders: [path.dirname(bundle)], store: path.join(work, 'store') });
    const made = await bundler.make({ vae, var: file }, path.join(work, 'ar-ckpt-vae'), { id: 'x', name: 'x' });
    const count = await readCheckpoint(vae).then(async (c) => (await c.close(), c.roles.vae!.size));
    assert.deepStrictEqual(
      made.warnings!.filter((w) => w.check === 'vaePair'),
      [
        {
          check: 'vaePair',
          model: `the VQ-VAE stored in ${file}`,
          given: `the VQ-VAE of ${vae}`,
          message: `the VQ-VAE stored in ${file} differs from ${vae}, which the bundle uses: 2 of ${count} tensors differ, the first ${perturbed[0]}`,
        },
      ],
    );
    // the same VQ-VAE as a separate file: no warning
    const same = await bundler.make({ vae: pair().vae, var: file }, path.join(work, 'ar-ckpt-same-vae'), { id: 'x', name: 'x' });
    assert.deepStrictEqual(
      same.warnings!.filter((w) => w.check === 'vaePair'),
      [],
    );
  });

  it('with no template that fits and no Python, one line says so; nothing is written', async () => {
    const bundler = new CheckpointBundler({ templateFolders: [path.join(work, 'empty')], store: path.join(work, 'empty') });
    const out = path.join(work, 'none');
    await assert.rejects(bundler.make(pair(), out, { id: 'x', name: 'x' }), (e: Error) => {
      assert.strictEqual(e.message, 'var.pth: no architecture template yet, and no Python to export it (varscope.pythonPath / --python)');
      return true;
    });
    assert.ok(!fs.existsSync(out));
  });

  it('describe() reads which models a file holds without Python', async () => {
    const bundler = new CheckpointBundler({ templateFolders: [], store: path.join(work, 'store') });
    const d = await bundler.describe([pair().vae, pair().var, fixture('img0.png')]);
    assert.deepStrictEqual(
      d.map((x) => x.roles),
      [['vae'], ['var'], []],
    );
    assert.ok(d[2].error, 'an image is no checkpoint');
  });
});
