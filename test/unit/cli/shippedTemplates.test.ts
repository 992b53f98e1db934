/**
 * The released sizes open with no Python at all: a VAR-d16 checkpoint pair with random weights in the released files'
 * layout (python/tests/released_d16.py, which also runs the PyTorch reference on the image first) goes through
 * `varscope export` with no python3 on PATH and none configured; the shipped template templates/var-d16-256 writes
 * its bundle, and the engine's tokens on the image are PyTorch's, its teacher-forced logits within the official
 * fixtures' tolerance (every bias and norm of this pair differs from the template's: a template whose export merged
 * tensors of equal value would give the tokens but not these logits). About a minute on an idle machine (5 min with
 * four other jobs on its 2 cores): the pair is 1.7 GB, written once by Python and once by the template.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Engine } from '../../../src/engine/engine';
import { teacherForcedLogits } from '../../../src/engine/model/teacherForcing';
import { tokenize } from '../../../src/engine/model/tokenizer';
import { fixture, ROOT, runCli } from '../fixtures';
import { npyFloats, npyInts, readNpy } from '../npy';

/** The official fixtures' tolerance for logits (test/unit/parity/officialFixtures.test.ts). */
const TOL = 5e-5;

describe('the released sizes open with no Python: a d16 pair through the shipped template', function () {
  this.timeout(900000);
  let work: string;
  let ckpt: string;
  let image: string;

  before(() => {
    image = fixture('img0.png'); // 256 px: no resize, whose filters differ between the engine and PIL
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-released-'));
    ckpt = path.join(work, 'ckpt');
    execFileSync('/usr/bin/python3', ['-m', 'tests.released_d16', ckpt, image], {
      cwd: path.join(ROOT, 'python'),
      env: { ...process.env, PYTHONPATH: path.join(ROOT, 'python') },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it("varscope export, no python3 on PATH and none configured, writes it from templates/var-d16-256; the engine's tokens are PyTorch's", async () => {
    const nowhere = fs.mkdtempSync(path.join(work, 'empty-'));
    const out = path.join(work, 'bundle');
    const vae = path.join(ckpt, 'vae_ch160v4096z32.pth');
    const r = runCli(['export', '--vae', vae, '--var', path.join(ckpt, 'var_d16.pth'), '--out', out], {
      PATH: nowhere,
      VARSCOPE_PYTHON: path.join(nowhere, 'python3'),
      VARSCOPE_TEMPLATES: nowhere,
    });
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(r.stderr, /written from its architecture template in [\d.]+ s \(no Python\)/);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'varscope.json'), 'utf8'));
    assert.deepStrictEqual(manifest.provenance.template, { from: 'var-d16-256' });

    const engine = new Engine();
    try {
      await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
      const bundle = await engine.bundle(out);
      const t = await tokenize(bundle, (await engine.modelInput(bundle, { path: image })).tensor);
      const ref = path.join(ckpt, 'reference');
      assert.strictEqual(t.tokens.length, 680);
      assert.deepStrictEqual(Array.from(t.tokens), Array.from(npyInts(readNpy(path.join(ref, 'tokens.npy')))));
      const logits = await teacherForcedLogits(bundle, t.varInput, 3);
      const want = npyFloats(readNpy(path.join(ref, 'logits.npy')));
      assert.strictEqual(logits.length, want.length);
      let d = 0;
      for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(logits[i] - want[i]));
      assert.ok(d <= TOL, `teacher-forced logits: max abs diff ${d} > ${TOL}`);
    } finally {
      await engine.dispose();
    }
  });
});
