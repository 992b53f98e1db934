/**
 * What-if for Infinity on the official fixture bundle A (16 bits, 1:1): an edit of nothing is the original generation
 * (which is `generate`'s), flipped bits appear in the result and nowhere else at their scale, the coarser scales stay,
 * a resample with the generation's own seed changes nothing, edits repeat, and bad edits are refused in one line.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Engine } from '../../../../src/engine/engine';
import type { BitEditResult } from '../../../../src/shared/bitEdit';
import { VarScopeError } from '../../../../src/shared/errors';
import type { BitGenerationSettings } from '../../../../src/shared/results';
import { requireBundle, ROOT } from '../../fixtures';
import { npyFloats, readNpy, writeNpyFloat32 } from '../../npy';

describe('Infinity what-if edit (engine)', function () {
  this.timeout(300000);
  let engine: Engine;
  let model: string;
  let tmp: string;
  let settings: BitGenerationSettings;
  const d = 16;

  before(async () => {
    engine = new Engine();
    await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
    model = requireBundle(path.join(ROOT, 'out', 'bundles', 'infinity-A'));
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-bitedit-'));
    const kv = npyFloats(readNpy(path.join(ROOT, 'test', 'fixtures', 'infinity', 'infinity-A', 'text_kv_compact.npy')));
    const featuresFile = path.join(tmp, 'caption0.npy');
    writeNpyFloat32(featuresFile, [7, 128], kv.slice(0, 7 * 128)); // caption 0: text_cu_seqlens_k [0, 7, 20]
    const K = 7;
    settings = {
      family: 'infinity',
      text: { featuresFile },
      seed: 12,
      cfgList: new Array<number>(K).fill(3),
      tauList: new Array<number>(K).fill(1),
      topK: 900,
      topP: 0.97,
    };
  });
  after(async () => {
    await engine?.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const edit = (scaleIndex: number, positions: number[], change: BitEditResult['change']) =>
    engine.edit({ model, family: 'infinity', settings, scaleIndex, positions, change });

  it('an edit of nothing is the original generation, which is `generate`’s', async () => {
    const g = await engine.generate({ model, settings });
    const r = await edit(3, [], { flip: [0] });
    assert.deepStrictEqual(r.original.bits, g.bits);
    assert.deepStrictEqual(r.original.image.data, g.image.data);
    assert.deepStrictEqual(r.edited.bits, g.bits);
    assert.deepStrictEqual(r.edited.image.data, g.image.data);
    assert.ok(r.disagreement.every((x) => x.tokens === 0 && x.bits === 0));
    assert.deepStrictEqual(r.scales, [
      [1, 1],
      [2, 2],
      [4, 4],
      [6, 6],
      [8, 8],
      [12, 12],
      [16, 16],
    ]);
  });

  it('flipped bits appear in the result, nowhere else at their scale; coarser scales stay; it repeats', async () => {
    const k = 3;
    const positions = [0, 7, 20];
    const flip = [1, 5, 15];
    const r = await edit(k, positions, { flip });
    for (let s = 0; s < k; s++) assert.deepStrictEqual(r.edited.bits[s], r.original.bits[s], `scale ${s}`);
    const want = r.original.bits[k].slice();
    for (const p of positions) for (const j of flip) want[p * d + j] ^= 1;
    assert.deepStrictEqual(r.edited.bits[k], want);
    assert.deepStrictEqual(r.disagreement[k], { tokens: 3 / 36, bits: 9 / (36 * d) });
    assert.ok(r.disagreement.slice(0, k).every((x) => x.tokens === 0));
    // the finer scales are generated again: the edit reaches them
    assert.ok(r.disagreement.slice(k + 1).some((x) => x.bits > 0));
    const again = await edit(k, positions, { flip });
    assert.deepStrictEqual(again.edited.bits, r.edited.bits);
    assert.deepStrictEqual(again.edited.image.data, r.edited.image.data);
  });

  it('a resample redraws only the chosen tokens; with the generation’s own seed it changes nothing', async () => {
    const k = 2;
    const positions = [1, 2, 3, 4];
    const same = await edit(k, positions, { resampleSeed: settings.seed });
    assert.deepStrictEqual(same.edited.bits, same.original.bits);
    const r = await edit(k, positions, { resampleSeed: 99 });
    for (let p = 0; p < 16; p++) {
      const slice = (b: Uint8Array) => Array.from(b.subarray(p * d, (p + 1) * d));
      if (!positions.includes(p)) assert.deepStrictEqual(slice(r.edited.bits[k]), slice(r.original.bits[k]), `position ${p}`);
    }
    assert.ok(r.disagreement[k].bits > 0);
    const again = await edit(k, positions, { resampleSeed: 99 });
    assert.deepStrictEqual(again.edited.bits, r.edited.bits);
  });

  it('refuses bad edits and a VAR bundle in one line', async () => {
    const cases: Array<[() => Promise<unknown>, RegExp]> = [
      [() => edit(7, [0], { flip: [0] }), /^scale 7 outside 0\.\.6$/],
      [() => edit(1, [4], { flip: [0] }), /^positions must be tokens of scale 1 \(0\.\.3\)$/],
      [() => edit(1, [0], { flip: [16] }), /^flip must list bits of a token \(0\.\.15\), at least one$/],
      [() => edit(1, [0], { resampleSeed: -1 }), /^resampleSeed must be an integer/],
      [
        () => engine.edit({ model: requireBundle(), family: 'infinity', settings, scaleIndex: 0, positions: [], change: { flip: [0] } }),
        /is a VAR bundle: edit needs VAR settings \(a class\), not a caption$/,
      ],
    ];
    for (const [p, re] of cases)
      await assert.rejects(
        p(),
        (e: unknown) => e instanceof VarScopeError && e.code === 'BadRequest' && re.test(e.message) && !e.message.includes('\n'),
      );
  });
});
