/**
 * Parity of the embedded default model (models/emoji64-d4) with the PyTorch reference on two held-out emoji:
 * the engine, from the PNG files through our preprocessing, against test/fixtures/default-model
 * (written by `tools/export_default.sh` from the training checkpoints).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { Engine } from '../../../src/engine/engine';
import type { ModelBundle } from '../../../src/engine/bundle/bundle';
import { scoreLogits, teacherForcedLogits } from '../../../src/engine/model/teacherForcing';
import { decodeLatents, tokenize, Tokenization } from '../../../src/engine/model/tokenizer';
import { ROOT } from '../fixtures';
import { maxAbsDiff, npyFloats, npyInts, readNpy } from '../npy';

const TOL = 5e-5;
const IMG_TOL = 1e-3;
const FIX = path.join(ROOT, 'test', 'fixtures', 'default-model');
const MODELS = path.join(ROOT, 'models');

interface FixtureImage {
  file: string;
  name: string;
  class: number;
  arrays: { tokens: string; fhat: string; logits: string; decoded: string };
}

/** test/fixtures/default-model/index.json. */
function readIndex(): { model: string; classes: string[]; images: FixtureImage[] } {
  return JSON.parse(fs.readFileSync(path.join(FIX, 'index.json'), 'utf8'));
}

describe('parity of the default model (models/emoji64-d4) with the PyTorch reference', function () {
  this.timeout(120000);
  const index = readIndex();
  const defaultId = (JSON.parse(fs.readFileSync(path.join(MODELS, 'default.json'), 'utf8')) as { id: string }).id;
  let engine: Engine;
  let bundle: ModelBundle;
  const toks: Tokenization[] = [];

  before(async () => {
    engine = new Engine();
    await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
    bundle = await engine.bundle(path.join(MODELS, index.model));
  });
  after(async () => engine?.dispose());

  it('models/default.json names the fixture model, whose classes are the reference classes', () => {
    assert.strictEqual(defaultId, index.model);
    assert.deepStrictEqual(bundle.manifest.classes, index.classes);
  });

  index.images.forEach((img, i) => {
    const tokenized = async (): Promise<Tokenization> =>
      toks[i] ?? (toks[i] = await tokenize(bundle, (await engine.modelInput(bundle, { path: path.join(FIX, img.file) })).tensor));

    it(`${img.name}: tokens of every scale exact, fHat after the last scale within ${TOL}`, async () => {
      const t = await tokenized();
      const ref = npyInts(readNpy(path.join(FIX, img.arrays.tokens)));
      assert.strictEqual(t.tokens.length, ref.length);
      const wrong = ref.filter((v, j) => v !== t.tokens[j]).length;
      assert.strictEqual(wrong, 0, `${wrong} of ${ref.length} tokens differ`);
      const { Cvae: C, latentSize: h } = bundle.manifest.vae;
      const SN = bundle.manifest.patchNums.length;
      const last = t.fHat.subarray((SN - 1) * C * h * h, SN * C * h * h);
      const d = maxAbsDiff(last, npyFloats(readNpy(path.join(FIX, img.arrays.fhat))));
      assert.ok(d <= TOL, `fHat: max abs diff ${d} > ${TOL}`);
    });

    it(`${img.name}: teacher-forced logits for its class (${img.class}) within ${TOL}`, async () => {
      const t = await tokenized();
      const logits = await teacherForcedLogits(bundle, t.varInput, img.class);
      const ref = npyFloats(readNpy(path.join(FIX, img.arrays.logits)));
      const d = maxAbsDiff(logits, ref);
      assert.ok(d <= TOL, `logits: max abs diff ${d} > ${TOL}`);
      // the accuracy the views show equals the one counted by hand from the reference logits
      const V = bundle.manifest.vae.vocabSize;
      const ours = scoreLogits(bundle, logits, t.tokens, img.class);
      bundle.manifest.beginEnds.forEach(([b, e], k) => {
        let hits = 0;
        for (let j = b; j < e; j++) {
          const row = ref.subarray(j * V, (j + 1) * V);
          if (row.indexOf(Math.max(...row)) === t.tokens[j]) hits++;
        }
        assert.ok(Math.abs(ours.scales[k].accuracy - hits / (e - b)) < 1e-9, `accuracy of scale ${k}`);
      });
    });

    it(`${img.name}: decoded final image within ${IMG_TOL}`, async () => {
      const t = await tokenized();
      const { Cvae: C, latentSize: h } = bundle.manifest.vae;
      const SN = bundle.manifest.patchNums.length;
      const dec = await decodeLatents(bundle, t.fHat.slice((SN - 1) * C * h * h), 1);
      const d = maxAbsDiff(dec, npyFloats(readNpy(path.join(FIX, img.arrays.decoded))));
      assert.ok(d <= IMG_TOL, `decoded: max abs diff ${d} > ${IMG_TOL}`);
    });
  });

  it('the early bundle runs through the shared VAE graphs: same tokens, its own transformer', async () => {
    const early = await engine.bundle(path.join(MODELS, `${index.model}-early`));
    const img = index.images[0];
    const t = await tokenize(early, (await engine.modelInput(early, { path: path.join(FIX, img.file) })).tensor);
    assert.deepStrictEqual(Array.from(t.tokens), Array.from(npyInts(readNpy(path.join(FIX, img.arrays.tokens)))));
    const logits = await teacherForcedLogits(early, t.varInput, img.class);
    assert.ok(logits.every(Number.isFinite));
    const d = maxAbsDiff(logits, npyFloats(readNpy(path.join(FIX, img.arrays.logits))));
    assert.ok(d > 0.1, `the early transformer should differ from the final one (max abs diff ${d})`);
  });
});
