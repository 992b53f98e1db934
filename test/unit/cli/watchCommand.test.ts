/**
 * `varscope watch RUN_DIR --images FOLDER --once` and `varscope export` on checkpoints of an architecture whose template
 * is kept: no Python runs (the PATH holds none and --python points nowhere), the run's versions are evaluated at their
 * epochs, a copy (ar-ckpt-best of ar-ckpt-last) is not evaluated twice, and a second look finds nothing new; where a
 * trainer checkpoint's args disagree with its bundle, both commands say so on stderr and the timeline keeps it.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { keepTemplate } from '../../../src/node/templateStore';
import { fixture, FIXTURES, requireBundle, ROOT, runCli } from '../fixtures';

interface Timeline {
  format: string;
  evaluations: Array<{
    images: number;
    model: { name: string; step: number | null; checkpoint?: { epoch?: number } };
    warnings?: Array<{ check: string }>;
  }>;
}

describe('varscope watch and export through a kept template (no Python)', function () {
  this.timeout(600000);
  let work: string;
  let env: NodeJS.ProcessEnv;
  let run: string;
  let images: string;

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-cli-watch-'));
    const store = path.join(work, 'templates');
    await keepTemplate(requireBundle(), store);
    env = { VARSCOPE_TEMPLATES: store, PATH: path.dirname(process.execPath), VARSCOPE_PYTHON: '/nonexistent/python3' };
    run = path.join(work, 'local_output');
    execFileSync(
      '/usr/bin/python3',
      [
        path.join(ROOT, 'test', 'integration', 'simulated_trainer.py'),
        '--vae',
        path.join(FIXTURES, 'vae.pth'),
        '--var',
        path.join(FIXTURES, 'var.pth'),
      ].concat(['--out', run, '--epochs', '2', '--every', '0', '--best', '2']),
      { stdio: 'pipe' },
    );
    images = path.join(work, 'images');
    fs.mkdirSync(images);
    fs.copyFileSync(fixture('img0.png'), path.join(images, 'a.png'));
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('watch --once: the version there is evaluated at its epoch, the best copy is said to be the same; the timeline stays', () => {
    const r = runCli(['watch', run, '--images', images, '--once', '--settle', '0'], env);
    assert.strictEqual(r.code, 0, r.stderr);
    const t = JSON.parse(r.stdout) as Timeline;
    assert.strictEqual(t.format, 'varscope-timeline');
    assert.deepStrictEqual(
      t.evaluations.map((e) => [e.model.name, e.model.step, e.model.checkpoint?.epoch, e.images]),
      [['ar-ckpt-best.pth epoch 2', 2, 2, 1]],
    );
    assert.match(r.stderr, /varscope watch: epoch 2: 16×16 accuracy \d+\.\d % {2}\[bundle template /);
    assert.match(r.stderr, /ar-ckpt-last\.pth: the same weights as ar-ckpt-best\.pth epoch 2, not evaluated again/);
    // the trainer's args against the bundle: printed once for the version, kept in its timeline entry
    const note =
      'varscope watch (ar-ckpt-best.pth epoch 2): warning: note: the run was configured with cfg 1.5; the bundle samples with cfg 4 by default\n';
    assert.strictEqual(r.stderr.split(note).length, 2, r.stderr);
    assert.deepStrictEqual(
      t.evaluations[0].warnings?.map((w) => w.check),
      ['samplingArgs'],
    );
    assert.ok(fs.existsSync(path.join(run, 'varscope-timeline.json')));

    const again = runCli(['watch', run, '--images', images, '--once', '--settle', '0'], env);
    assert.strictEqual(again.code, 0, again.stderr);
    assert.match(again.stderr, /1 versions so far/);
    assert.strictEqual((JSON.parse(again.stdout) as Timeline).evaluations.length, 1, 'nothing evaluated twice');
  });

  it('export writes the bundle from the kept template without Python', () => {
    const out = path.join(work, 'exported');
    const r = runCli(['export', '--vae', path.join(FIXTURES, 'vae.pth'), '--var', path.join(FIXTURES, 'var.pth'), '--out', out], env);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(r.stderr, /written from its architecture template in [\d.]+ s \(no Python\)/);
    assert.doesNotMatch(r.stderr, /warning/);
    assert.ok(fs.readFileSync(path.join(out, 'weights.bin')).equals(fs.readFileSync(path.join(requireBundle(), 'weights.bin'))));
  });

  it('export of a trainer checkpoint prints where its args disagree with the bundle, on stderr', () => {
    const ckpt = path.join(run, 'ar-ckpt-last.pth');
    const r = runCli(['export', '--vae', ckpt, '--var', ckpt, '--out', path.join(work, 'exported-ar-ckpt')], env);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /^varscope export: warning: note: the run was configured with cfg 1\.5; the bundle samples with cfg 4 by default$/m,
    );
  });
});
