/**
 * Infinity's attention through the engine on fixture bundle infinity-B (4 blocks, 4 heads, h:w 0.75, L = 665): the
 * weights of one head and of the mean of heads equal the PyTorch reference's (test/fixtures/infinity-attention,
 * written and held to PyTorch by python/tests/test_infinity_attention.py), every row sums to 1, the self-attention is
 * zero above each scale's end. A bundle exported before the attention graph still opens and evaluates; its attention
 * is refused in one line; a class on an Infinity bundle and a caption on a VAR one are refused in one line.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Engine } from '../../../../src/engine/engine';
import { VarScopeError } from '../../../../src/shared/errors';
import type { AttentionResult } from '../../../../src/shared/results';
import { requireBundle, ROOT } from '../../fixtures';
import { maxAbsDiff, npyFloats, readNpy, writeNpyFloat32 } from '../../npy';

/** The VAR fixture tolerance (test/unit/parity/officialFixtures.test.ts). */
const TOL = 5e-5;
const DATA = path.join(ROOT, 'test', 'fixtures', 'infinity-attention');
const FX = path.join(ROOT, 'test', 'fixtures', 'infinity', 'infinity-B');

interface Index {
  cases: Array<{ layer: number; head: number | 'mean'; self: string; cross: string }>;
}

/** Largest |row sum - 1| of a [rows, n] matrix. */
function rowSumError(w: Float32Array, rows: number, n: number): number {
  let worst = 0;
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += w[r * n + k];
    worst = Math.max(worst, Math.abs(s - 1));
  }
  return worst;
}

describe('Infinity attention (engine, fixture infinity-B)', function () {
  this.timeout(300000);
  let engine: Engine;
  let tmp: string;
  let captionFile: string;
  let captionTokens: number;
  const model = () => requireBundle(path.join(ROOT, 'out', 'bundles', 'infinity-B'));
  const image = { path: path.join(FX, 'image.png') };

  before(async () => {
    engine = new Engine();
    await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-bit-attention-'));
    const kv = readNpy(path.join(FX, 'text_kv_compact.npy'));
    captionTokens = Number((readNpy(path.join(FX, 'text_cu_seqlens_k.npy')).data as BigInt64Array)[1]); // caption 0
    const width = kv.shape[1];
    captionFile = path.join(tmp, 'caption0.npy');
    writeNpyFloat32(captionFile, [captionTokens, width], npyFloats(kv).slice(0, captionTokens * width));
  });
  after(async () => {
    await engine?.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const index = JSON.parse(fs.readFileSync(path.join(DATA, 'index.json'), 'utf8')) as Index;
  for (const c of index.cases) {
    it(`layer ${c.layer}, head ${c.head}: PyTorch's weights within ${TOL}; rows sum to 1; zero above the block-causal mask`, async () => {
      const r: AttentionResult = await engine.attention({
        model: model(),
        image,
        text: { featuresFile: captionFile },
        layer: c.layer,
        head: c.head,
      });
      const L = r.tokenCount;
      assert.strictEqual(L, 665);
      assert.deepStrictEqual([r.layer, r.head], [c.layer, c.head]);
      assert.ok(r.infinity, 'an Infinity result');
      const cross = r.infinity.cross;
      assert.strictEqual(r.infinity.schedule, 'hw0.750-0.06M');
      assert.strictEqual(cross.captionTokens, captionTokens);
      assert.strictEqual(cross.tokens, undefined); // a features file has no token strings
      // self: the stored query rows
      const queries = readNpy(path.join(DATA, 'queries.npy')).data as BigInt64Array;
      const wantSelf = npyFloats(readNpy(path.join(DATA, c.self)));
      const gotSelf = new Float32Array(queries.length * L);
      queries.forEach((q, i) => gotSelf.set(r.weights.subarray(Number(q) * L, (Number(q) + 1) * L), i * L));
      const dSelf = maxAbsDiff(gotSelf, wantSelf);
      assert.ok(dSelf <= TOL, `self: max abs diff ${dSelf} > ${TOL}`);
      const dCross = maxAbsDiff(cross.weights, npyFloats(readNpy(path.join(DATA, c.cross))));
      assert.ok(dCross <= TOL, `cross: max abs diff ${dCross} > ${TOL}`);
      assert.ok(rowSumError(r.weights, L, L) <= 1e-5, 'self rows sum to 1');
      assert.ok(rowSumError(cross.weights, L, captionTokens) <= 1e-5, 'cross rows sum to 1');
      // block-causal: a query of scale k sees keys up to the end of scale k, nothing after
      const info = await engine.openModel({ model: model() });
      assert.strictEqual(info.family, 'infinity');
      const ends: number[] = [];
      if (info.family === 'infinity') {
        let end = 0;
        for (const [h, w] of info.schedules[0].scales) ends.push((end += h * w));
      }
      let above = 0;
      let scale = 0;
      for (let q = 0; q < L; q++) {
        if (q >= ends[scale]) scale++;
        for (let k = ends[scale]; k < L; k++) above = Math.max(above, Math.abs(r.weights[q * L + k]));
      }
      assert.strictEqual(above, 0);
    });
  }

  it('a bundle exported before the attention graph opens and evaluates; its attention is refused in one line', async () => {
    const old = path.join(tmp, 'old-bundle');
    fs.cpSync(model(), old, { recursive: true });
    const manifestFile = path.join(old, 'varscope.json');
    const m = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
    for (const s of m.schedules) {
      delete m.files[s.graphs.infinityAttention.file];
      fs.rmSync(path.join(old, s.graphs.infinityAttention.file));
      delete s.graphs.infinityAttention;
    }
    fs.writeFileSync(manifestFile, JSON.stringify(m));
    const r = await engine.evaluateBits({ model: old, image, text: { featuresFile: captionFile } });
    assert.strictEqual(r.captionTokens, captionTokens);
    await assert.rejects(
      engine.attention({ model: old, image, text: { featuresFile: captionFile }, layer: 0, head: 'mean' }),
      (e: unknown) =>
        e instanceof VarScopeError &&
        e.code === 'BadRequest' &&
        !e.message.includes('\n') &&
        e.message.startsWith(
          'infinity-B predates the infinityAttention graph (exported by an older VARScope); re-export it: `PYTHONPATH=python python3 -m varscope.infinity.export --vae vae.pth --infinity infinity.pth --out ',
        ),
    );
  });

  it('a class on an Infinity bundle, a caption on a VAR bundle, a layer or head outside the model: one line each', async () => {
    const varModel = requireBundle();
    const cases: Array<[Parameters<Engine['attention']>[0], string]> = [
      [
        { model: model(), image, classId: 3, layer: 0, head: 0 },
        `${model()} is an Infinity bundle: attention needs a caption (text), not a class`,
      ],
      [
        { model: varModel, image, text: { featuresFile: captionFile }, layer: 0, head: 0 },
        `${varModel} is a VAR bundle: attention needs a class, not a caption`,
      ],
      [{ model: model(), image, text: { featuresFile: captionFile }, layer: 4, head: 0 }, 'layer 4 outside 0..3'],
      [{ model: model(), image, text: { featuresFile: captionFile }, layer: 0, head: 4 }, 'head 4 outside 0..3'],
    ];
    for (const [params, message] of cases)
      await assert.rejects(engine.attention(params), (e: unknown) => e instanceof VarScopeError && e.message === message);
  });
});
