/**
 * The engine on the official Infinity fixtures (test/fixtures/infinity, exported by tools/export_fixtures.sh into
 * out/bundles/infinity-A and -B): bits per scale exactly the official tokenizer's, the cumulative latents and the
 * teacher-forced logits (float32 text attention: tf_logits_fp32ca) within the VAR fixture tolerance, and bit / token
 * accuracy and the baselines as computed here from the official logits and bits.
 */
import * as assert from 'assert';
import { InfinityBundle } from '../../../../src/engine/bundle/infinityBundle';
import { bilinearMatrix, cumulativeLatents, teacherForcedBitLogits } from '../../../../src/engine/model/infinityModel';
import { VarScopeError } from '../../../../src/shared/errors';
import { requireBundle } from '../../fixtures';
import { infinityBundle, infinityFixture, useFixtureEngine, writeFixtureCaption } from '../../infinityFixtures';
import { maxAbsDiff, npyFloats, readNpy } from '../../npy';

/** The VAR fixtures' tolerance for latents and logits (test/unit/parity/officialFixtures.test.ts). */
const TOL = 5e-5;

const CONFIGS = [
  { name: 'infinity-A', bits: 16, hDivW: 1.0, size: [256, 256] },
  { name: 'infinity-B', bits: 32, hDivW: 0.75, size: [240, 320] },
] as const;

/** Bit and token accuracy of predicted bits against true ones over tokens begin..end of [L, d]. */
function accuracyOf(pred: (t: number, j: number) => number, truth: Uint8Array, begin: number, end: number, d: number) {
  let bits = 0;
  let tokens = 0;
  for (let t = begin; t < end; t++) {
    let right = 0;
    for (let j = 0; j < d; j++) right += pred(t, j) === truth[t * d + j] ? 1 : 0;
    bits += right;
    tokens += right === d ? 1 : 0;
  }
  return { bitAccuracy: bits / ((end - begin) * d), tokenAccuracy: tokens / (end - begin) };
}

describe('Infinity on the official fixtures (engine)', function () {
  this.timeout(300000);
  const env = useFixtureEngine('varscope-infinity-');

  it("bilinearMatrix is PyTorch's bilinear upsampling (align_corners=False): 2 -> 4", () => {
    assert.deepStrictEqual(Array.from(bilinearMatrix(2, 4)), [1, 0, 0.75, 0.25, 0.25, 0.75, 0, 1]);
  });

  for (const c of CONFIGS) {
    const fx = (f: string) => infinityFixture(c.name, f);
    const model = () => infinityBundle(c.name);

    it(`${c.name}: openModel says the family, the bits and the schedules (what the panel shows)`, async () => {
      const info = await env.engine.openModel({ model: model() });
      assert.strictEqual(info.family, 'infinity');
      if (info.family !== 'infinity') return;
      assert.strictEqual(info.bits, c.bits);
      assert.strictEqual(info.textEncoder, false); // the fixture bundles are exported without one
      assert.ok(info.schedules.some((s) => s.hDivW === c.hDivW && s.pixelSize[0] === c.size[0] && s.pixelSize[1] === c.size[1]));
      assert.strictEqual(info.provider, 'cpu');
      assert.deepStrictEqual(info.providerFallbacks, []);
    });

    it(`${c.name}: inspectBits gives tok_bits exactly, tok_fhat within ${TOL}, RGB images at the schedule's size`, async () => {
      const r = await env.engine.inspectBits({ model: model(), image: { path: fx('image.png') } });
      const want = readNpy(fx('tok_bits.npy')).data as Uint8Array;
      const got = new Uint8Array(want.length);
      let at = 0;
      for (const s of r.scales) got.set(s.bits, (at += s.bits.length) - s.bits.length);
      assert.strictEqual(at, want.length);
      assert.deepStrictEqual(got, want);
      assert.strictEqual(r.model.bits, c.bits);
      assert.strictEqual(r.scales[r.scales.length - 1].decoded.width, c.size[1]);
      assert.strictEqual(r.scales[r.scales.length - 1].decoded.height, c.size[0]);
      // the input shown is the image itself (RGB, at the schedule's size already: no resize)
      const png = r.image.input;
      assert.deepStrictEqual([png.height, png.width], [...c.size]);
      assert.strictEqual(r.image.resized, false);
      // residual energy falls to the last scale's
      const e = r.scales.map((s) => s.residualEnergy);
      assert.ok(e[e.length - 1] < e[0], `residual energy ${e}`);
      const bundle = await env.engine.anyBundle(model());
      assert.ok(bundle instanceof InfinityBundle);
      assert.strictEqual(r.schedule, bundle.schedule(c.hDivW).id);
      const fHat = cumulativeLatents(got, c.bits, bundle.schedule(c.hDivW));
      const d = maxAbsDiff(fHat, npyFloats(readNpy(fx('tok_fhat.npy'))));
      assert.ok(d <= TOL, `fHat: max abs diff ${d} > ${TOL}`);
    });

    it(`${c.name}: teacher-forced logits of caption 0 within ${TOL} of tf_logits_fp32ca; accuracies as computed from them`, async () => {
      const { file, features, tokens: n } = writeFixtureCaption(c.name, 0, env.tmp);
      const bundle = await env.engine.anyBundle(model());
      assert.ok(bundle instanceof InfinityBundle);
      const schedule = bundle.schedule(c.hDivW);
      const r = await env.engine.evaluateBits({ model: model(), image: { path: fx('image.png') }, text: { featuresFile: file } });
      assert.strictEqual(r.captionTokens, n);
      const bits = readNpy(fx('tok_bits.npy')).data as Uint8Array;
      const official = npyFloats(readNpy(fx('tf_logits_fp32ca.npy')));
      const L = schedule.tokenCount;
      const d = c.bits;
      const theirs = official.slice(0, L * d * 2); // batch row 0: caption 0
      const ours = await teacherForcedBitLogits(bundle, schedule, bits, { features, tokens: n });
      const diff = maxAbsDiff(ours, theirs);
      assert.ok(diff <= TOL, `logits: max abs diff ${diff} > ${TOL}`);
      const pred = (t: number, j: number) => (theirs[(t * d + j) * 2 + 1] > theirs[(t * d + j) * 2] ? 1 : 0);
      schedule.beginEnds.forEach(([b, e], k) => {
        const want = accuracyOf(pred, bits, b, e, d);
        assert.strictEqual(r.scales[k].bitAccuracy, want.bitAccuracy, `scale ${k} bit accuracy`);
        assert.strictEqual(r.scales[k].tokenAccuracy, want.tokenAccuracy, `scale ${k} token accuracy`);
        // majority per bit at this scale
        const ones = Array.from({ length: d }, (_, j) => {
          let s = 0;
          for (let t = b; t < e; t++) s += bits[t * d + j];
          return 2 * s > e - b ? 1 : 0;
        });
        assert.deepStrictEqual(
          r.scales[k].majorityBaseline,
          accuracyOf((_t, j) => ones[j], bits, b, e, d),
          `scale ${k} majority`,
        );
        if (k === 0) assert.strictEqual(r.scales[k].copyCoarserBaseline, null);
        // per token, the bits the argmax got wrong: d minus the token's correct bits, 0 exactly where the token is right
        const wrong = Array.from({ length: e - b }, (_, p) => {
          let n = 0;
          for (let j = 0; j < d; j++) n += pred(b + p, j) === bits[(b + p) * d + j] ? 0 : 1;
          return n;
        });
        assert.deepStrictEqual(Array.from(r.scales[k].wrongBits), wrong, `scale ${k} wrong bits per token`);
        assert.strictEqual(
          r.scales[k].wrongBits.filter((n) => n === 0).length / (e - b),
          r.scales[k].tokenAccuracy,
          `scale ${k}: tokens with no wrong bit`,
        );
      });
      // copy the coarser scale, nearest: scale 1 (2×2) from scale 0 (1×1) is the one token repeated
      const copy = r.scales[1].copyCoarserBaseline!;
      const [b1, e1] = schedule.beginEnds[1];
      assert.deepStrictEqual(
        copy,
        accuracyOf((_t, j) => bits[j], bits, b1, e1, d),
      );
      assert.deepStrictEqual(r.overall, accuracyOf(pred, bits, 0, L, d));
      // the model is no better than chance on random weights, but the numbers are real fractions
      for (const s of r.scales) assert.ok(s.bitAccuracy >= 0 && s.bitAccuracy <= 1);
    });
  }

  it('a VAR request on an Infinity bundle, and the reverse, get one clear line', async () => {
    const inf = infinityBundle('infinity-A');
    await assert.rejects(
      env.engine.inspect({ model: inf, image: { path: infinityFixture('infinity-A', 'image.png') } }),
      (e: unknown) =>
        e instanceof VarScopeError &&
        e.message ===
          `${inf} is an Infinity bundle: inspect works on VAR bundles (for Infinity: inspectBits, evaluateBits, attention; \`varscope inspect\`)`,
    );
    const varModel = requireBundle();
    await assert.rejects(
      env.engine.inspectBits({ model: varModel, image: { path: infinityFixture('infinity-A', 'image.png') } }),
      (e: unknown) => e instanceof VarScopeError && e.message === `${varModel} is a VAR bundle: inspectBits works on Infinity bundles`,
    );
    assert.strictEqual(await env.engine.modelFamily({ model: inf }), 'infinity');
    assert.strictEqual(await env.engine.modelFamily({ model: varModel }), 'var');
  });
});
