/**
 * A checkpoint made into a bundle without Python: the official fixture checkpoints, read by the TypeScript reader and
 * written from the template of their architecture (the fixture bundle, exported by Python), give that bundle's graphs
 * and weight files byte for byte; a template kept in a store (constants only, sparse) does the same; an official
 * trainer checkpoint (ar-ckpt, written by the simulated trainer) opens through it with its epoch; with no template
 * and no Python the error says why.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CheckpointBundler } from '../../../src/client/checkpointBundler';
import { Engine } from '../../../src/engine/engine';
import { tokenize } from '../../../src/engine/model/tokenizer';
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

  it('a kept template holds the constants alone (sparse) and writes the same bundle', async () => {
    const store = path.join(work, 'store');
    const kept = await keepTemplate(bundle, store);
    assert.ok(kept && fs.existsSync(path.join(kept, 'weightMap.json')));
    const weights = fs.statSync(path.join(kept, 'weights.bin'));
    assert.strictEqual(weights.size, fs.statSync(path.join(bundle, 'weights.bin')).size);
    assert.ok(weights.blocks * 512 < weights.size / 4, `the kept weights.bin takes ${weights.blocks * 512} bytes of ${weights.size}`);
    assert.strictEqual(await keepTemplate(bundle, store), kept, 'kept once');
    const out = path.join(work, 'from-store');
    const made = await new CheckpointBundler({ templateFolders: [store], store }).make(pair(), out, { id: 'x', name: 'x' });
    assert.strictEqual(made.via, 'template');
    assertSameAsFixtureBundle(out);
  });

  it("an official trainer checkpoint (ar-ckpt) opens through the template at its epoch; its VQ-VAE's tokens are the fixture's", async () => {
    const run = path.join(work, 'run');
    execFileSync(
      '/usr/bin/python3',
      [
        path.join(ROOT, 'test', 'integration', 'simulated_trainer.py'),
        '--vae',
        pair().vae,
        '--var',
        pair().var,
        '--out',
        run,
        '--epochs',
        '2',
        '--every',
        '0',
      ],
      { stdio: 'pipe' },
    );
    const bundler = new CheckpointBundler({ templateFolders: [path.dirname(bundle)], store: path.join(work, 'store') });
    const file = path.join(run, 'ar-ckpt-last.pth');
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
