/**
 * The profile the Profile view and `varscope profile` show, on the fixture bundle: FLOPs per scale as counted by hand,
 * every time positive and the parts summing to the totals, the KV cache's bytes after each scale, the shares of the
 * last two scales, the graphs of the teacher-forced pass, and the machine's rate measured once per process.
 */
import * as assert from 'assert';
import { Engine } from '../../../../src/engine/engine';
import { stepFlops, teacherForcedFlops } from '../../../../src/engine/analysis/flops';
import { matmulRate } from '../../../../src/engine/runtime/matmulRate';
import { OnnxRuntime } from '../../../../src/engine/runtime/onnxRuntime';
import { VarScopeError } from '../../../../src/shared/errors';
import type { ScaleProfile } from '../../../../src/shared/results';
import { fixture, requireBundle } from '../../fixtures';

const sum = (v: number[]) => v.reduce((s, x) => s + x, 0);

describe('profile per scale (generation/scaleProfile)', function () {
  this.timeout(300000);
  let engine: Engine;
  let model: string;
  let p: ScaleProfile;

  before(async () => {
    model = requireBundle();
    engine = new Engine();
    await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
    p = await engine.profile({ model, image: { path: fixture('img2.png') }, classId: 3, repeats: 2 });
  });
  after(async () => engine?.dispose());

  it('counts each generation scale with the step graph at batch 2, and the teacher-forced pass per scale', async () => {
    const m = (await engine.bundle(model)).manifest;
    assert.strictEqual(p.generation.batch, 2); // the fixture's sampling has CFG
    assert.deepStrictEqual(
      p.generation.scales.map((s) => s.flops),
      m.patchNums.map((_, k) => stepFlops(m, k, 2)),
    );
    assert.strictEqual(p.generation.scales[3].flops.total, 31391744); // by hand: see analysis/flops.test.ts
    assert.strictEqual(p.generation.flops, sum(p.generation.scales.map((s) => s.flops.total)));
    const tf = teacherForcedFlops(m);
    assert.deepStrictEqual(
      p.teacherForced.scales.map((s) => s.flops),
      tf.scales,
    );
    assert.strictEqual(p.teacherForced.flops, tf.total);
    assert.deepStrictEqual(
      p.generation.scales.map((s) => [s.pn, s.tokens, s.cachedPositions]),
      m.patchNums.map((pn, k) => [pn, pn * pn, m.beginEnds[k][0]]),
    );
  });

  it('times are positive and sum to the totals', () => {
    const g = p.generation;
    for (const s of g.scales) {
      assert.deepStrictEqual(Object.keys(s.ms).sort(), ['host', 'latentStep', 'transformerStep'], `scale ${s.scaleIndex}`);
      assert.ok(s.ms.transformerStep > 0 && s.ms.latentStep > 0 && s.ms.host >= 0, JSON.stringify(s.ms));
      assert.strictEqual(s.totalMs, sum(Object.values(s.ms)));
    }
    assert.ok(g.decodeMs > 0);
    assert.strictEqual(g.totalMs, sum(g.scales.map((s) => s.totalMs)) + g.decodeMs);
    assert.ok(g.wallMs > 0);
    const t = p.teacherForced;
    assert.strictEqual(t.image, 'img2.png');
    assert.deepStrictEqual(
      t.graphs.map((x) => x.role),
      ['encoder', 'quantizer', 'transformer', 'host'],
    );
    assert.ok(t.graphs.every((x) => (x.role === 'host' ? x.ms >= 0 : x.ms > 0)));
    assert.strictEqual(t.totalMs, sum(t.graphs.map((x) => x.ms)));
  });

  it('the KV cache holds every scale but the last, keys and values of both CFG samples', async () => {
    const m = (await engine.bundle(model)).manifest;
    const perPosition = 2 * m.var.depth * 2 * m.var.embedDim * 4; // K and V, depth, batch 2, D floats of 4 bytes
    const SN = m.patchNums.length;
    assert.deepStrictEqual(
      p.generation.scales.map((s) => s.kvBytes),
      m.beginEnds.map(([, end], k) => (k < SN - 1 ? end : m.beginEnds[SN - 1][0]) * perPosition),
    );
    assert.strictEqual(p.generation.scales[0].kvBytes, 4096); // one position: 2 × 2 × 2 × 128 × 4
  });

  it('the last two scales: their share of the scales’ time and FLOPs', () => {
    const g = p.generation;
    const last = g.scales.slice(-2);
    assert.strictEqual(g.lastTwoShare.time, sum(last.map((s) => s.totalMs)) / sum(g.scales.map((s) => s.totalMs)));
    assert.strictEqual(g.lastTwoShare.flops, sum(last.map((s) => s.flops.total)) / g.flops);
    const tf = p.teacherForced;
    assert.strictEqual(tf.lastTwoShare.flops, sum(tf.scales.slice(-2).map((s) => s.flops.total)) / tf.flops);
  });

  it('the machine rate: the model’s linear layers, measured once per process; bad repeats are refused', async () => {
    assert.deepStrictEqual(p.rate.shapes, [
      [128, 384],
      [128, 128],
      [128, 512],
      [512, 128],
      [128, 512],
    ]);
    assert.strictEqual(p.rate.m, 512);
    assert.strictEqual(p.rate.threads, 2);
    assert.ok(p.rate.runs >= 5 && p.rate.gflops >= p.rate.medianGflops && p.rate.medianGflops > 0);
    const runtime = new OnnxRuntime({ provider: 'cpu', threads: 0, profilePlacement: false });
    const o = { runs: 3, minMs: 0 };
    const a = matmulRate(runtime, 8, [[16, 32]], o);
    assert.strictEqual(matmulRate(runtime, 8, [[16, 32]], o), a); // cached
    assert.strictEqual((await a).runs, 3);
    const again = await matmulRate(runtime, 8, [[16, 32]], { ...o, fresh: true }); // measured again, the best kept
    assert.ok(again.gflops >= (await a).gflops);
    assert.strictEqual(await matmulRate(runtime, 8, [[16, 32]], o), again);
    await assert.rejects(
      engine.profile({ model, classId: 3, repeats: 0 }),
      (e: unknown) => e instanceof VarScopeError && e.code === 'BadRequest' && /repeats must be an integer in 1\.\.100/.test(e.message),
    );
  });
});
