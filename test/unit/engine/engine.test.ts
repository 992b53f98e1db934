/**
 * The in-process engine API on the fixture bundle: edits keep what they must keep, folder statistics stream and
 * cancel, seeded generation is reproducible and honours forced tokens, requests are checked.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { WeightHolders } from '../../../src/engine/bundle/weightHolders';
import { footprintKeepMask, resizeMask } from '../../../src/engine/model/editForcing';
import { Engine } from '../../../src/engine/engine';
import type { GenerationStep } from '../../../src/shared/results';
import { VarScopeError } from '../../../src/shared/errors';
import { fixture, requireBundle } from '../fixtures';
import { npyInts, readNpy } from '../npy';
import { varModelOf, varStepOf } from '../../../src/shared/modelFamily';

const SETTINGS = { classId: 3, seed: 11, cfg: 4, topK: 900, topP: 0.96 };

describe('engine API (in process)', function () {
  this.timeout(300000);
  let engine: Engine;
  let model: string;
  const events: Array<{ name: string; payload: unknown }> = [];

  before(async () => {
    model = requireBundle();
    engine = new Engine((name, payload) => events.push({ name, payload }));
    await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
  });
  after(async () => engine?.dispose());

  it('edit: coarser scales and tokens outside the edited footprint keep the source; edited tokens are set', async () => {
    const idx = npyInts(readNpy(fixture('img0_idx.npy')));
    const info = varModelOf(await engine.openModel({ model }), 'test');
    const source = info.beginEnds.map(([b, e]) => idx.slice(b, e));
    const r = await engine.edit({
      model,
      source: { image: { path: fixture('img0.png') } },
      scaleIndex: 5,
      positions: [0, 7],
      tokens: [11, 22],
      settings: SETTINGS,
    });
    for (let k = 0; k < 5; k++) assert.deepStrictEqual(r.tokens[k], source[k], `scale ${k}`);
    assert.strictEqual(r.tokens[5][0], 11);
    assert.strictEqual(r.tokens[5][7], 22);
    const keep = footprintKeepMask(6, [0, 7], 16);
    for (let k = 6; k < 10; k++) {
      const kept = resizeMask(keep, 16, info.patchNums[k]);
      kept.forEach((m, i) => m && assert.strictEqual(r.tokens[k][i], source[k][i], `scale ${k} position ${i} must be kept`));
    }
    assert.deepStrictEqual(
      r.steps.map((s) => s.scaleIndex),
      [5, 6, 7, 8, 9],
    );
    assert.strictEqual(r.steps[4].image.width, 256);
  });

  it('generate: same seed -> same tokens; forced tokens are used', async () => {
    const a = await engine.generate({ model, settings: SETTINGS });
    const b = await engine.generate({ model, settings: SETTINGS });
    assert.deepStrictEqual(a.tokens, b.tokens);
    const c = await engine.generate({ model, settings: { ...SETTINGS, seed: 12 } });
    assert.notDeepStrictEqual(c.tokens.slice(5), a.tokens.slice(5));
    const forced = a.tokens.map((t) => Int32Array.from(t, () => -1));
    forced[3] = Int32Array.from({ length: 16 }, (_, i) => i);
    const d = await engine.generate({ model, settings: SETTINGS, forced });
    assert.deepStrictEqual(
      Array.from(d.tokens[3]),
      Array.from({ length: 16 }, (_, i) => i),
    );
    assert.deepStrictEqual(d.tokens.slice(0, 3), a.tokens.slice(0, 3));
  });

  it('steps: the next scale is computed ahead; stepping slow, fast, back or after a cancel gives the tokens and events of before', async () => {
    const want = (await engine.generate({ model, settings: SETTINGS })).tokens;
    const SN = want.length;
    type RunInside = { current: number };
    const runOf = (id: string) => (engine as unknown as { runs: Map<string, RunInside> }).runs.get(id)!;
    const until = async (what: string, ok: () => boolean) => {
      for (let t = 0; !ok(); t += 10) {
        if (t > 20000) assert.fail(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const stepEvents = (id: string) =>
      events
        .filter((e) => e.name === 'generationStep' && (e.payload as GenerationStep).runId === id)
        .map((e) => (e.payload as GenerationStep).scaleIndex);

    // slow, as a user stepping: each scale is ready before it is asked for, and only the asked scales are reported
    const { runId } = await engine.generationStart({ model, settings: SETTINGS });
    await until('scale 1 computed ahead of the first Step', () => runOf(runId).current === 0);
    for (let k = 0; k < SN; k++) {
      const step = varStepOf(await engine.generationStep({ runId, scaleIndex: k }));
      assert.deepStrictEqual(step.tokens, want[k], `scale ${k}`);
      if (k + 1 < SN) await until(`scale ${k + 2} computed ahead`, () => runOf(runId).current === k + 1);
    }
    assert.deepStrictEqual(
      stepEvents(runId),
      want.map((_, k) => k),
      'each scale reported once, as when nothing was computed ahead',
    );
    await new Promise((r) => setTimeout(r, 50));
    assert.strictEqual(runOf(runId).current, SN - 1, 'nothing past the last scale');

    // fast (Play): every request issued at once; and back to scale 2, then forward again
    const fast = await engine.generationStart({ model, settings: SETTINGS });
    const all = await Promise.all(Array.from({ length: SN }, (_, k) => engine.generationStep({ runId: fast.runId, scaleIndex: k })));
    assert.deepStrictEqual(
      all.map((s) => varStepOf(s).tokens),
      want,
    );
    assert.deepStrictEqual(varStepOf(await engine.generationStep({ runId: fast.runId, scaleIndex: 2 })).tokens, want[2]);
    await until('scale 4 computed ahead', () => runOf(fast.runId).current === 3);
    assert.deepStrictEqual(varStepOf(await engine.generationStep({ runId: fast.runId, scaleIndex: 6 })).tokens, want[6]);
    const fastEvents = stepEvents(fast.runId);
    assert.deepStrictEqual(
      fastEvents,
      [...want.map((_, k) => k), 3, 4, 5, 6],
      'going back reports nothing; forward again reports each scale',
    );

    // two moves in flight at once, the later one going back: each answers with its own scale
    const [five, two] = await Promise.all([
      engine.generationStep({ runId: fast.runId, scaleIndex: 5 }),
      engine.generationStep({ runId: fast.runId, scaleIndex: 2 }),
    ]);
    assert.deepStrictEqual([varStepOf(five).tokens, varStepOf(two).tokens], [want[5], want[2]]);

    // cancelled: nothing more is computed ahead
    const gone = await engine.generationStart({ model, settings: SETTINGS });
    await engine.generationStep({ runId: gone.runId, scaleIndex: 1 });
    const run = runOf(gone.runId);
    await engine.generationCancel({ runId: gone.runId });
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(run.current <= 2, `a cancelled run went on to scale ${run.current}`);
  });

  it('a model closed while a scale is computed ahead keeps no graph open', async () => {
    const own = new Engine();
    await own.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
    const bundle = await own.bundle(model);
    const { runId } = await own.generationStart({ model, settings: SETTINGS });
    await own.generationStep({ runId, scaleIndex: 7 });
    await new Promise((r) => setTimeout(r, 5)); // scale 9 is being computed ahead
    await own.configure({ provider: 'cpu', threads: 1, maxImagePixels: 1e8 }); // closes the models
    await new Promise((r) => setTimeout(r, 1000));
    assert.strictEqual((bundle as unknown as { sessions: Map<string, unknown> }).sessions.size, 0);
    await assert.rejects(bundle.graph('decoder'), (e: unknown) => e instanceof VarScopeError && e.code === 'Cancelled');
    await own.dispose();
  });

  it('folder statistics stream progress and stop when cancelled', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-folder-'));
    try {
      for (let i = 0; i < 12; i++) fs.copyFileSync(fixture(`img${i % 3}.png`), path.join(dir, `i${String(i).padStart(2, '0')}.png`));
      events.length = 0;
      const runId = 'folder-1';
      const p = engine.folderUsage({ model, runId, folder: dir, every: 2, batch: 2 });
      // cancel as soon as the first progress event arrives
      await new Promise<void>((resolve) => {
        const t = setInterval(() => {
          if (events.some((e) => e.name === 'folderUsage')) {
            clearInterval(t);
            void engine.cancel({ runId }).then(resolve);
          }
        }, 5);
      });
      const r = await p;
      assert.strictEqual(r.cancelled, true);
      assert.ok(r.usage.images! < 12 && r.usage.images! >= 2, `counted ${r.usage.images}`);
      const progress = events.filter((e) => e.name === 'folderUsage').map((e) => e.payload as { done: number; finished: boolean });
      assert.strictEqual(progress[0].done, 2);
      assert.strictEqual(progress[progress.length - 1].finished, true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('requests are checked: class, layer, head, scale', async () => {
    const img = { path: fixture('img0.png') };
    const bad = (e: unknown) => e instanceof VarScopeError && e.code === 'BadRequest';
    await assert.rejects(engine.evaluate({ model, image: img, classId: 5000 }), bad);
    await assert.rejects(engine.attention({ model, image: img, classId: 3, layer: 99, head: 0 }), bad);
    await assert.rejects(engine.attention({ model, image: img, classId: 3, layer: 0, head: 7 }), bad);
    const { runId } = await engine.generationStart({ model, settings: SETTINGS });
    await assert.rejects(engine.generationStep({ runId, scaleIndex: 10 }), bad);
    await assert.rejects(engine.generationStep({ runId: 'nope' }), (e: unknown) => e instanceof VarScopeError && e.code === 'Cancelled');
  });

  it('evaluate with the null class and attention head-mean run on the same tokenization', async () => {
    const img = { path: fixture('img2.png') };
    const ev = await engine.evaluate({ model, image: img, classId: 1000 });
    assert.strictEqual(ev.classId, 1000);
    assert.strictEqual(ev.scales.length, 10);
    ev.scales.forEach((s) => assert.ok(s.nll > 0 && s.accuracy >= 0 && s.accuracy <= 1 && s.topK.ids.length === s.pn * s.pn * 5));
    const at = await engine.attention({ model, image: img, classId: 1000, layer: 1, head: 'mean' });
    assert.strictEqual(at.weights.length, 680 * 680);
  });

  it('a large bundle opens with its transformer graphs checked, not held; each opens when first used and computes the same', async () => {
    const image = { path: fixture('img0.png') };
    const small = await engine.evaluate({ model, image, classId: 3 });
    const smallAttn = await engine.attention({ model, image, classId: 3, layer: 1, head: 'mean' });
    const saved = WeightHolders.largeBytes;
    WeightHolders.largeBytes = 0;
    const own = new Engine();
    try {
      await own.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
      await own.openModel({ model });
      const bundle = await own.bundle(model);
      const open = () => [...(bundle as unknown as { sessions: Map<string, unknown> }).sessions.keys()].sort();
      assert.deepStrictEqual(open(), ['decoder', 'encoder', 'latentStep', 'quantizer']);
      await own.inspect({ model, image });
      assert.deepStrictEqual(open(), ['decoder', 'encoder', 'latentStep', 'quantizer']);
      const large = await own.evaluate({ model, image, classId: 3 });
      assert.deepStrictEqual(open(), ['decoder', 'encoder', 'latentStep', 'quantizer', 'transformer']);
      large.scales.forEach((s, k) => {
        assert.deepStrictEqual(s.topK.ids, small.scales[k].topK.ids, `scale ${k}`);
        assert.ok(Math.abs(s.nll - small.scales[k].nll) < 1e-5, `scale ${k}: nll ${s.nll} vs ${small.scales[k].nll}`);
      });
      // the attention graph reads its weights in place (no prepacking): the same weights to float rounding
      const attn = await own.attention({ model, image, classId: 3, layer: 1, head: 'mean' });
      let worst = 0;
      attn.weights.forEach((w, i) => (worst = Math.max(worst, Math.abs(w - smallAttn.weights[i]))));
      assert.ok(worst < 1e-5, `attention weights differ by ${worst}`);
    } finally {
      WeightHolders.largeBytes = saved;
      await own.dispose();
    }
  });

  it("a large bundle's transformer graphs past their memory share: the idle one is released, and opens again when used", async () => {
    const image = { path: fixture('img0.png') };
    const small = await engine.evaluate({ model, image, classId: 3 });
    const smallAttn = await engine.attention({ model, image, classId: 3, layer: 1, head: 'mean' });
    const saved = [WeightHolders.largeBytes, WeightHolders.share];
    WeightHolders.largeBytes = 0;
    WeightHolders.share = 1e-12; // room for one at a time
    const own = new Engine();
    try {
      await own.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
      await own.openModel({ model });
      const bundle = await own.bundle(model);
      const held = () => bundle.weightHolders;
      const sameAsSmall = (r: typeof small) =>
        r.scales.forEach((s, k) =>
          assert.ok(Math.abs(s.nll - small.scales[k].nll) < 1e-5, `scale ${k}: nll ${s.nll} vs ${small.scales[k].nll}`),
        );
      sameAsSmall(await own.evaluate({ model, image, classId: 3 }));
      assert.deepStrictEqual(held(), ['transformer']);
      const attn = await own.attention({ model, image, classId: 3, layer: 1, head: 'mean' });
      assert.deepStrictEqual(held(), ['attention']);
      let worst = 0;
      attn.weights.forEach((w, i) => (worst = Math.max(worst, Math.abs(w - smallAttn.weights[i]))));
      assert.ok(worst < 1e-5, `attention weights differ by ${worst}`);
      sameAsSmall(await own.evaluate({ model, image, classId: 3 })); // the released transformer graph opens again
      assert.deepStrictEqual(held(), ['transformer']);
      // a graph that is running is not released: the attention graph opens beside it
      const L = bundle.manifest.tokenCount;
      const C = bundle.manifest.vae.Cvae;
      const feeds = {
        classLabel: { dtype: 'int64' as const, dims: [1], data: BigInt64Array.from([3n]) },
        varInput: { dtype: 'float32' as const, dims: [1, L - 1, C], data: new Float32Array((L - 1) * C) },
      };
      const tf = await bundle.graph('transformer');
      const at = await bundle.graph('attention');
      const [logits, weights] = await Promise.all([
        tf.run(feeds, ['logits']),
        at.run({ ...feeds, attnLayer: { dtype: 'int64' as const, dims: [], data: BigInt64Array.from([1n]) } }, ['attn']),
      ]);
      assert.deepStrictEqual(
        [logits.logits.dims, weights.attn.dims],
        [
          [1, L, bundle.manifest.vae.vocabSize],
          [1, bundle.manifest.var.numHeads, L, L],
        ],
      );
      assert.deepStrictEqual(held().sort(), ['attention', 'transformer']);
    } finally {
      [WeightHolders.largeBytes, WeightHolders.share] = saved;
      await own.dispose();
    }
  });
});
