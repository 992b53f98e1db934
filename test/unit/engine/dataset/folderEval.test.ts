/**
 * `evaluate` over a folder against an independent computation: the PyTorch reference (python/varscope/model/
 * eval_reference.py: the model in torch, the metrics in torch / numpy) on the default model and six images in
 * an ImageFolder layout; then the label mapping, unreadable files, and cancel.
 */
import * as assert from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { pythonPackageDir, pythonPathWith } from '../../../../src/client/checkpointExport';
import { Engine } from '../../../../src/engine/engine';
import { classMapOf, labelWarnings } from '../../../../src/engine/dataset/folderEval';
import type { DatasetEvaluation, EvaluationProgress } from '../../../../src/shared/evaluation';
import { VarScopeError } from '../../../../src/shared/errors';
import { varEvaluationOf } from '../../../../src/shared/modelFamily';
import { bundleStep, defaultModelImages, ROOT } from '../../fixtures';
import { SCALE_METRICS, type ScaleMetricKey } from '../../../../src/shared/metrics';

const MODEL = path.join(ROOT, 'models', 'emoji64-d4');
const FIX = path.join(ROOT, 'test', 'fixtures', 'default-model');
/** The parity set's two images, each in a folder named after its true class. */
const IMAGES = defaultModelImages();

/** One token's share of a scale: its argmax may flip within the logits' 2e-5 parity. */
const oneToken = (s: DatasetEvaluation['scales'][number]) => 1 / s.tokens + 1e-12;

/** How near each metric must come to the reference at a scale (counts of codes exactly). */
const TOLERANCE: Record<ScaleMetricKey, (s: DatasetEvaluation['scales'][number]) => number> = {
  accuracy: oneToken,
  top5: oneToken,
  nll: () => 1e-4,
  entropy: () => 1e-4,
  ece: (s) => 1e-4 + oneToken(s),
  brier: () => 1e-4,
  psnr: () => 1e-3,
  ssim: () => 1e-5,
  used: () => 0,
  dead: () => 0,
  perplexity: () => 1e-9,
};

/** Six 64×64 images (two emoji, flipped and rotated) in class sub-folders, plus one unreadable file. */
async function makeFolder(): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-evaluate-'));
  for (const { className: cls, path: src } of IMAGES) {
    fs.mkdirSync(path.join(dir, cls));
    await sharp(src)
      .png()
      .toFile(path.join(dir, cls, 'a.png'));
    await sharp(src)
      .flop()
      .png()
      .toFile(path.join(dir, cls, 'b.png'));
    await sharp(src)
      .rotate(90)
      .png()
      .toFile(path.join(dir, cls, 'c.png'));
  }
  fs.writeFileSync(path.join(dir, IMAGES[1].className, 'broken.png'), 'not a png');
  fs.copyFileSync(path.join(FIX, 'img0.png'), path.join(dir, 'unlabelled.png')); // not in a class folder: left out
  return dir;
}

describe('evaluate a model over a folder', function () {
  this.timeout(900000);
  let engine: Engine;
  let dir: string;
  let ev: DatasetEvaluation;
  const progress: EvaluationProgress[] = [];

  before(async () => {
    dir = await makeFolder();
    engine = new Engine((name, payload) => name === 'evaluateFolder' && progress.push(payload as EvaluationProgress));
    await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
    ev = varEvaluationOf(
      await engine.evaluateFolder({ model: MODEL, runId: 'ev-1', folder: dir, labels: { kind: 'subfolders' }, batch: 4 }),
      'test',
    );
  });
  after(async () => {
    await engine?.dispose();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('maps sub-folders to classes by name, leaves out unlabelled files and lists unreadable ones', () => {
    assert.strictEqual(ev.classMatch, 'names');
    assert.deepStrictEqual(ev.warnings, []); // sub-folders named as the model's classes
    const byFolder = [...IMAGES].sort((a, b) => (a.className < b.className ? -1 : 1));
    assert.deepStrictEqual(
      ev.classMap,
      byFolder.map((i) => ({ folder: i.className, classId: i.classId })),
    );
    assert.strictEqual(ev.images, 6);
    assert.deepStrictEqual(
      ev.failed.map((f) => path.basename(f.file)),
      ['broken.png'],
    );
    assert.deepStrictEqual(
      ev.perClass.map((c) => [c.classId, c.images]),
      IMAGES.map((i) => [i.classId, 3]).sort((a, b) => a[0] - b[0]),
    );
    assert.strictEqual(ev.model.step, bundleStep(MODEL));
    const last = progress[progress.length - 1];
    assert.ok(last.finished && last.done === 7 && last.total === 7 && last.failed === 1, JSON.stringify(last));
  });

  it('every per-scale metric and baseline matches the PyTorch reference computed independently', async () => {
    const list = path.join(dir, '..', `${path.basename(dir)}-list.json`);
    const out = path.join(dir, '..', `${path.basename(dir)}-ref.json`);
    fs.writeFileSync(list, JSON.stringify(ev.perImage.map((r) => ({ file: r.file, classId: r.classId }))));
    try {
      // the checkpoints recovered from the bundle are cached under out/ (recovering them is the slow part)
      const cache = path.join(ROOT, 'out', 'cache', 'recovered');
      const args = ['-m', 'varscope.eval_reference', '--bundle', MODEL, '--images', list, '--out', out, '--cache', cache];
      const p = spawn('/usr/bin/python3', args, { env: { ...process.env, PYTHONPATH: pythonPathWith(pythonPackageDir(ROOT)) } });
      let stderr = '';
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const status = await new Promise<number | null>((resolve) => p.on('close', resolve));
      assert.strictEqual(status, 0, stderr);
      const ref = JSON.parse(fs.readFileSync(out, 'utf8')) as {
        scales: Array<Record<string, unknown> & DatasetEvaluation['scales'][number]>;
        overall: { accuracy: number; ece: number };
        perImage: DatasetEvaluation['perImage'];
      };
      const near = (a: number, b: number, tol: number, what: string) =>
        assert.ok(Math.abs(a - b) <= tol, `${what}: engine ${a}, reference ${b}`);
      ev.scales.forEach((s, k) => {
        const r = ref.scales[k];
        assert.strictEqual(s.tokens, r.tokens);
        // every declared metric: the reference must compute it too
        for (const m of SCALE_METRICS) {
          assert.strictEqual(typeof r[m.key], 'number', `the reference has no ${m.key}`);
          near(s[m.key], r[m.key], TOLERANCE[m.key](s), `scale ${k} ${m.key}`);
        }
        s.reliability.forEach((b, i) => assert.ok(Math.abs(b.count - r.reliability[i].count) <= 1, `scale ${k} bin ${i}`));
        near(s.baselines.priorFolder.accuracy, r.baselines.priorFolder.accuracy, 1e-12, `scale ${k} folder prior accuracy`);
        near(s.baselines.priorFolder.nll!, r.baselines.priorFolder.nll!, 1e-9, `scale ${k} folder prior nll`);
        near(s.baselines.priorTraining!.accuracy, r.baselines.priorTraining!.accuracy, 1e-12, `scale ${k} training prior accuracy`);
        near(s.baselines.priorTraining!.nll!, r.baselines.priorTraining!.nll!, 1e-9, `scale ${k} training prior nll`);
        if (k === 0) assert.strictEqual(r.baselines.copyCoarser, null);
        else near(s.baselines.copyCoarser!.accuracy, r.baselines.copyCoarser!.accuracy, 1e-12, `scale ${k} copy-coarser`);
      });
      near(ev.overall.accuracy, ref.overall.accuracy, 1 / 4080 + 1e-12, 'overall accuracy');
      near(ev.overall.ece, ref.overall.ece, 1e-4, 'overall ece');
      ev.perImage.forEach((row, i) => {
        const r = ref.perImage[i];
        near(row.nll, r.nll, 1e-4, `${row.file} nll`);
        near(row.psnr, r.psnr, 1e-3, `${row.file} psnr`);
        near(row.ssim, r.ssim, 1e-5, `${row.file} ssim`);
        near(row.rarity, r.rarity, 1e-9, `${row.file} rarity`);
      });
    } finally {
      fs.rmSync(list, { force: true });
      fs.rmSync(out, { force: true });
    }
  });

  it('the flipped and rotated images differ from their source (the six images are six cases)', () => {
    const nll = new Set(ev.perImage.map((r) => r.nll.toFixed(6)));
    assert.strictEqual(nll.size, 6);
  });

  it('sub-folders map by index, else in sorted order (torchvision ImageFolder); too many is an error', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-classes-'));
    try {
      const classes = ['cat', 'dog', 'fish'];
      for (const d of ['2', '0']) fs.mkdirSync(path.join(tmp, 'idx', d), { recursive: true });
      assert.deepStrictEqual(
        [...classMapOf(path.join(tmp, 'idx'), classes).map],
        [
          ['0', 0],
          ['2', 2],
        ],
      );
      for (const d of ['n02', 'n01']) fs.mkdirSync(path.join(tmp, 'syn', d), { recursive: true });
      const s = classMapOf(path.join(tmp, 'syn'), classes);
      assert.strictEqual(s.match, 'sorted');
      assert.deepStrictEqual(
        [...s.map],
        [
          ['n01', 0],
          ['n02', 1],
        ],
      );
      for (const d of ['Cat', 'DOG']) fs.mkdirSync(path.join(tmp, 'names', d), { recursive: true });
      assert.strictEqual(classMapOf(path.join(tmp, 'names'), classes).match, 'names');
      // consistency warnings: 2 sub-folders in sorted order for 3 classes; class-named sub-folders without labels
      const subfolders = { kind: 'subfolders' } as const;
      assert.deepStrictEqual(labelWarnings(path.join(tmp, 'syn'), subfolders, classes, s), [
        {
          check: 'folderClasses',
          model: '3 classes',
          given: '2 class sub-folders',
          message:
            "the model has 3 classes, the folder 2 class sub-folders whose names are neither class names nor indices: matched in sorted order as torchvision's ImageFolder numbers them (n01 = class 0 … n02 = class 1), right only if the model was trained on exactly these sub-folders",
        },
      ]);
      const names = path.join(tmp, 'names');
      assert.deepStrictEqual(labelWarnings(names, subfolders, classes, classMapOf(names, classes)), []);
      assert.deepStrictEqual(labelWarnings(path.join(tmp, 'idx'), { kind: 'none' }, classes), []); // indices: maybe not classes
      assert.deepStrictEqual(labelWarnings(names, { kind: 'class', classId: 1 }, classes), []);
      assert.deepStrictEqual(labelWarnings(names, { kind: 'none' }, classes), [
        {
          check: 'labelsUnused',
          model: '3 classes',
          given: '2 sub-folders named as its classes',
          message:
            'the model has 3 classes and the folder 2 sub-folders named as its classes, but no labels were asked for: every image is scored with the null class; label them from the sub-folders (--labels-from-subfolders) to score each with its class',
        },
      ]);
      for (const d of ['a', 'b', 'c', 'd']) fs.mkdirSync(path.join(tmp, 'many', d), { recursive: true });
      assert.throws(
        () => classMapOf(path.join(tmp, 'many'), classes),
        (e: unknown) => e instanceof VarScopeError && /4 sub-folders/.test(e.message),
      );
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('one class for every image, a bad class refused, and cancel keeps what was measured', async () => {
    const nullClass: number = JSON.parse(fs.readFileSync(path.join(MODEL, 'varscope.json'), 'utf8')).var.nullClass;
    const one = varEvaluationOf(
      await engine.evaluateFolder({
        model: MODEL,
        runId: 'ev-2',
        folder: dir,
        labels: { kind: 'class', classId: nullClass },
        limit: 2,
        batch: 1,
      }),
      'test',
    );
    assert.strictEqual(one.images, 2);
    assert.deepStrictEqual(
      one.perClass.map((c) => [c.classId, c.name]),
      [[nullClass, 'no class']],
    );
    await assert.rejects(
      engine.evaluateFolder({ model: MODEL, runId: 'ev-3', folder: dir, labels: { kind: 'class', classId: nullClass + 1 } }),
      (e: unknown) => e instanceof VarScopeError && e.code === 'BadRequest',
    );
    progress.length = 0;
    const p = engine.evaluateFolder({ model: MODEL, runId: 'ev-4', folder: dir, labels: { kind: 'none' }, batch: 1 });
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (progress.some((e) => e.runId === 'ev-4')) {
          clearInterval(t);
          void engine.cancel({ runId: 'ev-4' }).then(resolve);
        }
      }, 5);
    });
    const r = varEvaluationOf(await p, 'test');
    assert.strictEqual(r.cancelled, true);
    assert.deepStrictEqual(
      r.warnings?.map((w) => [w.check, w.given]),
      [['labelsUnused', '2 sub-folders named as its classes']],
    );
    assert.ok(r.images >= 1 && r.images < 8, `evaluated ${r.images}`);
    assert.strictEqual(r.scales[0].tokens, r.images);
  });
});
