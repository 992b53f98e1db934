/**
 * Infinity generation through the engine's one generation API (generate, generationStart / generationStep) on the
 * official fixtures (test/fixtures/infinity, exported into out/bundles/infinity-A and -B): greedy (top_k 1) gives the
 * fixtures' gen_bits; the official seeded run's bits, forced, give its logits; seeded runs repeat; going back and
 * forward gives the same bits; cancel; settings refused in one line.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import { Engine } from '../../../../src/engine/engine';
import { InfinityBundle } from '../../../../src/engine/bundle/infinityBundle';
import { BitGenerationRun } from '../../../../src/engine/generation/bitGenerator';
import type { BitGenerationSettings } from '../../../../src/shared/results';
import { VarScopeError } from '../../../../src/shared/errors';
import { requireBundle } from '../../fixtures';
import { infinityBundle, infinityFixture, useFixtureEngine, writeFixtureCaption } from '../../infinityFixtures';
import { maxAbsDiff, npyFloats, readNpy } from '../../npy';

/** The VAR fixtures' tolerance for latents and logits (test/unit/parity/officialFixtures.test.ts). */
const TOL = 5e-5;
/**
 * The official run's text attention is bfloat16, ours float32: that moves B's teacher-forced logits by up to 3.5e-3
 * (the bundle manifest's text.note). The sampler's logits are (cfg · cond + (1 − cfg) · uncond) / tau, so at cfg 4 and
 * tau 0.5 by up to (4 + 3) · 2 · 3.5e-3.
 */
const GUIDED_TOL = (4 + 3) * 2 * 3.5e-3;

interface FixtureGeneration {
  caption: number;
  cfg_list: number[];
  tau_list: number[];
  cfg_insertion_layer: number[];
  top_k: number;
  top_p: number;
}

describe('Infinity generation (engine)', function () {
  this.timeout(300000);
  const env = useFixtureEngine('varscope-bitgen-');
  /** A fixture caption's features as a .npy file (what a user gives), and its rows. */
  const caption = (name: string, index: number) => writeFixtureCaption(name, index, env.tmp);

  function fixtureSettings(name: string, key: 'gen' | 'gen_sampled', seed = 0): BitGenerationSettings {
    const g = JSON.parse(fs.readFileSync(infinityFixture(name, 'config.json'), 'utf8')).generations[key] as FixtureGeneration;
    assert.strictEqual(g.cfg_insertion_layer.length, 1);
    return {
      family: 'infinity',
      text: { featuresFile: caption(name, g.caption).file },
      seed,
      cfgList: g.cfg_list,
      tauList: g.tau_list,
      topK: g.top_k,
      topP: g.top_p,
      cfgInsertionLayer: g.cfg_insertion_layer[0],
    };
  }

  // The fixtures' generations ran with the official bfloat16 text attention; in float32 (our graphs) the greedy bits
  // are B's gen_bits exactly and all of A's but one (a logit near 0 that the rounding flips: see the fixtures' README
  // and python/tests/test_infinity_onnx.py, which finds the same bit).
  for (const [name, flipped] of [
    ['infinity-A', 1],
    ['infinity-B', 0],
  ] as const) {
    it(`${name}: generate at the fixture's greedy settings (${name === 'infinity-A' ? 'CFG on the logits' : 'CFG inside the network'}) gives gen_bits, ${flipped} bit flipped`, async () => {
      const r = await env.engine.generate({ model: infinityBundle(name), settings: fixtureSettings(name, 'gen') });
      assert.strictEqual(r.family, 'infinity');
      const want = readNpy(infinityFixture(name, 'gen_bits.npy')).data as Uint8Array;
      const got = new Uint8Array(want.length);
      let at = 0;
      for (const b of r.bits) got.set(b, (at += b.length) - b.length);
      assert.strictEqual(at, want.length);
      let differ = 0;
      for (let i = 0; i < want.length; i++) differ += got[i] === want[i] ? 0 : 1;
      assert.strictEqual(differ, flipped);
      const bundle = await env.engine.anyBundle(infinityBundle(name));
      assert.ok(bundle instanceof InfinityBundle);
      const [H, W] = bundle.manifest.schedules[0].pixelSize;
      assert.deepStrictEqual([r.image.height, r.image.width], [H, W]);
      assert.strictEqual(r.schedule, bundle.manifest.schedules[0].id);
    });
  }

  it('infinity-B: greedy f̂ after the last scale is gen_z (the summed codes decoded) within the tolerance', async () => {
    const bundle = await env.engine.anyBundle(infinityBundle('infinity-B'));
    assert.ok(bundle instanceof InfinityBundle);
    const c = caption('infinity-B', 1);
    const run = await BitGenerationRun.open(bundle, 'gen-z', fixtureSettings('infinity-B', 'gen'), c);
    await run.goTo(run.scaleCount - 1);
    const d = maxAbsDiff(run.fHatAt(run.scaleCount - 1), npyFloats(readNpy(infinityFixture('infinity-B', 'gen_z.npy'))));
    assert.ok(d <= TOL, `f̂: max abs diff ${d} > ${TOL}`);
  });

  it("infinity-B: the official seeded run's bits, forced, give the logits its sampler got (1/tau 2, CFG 4 on the logits)", async () => {
    const bundle = await env.engine.anyBundle(infinityBundle('infinity-B'));
    assert.ok(bundle instanceof InfinityBundle);
    const s = bundle.manifest.schedules[0];
    const d = bundle.manifest.bits;
    const bits = readNpy(infinityFixture('infinity-B', 'gen_sampled_bits.npy')).data as Uint8Array;
    const forced = s.beginEnds.map(([b, e]) => bits.slice(b * d, e * d));
    const settings = fixtureSettings('infinity-B', 'gen_sampled', 1);
    const run = await BitGenerationRun.open(bundle, 'forced', settings, caption('infinity-B', 0), { forced, keepLogits: true });
    await run.goTo(run.scaleCount - 1);
    const ours = new Float32Array(s.tokenCount * d * 2);
    for (let k = 0; k < run.scaleCount; k++) ours.set(run.stepAt(k).logits!, s.beginEnds[k][0] * d * 2);
    assert.deepStrictEqual(Buffer.concat(run.bits), Buffer.from(bits));
    const diff = maxAbsDiff(ours, npyFloats(readNpy(infinityFixture('infinity-B', 'gen_sampled_logits.npy'))));
    assert.ok(diff <= GUIDED_TOL, `guided logits: max abs diff ${diff} > ${GUIDED_TOL}`);
  });

  it('seeded: the same seed gives the same bits, another seed other bits; greedy (top-k 1) ignores the seed', async () => {
    const model = infinityBundle('infinity-B');
    const settings = fixtureSettings('infinity-B', 'gen_sampled', 7);
    const a = await env.engine.generate({ model, settings });
    const b = await env.engine.generate({ model, settings });
    assert.deepStrictEqual(a.bits, b.bits);
    const c = await env.engine.generate({ model, settings: { ...settings, seed: 8 } });
    assert.notDeepStrictEqual(a.bits, c.bits);
    // greedy ignores the seed
    const greedy = { ...settings, topK: 1, topP: 0 };
    assert.deepStrictEqual(
      (await env.engine.generate({ model, settings: greedy })).bits,
      (await env.engine.generate({ model, settings: { ...greedy, seed: 3 } })).bits,
    );
  });

  it('step API: streams each scale with its bits and image, goes back and forward to the same bits, cancels', async () => {
    const model = infinityBundle('infinity-A');
    const settings = fixtureSettings('infinity-A', 'gen', 5);
    settings.topK = 0; // sampled: going back must restore the random stream
    const whole = await env.engine.generate({ model, settings });
    const events: Array<{ runId: string; scaleIndex: number }> = [];
    const own = new Engine((name, payload) => {
      if (name === 'generationStep') events.push(payload as { runId: string; scaleIndex: number });
    });
    try {
      await own.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
      const { runId } = await own.generationStart({ model, settings });
      const s3 = await own.generationStep({ runId, scaleIndex: 3 });
      assert.strictEqual(s3.family, 'infinity');
      if (s3.family !== 'infinity') return;
      assert.deepStrictEqual(s3.bits, whole.bits[3]);
      assert.deepStrictEqual([s3.h, s3.w], [6, 6]);
      assert.strictEqual(s3.sampledProb.length, 6 * 6 * 16);
      assert.strictEqual(s3.entropy.length, 36);
      assert.deepStrictEqual([s3.image.width, s3.image.height], [256, 256]);
      assert.deepStrictEqual(
        events.map((e) => e.scaleIndex),
        [0, 1, 2, 3],
      );
      const back = await own.generationStep({ runId, scaleIndex: 1 });
      assert.ok(back.family === 'infinity');
      assert.deepStrictEqual(back.bits, whole.bits[1]);
      const last = await own.generationStep({ runId, scaleIndex: 6 });
      assert.ok(last.family === 'infinity');
      assert.deepStrictEqual(last.bits, whole.bits[6]);
      assert.deepStrictEqual(last.image, whole.image);
      await own.generationCancel({ runId });
      await assert.rejects(own.generationStep({ runId }), (e: unknown) => e instanceof VarScopeError && e.code === 'Cancelled');
    } finally {
      await own.dispose();
    }
  });

  it('settings refused in one line: list lengths, bounds, the other family', async () => {
    const inf = infinityBundle('infinity-A');
    const settings = fixtureSettings('infinity-A', 'gen');
    const refuses = (p: Promise<unknown>, message: string) =>
      assert.rejects(p, (e: unknown) => e instanceof VarScopeError && e.code === 'BadRequest' && e.message === message);
    await refuses(
      env.engine.generate({ model: inf, settings: { ...settings, cfgList: [3, 3] } }),
      'cfgList has 2 values, the schedule has 7 scales',
    );
    await refuses(
      env.engine.generate({ model: inf, settings: { ...settings, tauList: [1, 1, 1, 0, 1, 1, 1] } }),
      'tauList[3] must be a number in [0.01, 100], got 0',
    );
    await refuses(env.engine.generate({ model: inf, settings: { ...settings, topP: 2 } }), 'topP must be a number in [0, 1], got 2');
    await refuses(
      env.engine.generate({ model: inf, settings: { ...settings, cfgInsertionLayer: -2 } }),
      'cfgInsertionLayer -2 is outside a model of 2 blocks (use -1 .. -1, or 0)',
    );
    await refuses(
      env.engine.generationStart({ model: inf, settings: { classId: 1, seed: 0, cfg: 4, topK: 900, topP: 0.96 } }),
      `${inf} is an Infinity bundle: generationStart needs Infinity settings (a caption, cfgList, tauList), not a class`,
    );
    const varModel = requireBundle();
    await refuses(
      env.engine.generate({ model: varModel, settings }),
      `${varModel} is a VAR bundle: generate needs VAR settings (a class), not a caption`,
    );
  });
});
