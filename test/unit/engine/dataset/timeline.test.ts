/**
 * The timeline of a training run on two shipped checkpoints of the default model (models/emoji64-d4-early and the
 * final models/emoji64-d4, steps read from their manifests): found in a folder of bundles, ordered by step,
 * evaluated on the same images; their shared VQ-VAE gives equal tokenizer curves, their transformers differ.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { listCheckpoints } from '../../../../src/node/checkpointList';
import { Engine } from '../../../../src/engine/engine';
import { stepFromName } from '../../../../src/node/trainingStep';
import type { DatasetEvaluation } from '../../../../src/shared/evaluation';
import { timelineOf } from '../../../../src/shared/timeline';
import { varEvaluationOf } from '../../../../src/shared/modelFamily';
import { bundleStep, defaultModelImages, ROOT } from '../../fixtures';

const MODELS = path.join(ROOT, 'models');
const IMAGES = defaultModelImages();
const EARLY = bundleStep(path.join(MODELS, 'emoji64-d4-early'));
const FINAL = bundleStep(path.join(MODELS, 'emoji64-d4'));

describe('timeline of a training run (the two shipped checkpoints)', function () {
  this.timeout(600000);
  let engine: Engine;
  let tmp: string;
  let evals: DatasetEvaluation[];

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-timeline-'));
    // a run folder: the final checkpoint listed first by name, so the order must come from the steps
    fs.mkdirSync(path.join(tmp, 'run'));
    fs.symlinkSync(path.join(MODELS, 'emoji64-d4'), path.join(tmp, 'run', 'a-final'));
    fs.symlinkSync(path.join(MODELS, 'emoji64-d4-early'), path.join(tmp, 'run', 'b-early'));
    fs.writeFileSync(path.join(tmp, 'run', 'ar-ckpt-ep3-iter1200.pth'), '');
    for (const img of IMAGES) {
      fs.mkdirSync(path.join(tmp, 'images', img.className), { recursive: true });
      fs.copyFileSync(img.path, path.join(tmp, 'images', img.className, img.file));
    }
    engine = new Engine();
    await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
    evals = [];
    for (const c of listCheckpoints(path.join(tmp, 'run'))) {
      if (c.kind === 'bundle')
        evals.push(
          varEvaluationOf(
            await engine.evaluateFolder({
              model: c.dir,
              runId: `t-${c.step}`,
              folder: path.join(tmp, 'images'),
              labels: { kind: 'subfolders' },
            }),
            'test',
          ),
        );
    }
  });
  after(async () => {
    await engine?.dispose();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('lists the bundles by training step (manifest provenance) and the .pth by its file name', () => {
    const list = listCheckpoints(path.join(tmp, 'run'));
    assert.deepStrictEqual(
      list.map((c) => [c.kind, c.step]),
      [
        ['bundle', EARLY],
        ['needsExport', 1200],
        ['bundle', FINAL],
      ],
    );
    assert.strictEqual(stepFromName('ar-ckpt-ep3-iter1200.pth'), 1200);
    assert.strictEqual(stepFromName('step_800'), 800);
    assert.strictEqual(stepFromName('final'), null);
  });

  it('curves against the step: one point per checkpoint, tokenizer curves equal, transformer curves apart', async () => {
    const t = timelineOf([evals[1], evals[0]]); // given in the wrong order on purpose
    assert.ok(t.byStep);
    assert.strictEqual(t.axis, 'training step');
    assert.deepStrictEqual(
      t.points.map((p) => [p.step, p.label]),
      [
        [EARLY, `step ${EARLY}`],
        [FINAL, `step ${FINAL}`],
      ],
    );
    // a watched run's versions: x is the epoch their checkpoints store
    const epochs = [evals[0], evals[1]].map((e, i) => ({
      ...e,
      model: { ...e.model, step: i + 1, checkpoint: { file: 'ar-ckpt-last.pth', sha256: String(i), size: 1, mtimeMs: 0, epoch: i + 1 } },
    }));
    assert.deepStrictEqual([timelineOf(epochs).axis, timelineOf(epochs).points.map((p) => p.label)], ['epoch', ['epoch 1', 'epoch 2']]);
    const unknown = [evals[0], evals[1]].map((e) => ({ ...e, model: { ...e.model, step: null } }));
    assert.strictEqual(timelineOf(unknown).axis, 'checkpoint');
    const acc = t.series('accuracy');
    assert.strictEqual(acc.length, 10);
    assert.ok(acc.every((s) => s.length === 2));
    assert.deepStrictEqual(
      t.series('used'),
      t.series('used').map((s) => [s[0], s[0]]),
    );
    assert.deepStrictEqual(
      t.series('psnr'),
      t.series('psnr').map((s) => [s[0], s[0]]),
    );
    assert.strictEqual(t.usedOverall[0], t.usedOverall[1]);
    // each point is the mean of the per-image teacher-forced accuracy (the engine's evaluate, parity-tested)
    for (const [i, model] of [
      [0, 'emoji64-d4-early'],
      [1, 'emoji64-d4'],
    ] as const) {
      let hits = 0;
      for (const img of IMAGES) {
        const r = await engine.evaluate({ model: path.join(MODELS, model), image: { path: img.path }, classId: img.classId });
        hits += r.scales.reduce((a, s) => a + s.accuracy * s.pn * s.pn, 0);
      }
      const overall = evals.find((e) => e.model.id === model)!.overall.accuracy;
      assert.ok(Math.abs(overall - hits / 1360) < 1e-9, `${model}: ${overall} vs ${hits / 1360}`);
      assert.strictEqual(t.points[i].model, path.join(MODELS, model));
    }
    // the transformer curves tell the checkpoints apart (which way they go is the model's, not the timeline's: on
    // these two held-out images the final checkpoint of the shipped run has the higher NLL, as it overfits)
    const nll = t.series('nll');
    assert.ok(
      nll.some((s) => Math.abs(s[1] - s[0]) > 1e-3),
      `NLL per scale should differ between the checkpoints: ${JSON.stringify(nll)}`,
    );
  });
});
