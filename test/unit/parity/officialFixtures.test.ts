/**
 * Parity with the official VAR code on the fixture model: the exported bundle run by our engine, from the
 * PNG files through our preprocessing, against the reference tensors (tolerances of the issue, never loosened).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import { Engine } from '../../../src/engine/engine';
import { GenerationRun } from '../../../src/engine/generation/generator';
import type { ModelBundle } from '../../../src/engine/bundle/bundle';
import { attentionWeights, scoreLogits, teacherForcedLogits } from '../../../src/engine/model/teacherForcing';
import { decodeLatents, tokenize, Tokenization } from '../../../src/engine/model/tokenizer';
import { BUNDLE, BUNDLE_TORCH2, fixture, requireBundle } from '../fixtures';
import { maxAbsDiff, npyFloats, npyInts, readNpy } from '../npy';

const TOL = 5e-5;
const IMG_TOL = 1e-3;

// The fixtures exported by each PyTorch the exporter supports: both must reproduce the official tensors.
for (const [exportedBy, dir] of [
  ['torch 1.13', BUNDLE],
  ['torch 2.x', BUNDLE_TORCH2],
] as const)
  describe(`parity with the official VAR fixtures (official-var-A, exported by ${exportedBy})`, function () {
    this.timeout(120000);
    let engine: Engine;
    let bundle: ModelBundle;
    const toks: Tokenization[] = [];

    before(async () => {
      requireBundle(dir);
      engine = new Engine();
      await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
      bundle = await engine.bundle(dir);
    });
    after(async () => engine?.dispose());

    /** Steps `run` through every scale: its CFG logits match the fixture's within TOL and its tokens are the forced ones. */
    async function expectCfgLogits(run: GenerationRun, ref: Float32Array, forced: ArrayLike<number>[]): Promise<void> {
      const m = bundle.manifest;
      const V = m.vae.vocabSize;
      for (let k = 0; k < m.patchNums.length; k++) {
        const out = await run.goTo(k);
        const [b, e] = m.beginEnds[k];
        const d = maxAbsDiff(out.logits!, ref.subarray(b * V, e * V));
        assert.ok(d <= TOL, `scale ${k}: max abs diff ${d}`);
        assert.deepStrictEqual(Array.from(out.tokens), Array.from(forced[k]));
      }
    }

    for (const i of [0, 1, 2]) {
      it(`img${i}: tokens exact; f, fHat, varInput within ${TOL}`, async () => {
        const input = await engine.modelInput(bundle, { path: fixture(`img${i}.png`) });
        const t = await tokenize(bundle, input.tensor);
        toks[i] = t;
        const ref = npyInts(readNpy(fixture(`img${i}_idx.npy`)));
        const wrong = Array.from(ref).filter((v, j) => v !== t.tokens[j]).length;
        assert.strictEqual(wrong, 0, `${wrong} of ${ref.length} tokens differ`);
        const diffs = {
          f: maxAbsDiff(t.f, npyFloats(readNpy(fixture(`img${i}_f.npy`)))),
          fHat: maxAbsDiff(t.fHat, npyFloats(readNpy(fixture(`img${i}_fhat.npy`)))),
          varInput: maxAbsDiff(t.varInput, npyFloats(readNpy(fixture(`img${i}_var_input.npy`)))),
        };
        for (const [name, d] of Object.entries(diffs)) assert.ok(d <= TOL, `${name}: max abs diff ${d} > ${TOL}`);
      });

      it(`img${i}: decoded image of every scale within ${IMG_TOL}`, async () => {
        const t = toks[i] ?? (await tokenize(bundle, (await engine.modelInput(bundle, { path: fixture(`img${i}.png`) })).tensor));
        const dec = await decodeLatents(bundle, t.fHat, bundle.manifest.patchNums.length);
        const d = maxAbsDiff(dec, npyFloats(readNpy(fixture(`img${i}_dec.npy`))));
        assert.ok(d <= IMG_TOL, `max abs diff ${d}`);
      });

      it(`img${i}: teacher-forced logits (class 3) within ${TOL}; NLL and accuracy as computed from the reference logits`, async () => {
        const t = toks[i] ?? (await tokenize(bundle, (await engine.modelInput(bundle, { path: fixture(`img${i}.png`) })).tensor));
        const logits = await teacherForcedLogits(bundle, t.varInput, 3);
        const ref = npyFloats(readNpy(fixture(`img${i}_logits_c3.npy`)));
        const d = maxAbsDiff(logits, ref);
        assert.ok(d <= TOL, `max abs diff ${d}`);
        const ours = scoreLogits(bundle, logits, t.tokens, 3);
        const theirs = scoreLogits(bundle, ref, npyInts(readNpy(fixture(`img${i}_idx.npy`))), 3);
        // independent check of the scoring itself: NLL of scale 0 from the reference logits by hand
        const V = bundle.manifest.vae.vocabSize;
        const row = Array.from(ref.subarray(0, V));
        const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
        assert.ok(Math.abs(theirs.scales[0].nll - (lse - row[t.tokens[0]])) < 1e-6);
        ours.scales.forEach((s, k) => {
          assert.ok(Math.abs(s.nll - theirs.scales[k].nll) < 1e-4, `nll scale ${k}`);
          assert.strictEqual(s.accuracy, theirs.scales[k].accuracy, `accuracy scale ${k}`);
        });
      });
    }

    it(`KV-cached CFG generation (cfg 2, class 3, tokens forced to img0's): logits per step within ${TOL}, image within ${IMG_TOL}`, async () => {
      const m = bundle.manifest;
      const idx = npyInts(readNpy(fixture('img0_idx.npy')));
      const forced = m.beginEnds.map(([b, e]) => idx.slice(b, e));
      const run = new GenerationRun(bundle, 'parity', { classId: 3, seed: 0, cfg: 2, topK: 0, topP: 0 }, { forced, keepLogits: true });
      const ref = npyFloats(readNpy(fixture('cfg_logits.npy')));
      await expectCfgLogits(run, ref, forced);
      const img = await run.imageTensor();
      const refImg = npyFloats(readNpy(fixture('cfg_img.npy'))); // [0, 1]
      const d = maxAbsDiff(
        img.map((v) => (v + 1) / 2),
        refImg,
      );
      assert.ok(d <= IMG_TOL, `image max abs diff ${d}`);
    });

    it('full recompute gives the same CFG logits as the KV cache', async () => {
      const m = bundle.manifest;
      const idx = npyInts(readNpy(fixture('img0_idx.npy')));
      const forced = m.beginEnds.map(([b, e]) => idx.slice(b, e));
      const ref = npyFloats(readNpy(fixture('cfg_logits.npy')));
      const run = new GenerationRun(
        bundle,
        'parity-full',
        { classId: 3, seed: 0, cfg: 2, topK: 0, topP: 0 },
        { forced, keepLogits: true, fullRecompute: true },
      );
      await expectCfgLogits(run, ref, forced);
    });

    it('attention weights: zero exactly where the official block-causal mask forbids, rows sum to 1', async () => {
      const t = toks[0] ?? (await tokenize(bundle, (await engine.modelInput(bundle, { path: fixture('img0.png') })).tensor));
      const mask = readNpy(fixture('attn_mask.npy')).data as Uint8Array; // [L, L] true = may attend
      const L = bundle.manifest.tokenCount;
      for (const head of [0, 'mean'] as const) {
        const a = await attentionWeights(bundle, t.varInput, 3, bundle.manifest.var.depth - 1, head);
        assert.strictEqual(a.weights.length, L * L);
        for (let q = 0; q < L; q += 7) {
          let sum = 0;
          for (let k = 0; k < L; k++) {
            const w = a.weights[q * L + k];
            if (!mask[q * L + k]) assert.strictEqual(w, 0, `q ${q} k ${k}`);
            sum += w;
          }
          assert.ok(Math.abs(sum - 1) < 1e-4, `row ${q} sums to ${sum}`);
        }
      }
    });

    it('the bundle training hits are the per-scale hit counts of the fixture images', async () => {
      const hits = (await engine.trainingUsage({ model: requireBundle() }))!;
      assert.ok(hits, 'the fixture checkpoint carries quantize.ema_vocab_hit_SV');
      const counts = bundle.manifest.patchNums.map(() => new Float64Array(bundle.manifest.vae.vocabSize));
      for (const i of [0, 1, 2]) {
        const idx = npyInts(readNpy(fixture(`img${i}_idx.npy`)));
        bundle.manifest.beginEnds.forEach(([b, e], k) => idx.subarray(b, e).forEach((v) => counts[k][v]++));
      }
      hits.perScale.forEach((s, k) => assert.deepStrictEqual(Array.from(s), Array.from(counts[k]), `scale ${k}`));
      assert.ok(fs.existsSync(requireBundle()));
    });
  });
