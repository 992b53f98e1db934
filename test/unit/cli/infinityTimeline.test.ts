/**
 * `varscope timeline` and `varscope watch` on an Infinity training run: two ar-ckpt files written as the official
 * CKPTSaver names and fills them (test/integration/simulated_infinity_trainer.py: fixture A's official weights, moved
 * a little per save), each exported with Python while it is evaluated on a folder of captioned images. The timeline
 * orders them by the trainer's global iteration, and its values are those of `evaluate` on each checkpoint's bundle.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CheckpointBundler } from '../../../src/client/checkpointBundler';
import { pythonPackageDir } from '../../../src/client/checkpointExport';
import { Engine } from '../../../src/engine/engine';
import type { BitsDatasetEvaluation } from '../../../src/shared/evaluation';
import { ROOT, runCli } from '../fixtures';
import { npyFloats, readNpy, writeNpyFloat32 } from '../npy';

const A = path.join(ROOT, 'test', 'fixtures', 'infinity', 'infinity-A');
/** Fixture A's architecture flags, as its trainer's args would carry them. */
const ARGS = { rope2d_normalized_by_hw: 2, use_bit_label: 1, saln: true, cos: true, Ct5: 128 };

/** Writes the ar-ckpt files of a run saved at each EPOCH:ITER (1000 iterations an epoch); returns their paths. */
function simulateRun(out: string, at: string): string[] {
  const printed = execFileSync(
    '/usr/bin/python3',
    [path.join(ROOT, 'test', 'integration', 'simulated_infinity_trainer.py')].concat(
      ['--vae', path.join(A, 'vae.pth'), '--infinity', path.join(A, 'infinity.pth'), '--out', out],
      ['--at', at, '--args', JSON.stringify(ARGS)],
    ),
    { encoding: 'utf8' },
  );
  return printed.trim().split('\n');
}

describe('varscope timeline and watch on an Infinity run (ar-ckpt files exported with Python)', function () {
  this.timeout(900000);
  let work: string;
  let run: string;
  let images: string;
  let env: NodeJS.ProcessEnv;

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-infinity-timeline-'));
    env = { VARSCOPE_TEMPLATES: path.join(work, 'templates'), VARSCOPE_PYTHON: '/usr/bin/python3' };
    run = path.join(work, 'run');
    // listed by name, the later checkpoint (giter001K) would come first: the order must come from the positions
    simulateRun(run, '1:200,0:500');
    images = path.join(work, 'images');
    fs.mkdirSync(images);
    const kv = npyFloats(readNpy(path.join(A, 'text_kv_compact.npy')));
    const width = 128; // text_cu_seqlens_k [0, 7, 20]: caption 0 is rows 0..7, caption 1 rows 7..20
    fs.copyFileSync(path.join(A, 'image.png'), path.join(images, 'a.png'));
    writeNpyFloat32(path.join(images, 'a.npy'), [7, width], kv.slice(0, 7 * width));
    fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', 'default-model', 'img0.png'), path.join(images, 'b.png'));
    writeNpyFloat32(path.join(images, 'b.npy'), [13, width], kv.slice(7 * width, 20 * width));
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('a bad --ratios is a usage error in one line', () => {
    const r = runCli(['timeline', images, '--checkpoints', run, '--ratios', '1.0,wide'], env);
    assert.strictEqual(r.code, 2);
    assert.match(
      r.stderr,
      /^varscope timeline: --ratios must be h\/w numbers separated by commas \(e\.g\. 1\.0,0\.75\), got "1\.0,wide"\n/,
    );
  });

  it("timeline --checkpoints: ordered by global iteration, each checkpoint's values those of evaluate on its bundle; the CSV says the same", async () => {
    const csv = path.join(work, 'timeline.csv');
    const r = runCli(['timeline', images, '--checkpoints', run, '--provider', 'cpu', '--csv', csv], env, 900000);
    assert.strictEqual(r.code, 0, r.stderr);
    const t = JSON.parse(r.stdout) as { format: string; evaluations: BitsDatasetEvaluation[] };
    assert.strictEqual(t.format, 'varscope-timeline');
    assert.deepStrictEqual(
      t.evaluations.map((e) => [e.family, e.bits, e.images, e.model.step, e.model.name]),
      [
        ['infinity', 16, 2, 500, 'ar-ckpt-giter000K-ep0-iter500-last.pth epoch 0, iter 500'],
        ['infinity', 16, 2, 1200, 'ar-ckpt-giter001K-ep1-iter200-last.pth epoch 1, iter 200'],
      ],
    );
    // the same checkpoints made into bundles and evaluated one by one
    const bundler = new CheckpointBundler({
      templateFolders: [],
      store: path.join(work, 'store'),
      python: async (signal) => ({ python: '/usr/bin/python3', packageDir: pythonPackageDir(ROOT), signal }),
    });
    const engine = new Engine();
    try {
      await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
      for (const e of t.evaluations) {
        const out = path.join(work, `bundle-${e.model.step}`);
        const made = await bundler.make({ vae: e.model.dir, var: e.model.dir }, out, { id: 'x', name: 'x' });
        assert.strictEqual(made.step, e.model.step);
        const one = await engine.evaluateFolder({ model: out, runId: `one-${e.model.step}`, folder: images, labels: { kind: 'captions' } });
        assert.strictEqual(one.family, 'infinity');
        assert.deepStrictEqual([e.scales, e.overall, e.perImage], [one.scales, one.overall, (one as BitsDatasetEvaluation).perImage]);
      }
    } finally {
      await engine.dispose();
    }
    // the moved weights show: the checkpoints' accuracies differ; the no-model baselines do not
    const [early, late] = t.evaluations;
    assert.notDeepStrictEqual(
      early.scales.map((s) => s.bitAccuracy),
      late.scales.map((s) => s.bitAccuracy),
    );
    assert.deepStrictEqual(
      early.scales.map((s) => s.baselines),
      late.scales.map((s) => s.baselines),
    );
    const rows = fs.readFileSync(csv, 'utf8').trim().split('\n');
    assert.strictEqual(rows.length, 1 + 2 * 7);
    assert.match(rows[0], /^family,step,model,scale,grid,bit_accuracy,token_accuracy,majority_bit_accuracy/);
    const last = late.scales[6];
    assert.strictEqual(
      rows[14],
      ['infinity', 1200, late.model.dir, 6, '16×16', last.bitAccuracy, last.tokenAccuracy]
        .concat([last.baselines.majority.bitAccuracy, last.baselines.majority.tokenAccuracy])
        .concat([last.baselines.copyCoarser!.bitAccuracy, last.baselines.copyCoarser!.tokenAccuracy])
        .map((v) => (typeof v === 'number' ? Number(v.toPrecision(7)) : v))
        .join(','),
    );
  });

  it('watch --once --ratios: a new ar-ckpt is exported with both schedules, evaluated on captioned 1:1 and 4:3 images, and joins the timeline at its global iteration', () => {
    const watched = path.join(work, 'watched');
    simulateRun(watched, '2:300');
    const mixed = path.join(work, 'mixed');
    fs.mkdirSync(mixed);
    for (const f of ['a.png', 'a.npy']) fs.copyFileSync(path.join(images, f), path.join(mixed, f));
    fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', 'infinity', 'infinity-B', 'image.png'), path.join(mixed, 'e.png'));
    fs.copyFileSync(path.join(images, 'a.npy'), path.join(mixed, 'e.npy'));
    const args = ['watch', watched, '--images', mixed, '--once', '--settle', '0', '--ratios', '1.0,0.75', '--provider', 'cpu'];
    const r = runCli(args, env, 900000);
    assert.strictEqual(r.code, 0, r.stderr);
    const t = JSON.parse(r.stdout) as { evaluations: BitsDatasetEvaluation[] };
    assert.deepStrictEqual(
      t.evaluations.map((e) => [e.family, e.model.step, e.model.checkpoint?.epoch, e.model.checkpoint?.iter, e.images]),
      [['infinity', 2300, 2, 300, 2]],
    );
    assert.deepStrictEqual(
      t.evaluations[0].perImage.map((p) => [path.basename(p.file), p.schedule]),
      [
        ['a.png', 'hw1.000-0.06M'],
        ['e.png', 'hw0.750-0.06M'],
      ],
    );
    const last = t.evaluations[0].scales[6];
    const pct = (x: number) => (x * 100).toFixed(1);
    assert.match(
      r.stderr,
      new RegExp(
        `varscope watch: epoch 2, iter 300: scale 6 bit accuracy ${pct(last.bitAccuracy)} %, token accuracy ${pct(last.tokenAccuracy)} %  \\[bundle python `,
      ),
    );
    assert.ok(fs.existsSync(path.join(watched, 'varscope-timeline.json')));
  });
});
