/**
 * The sampling grid on the fixture bundle: each sample is the `generate` run of its class, setting and seed (which the
 * parity tests check against PyTorch), top-k is clamped to the codebook, and bad grids are refused in one line.
 */
import * as assert from 'assert';
import { Engine } from '../../../../src/engine/engine';
import { VarScopeError } from '../../../../src/shared/errors';
import { cartesianSettings, SAMPLING_PRESETS, type SamplingGridResult } from '../../../../src/shared/samplingGrid';
import { requireBundle } from '../../fixtures';

describe('sampling grid (fixture bundle)', function () {
  this.timeout(300000);
  let engine: Engine;
  let model: string;
  let grid: SamplingGridResult;
  const settings = [SAMPLING_PRESETS.fid[0], SAMPLING_PRESETS.looks[0], { cfg: 1.5, topK: 20, topP: 0 }];

  before(async () => {
    engine = new Engine();
    model = requireBundle();
    grid = await engine.samplingGrid({ model, classes: [3, 7], settings, samples: 2, seed: 11 });
  });
  after(() => engine.dispose());

  it('every sample of every setting equals `generate` with that class, setting and seed', async () => {
    assert.strictEqual(grid.settings.length, 3);
    for (const s of grid.settings) {
      assert.deepStrictEqual(
        s.samples.map((x) => [x.classId, x.seed]),
        [
          [3, 11],
          [3, 12],
          [7, 11],
          [7, 12],
        ],
      );
      for (const x of s.samples) {
        const g = await engine.generate({ model, settings: { classId: x.classId, seed: x.seed, ...s.setting } });
        assert.deepStrictEqual(x.tokens, g.tokens, `cfg ${s.setting.cfg} class ${x.classId} seed ${x.seed}`);
        assert.deepStrictEqual(x.image.data, g.image.data);
      }
    }
  });

  it('clamps top-k to the codebook size and says what was asked', () => {
    assert.strictEqual(grid.vocabSize, 512);
    assert.deepStrictEqual(grid.settings[0].setting, { cfg: 1.5, topK: 512, topP: 0.96 });
    assert.strictEqual(grid.settings[0].requestedTopK, 900);
    assert.deepStrictEqual(grid.settings[2].setting, { cfg: 1.5, topK: 20, topP: 0 });
    assert.strictEqual(grid.settings[2].requestedTopK, undefined);
  });

  it('the metrics agree with the tokens: agreement with the first setting, distinct codes, a top-k of 20', () => {
    const SN = grid.patchNums.length;
    for (const [i, s] of grid.settings.entries()) {
      assert.strictEqual(s.scales.length, SN);
      for (let k = 0; k < SN; k++) {
        let equal = 0;
        let n = 0;
        s.samples.forEach((x, j) => {
          const ref = grid.settings[0].samples[j].tokens[k];
          x.tokens[k].forEach((t, p) => (equal += t === ref[p] ? 1 : 0));
          n += x.tokens[k].length;
        });
        assert.strictEqual(s.scales[k].agreement, equal / n, `setting ${i} scale ${k}`);
        assert.strictEqual(s.scales[k].distinctCodes, new Set(s.samples.flatMap((x) => Array.from(x.tokens[k]))).size);
        assert.ok(s.scales[k].meanEntropy > 0 && s.scales[k].meanEntropy <= Math.log(512) + 1e-9);
      }
    }
    // the first setting agrees with itself; with CFG off at scale 0 (the ramp starts at 0) and the same top-k / top-p,
    // the looks setting draws the same first token
    assert.ok(grid.settings[0].scales.every((m) => m.agreement === 1));
    assert.strictEqual(grid.settings[1].scales[0].agreement, 1);
    // 4 samples at 16×16 with top-k 20: at most 20 codes per position, and the untrained fixture spreads them wide
    assert.ok(grid.settings[2].scales[SN - 1].distinctCodes < grid.settings[0].scales[SN - 1].distinctCodes);
  });

  it('the cartesian grid has CFG slowest', () => {
    assert.deepStrictEqual(cartesianSettings([1, 2], [5], [0.5, 0.9]), [
      { cfg: 1, topK: 5, topP: 0.5 },
      { cfg: 1, topK: 5, topP: 0.9 },
      { cfg: 2, topK: 5, topP: 0.5 },
      { cfg: 2, topK: 5, topP: 0.9 },
    ]);
  });

  it('refuses bad grids in one line: unknown class, top-k 0, no classes, no settings', async () => {
    const fid = SAMPLING_PRESETS.fid[0];
    const cases: Array<[object, RegExp]> = [
      [{ classes: [1000], settings: [fid] }, /^unknown class 1000: the model has classes 0\.\.999$/],
      [{ classes: [1], settings: [{ ...fid, topK: 0 }] }, /^setting 1: top-k must be at least 1/],
      [{ classes: [], settings: [fid] }, /^the grid has no classes/],
      [{ classes: [1], settings: [] }, /^the grid has no settings/],
      [{ classes: [1], settings: [{ ...fid, cfg: -1 }] }, /^setting 1: cfg must be a number in \[0, 100\], got -1$/],
    ];
    for (const [bad, re] of cases) {
      await assert.rejects(
        engine.samplingGrid({ model, samples: 2, seed: 0, ...(bad as { classes: number[]; settings: typeof settings }) }),
        (e: unknown) => e instanceof VarScopeError && e.code === 'BadRequest' && re.test(e.message) && !e.message.includes('\n'),
      );
    }
  });
});
