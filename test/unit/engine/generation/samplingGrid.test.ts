/**
 * The sampling grid on the fixture bundle: each sample is the `generate` run of its class, setting and seed (which the
 * parity tests check against PyTorch), top-k is clamped to the codebook, and bad grids are refused in one line; an
 * Infinity grid for a caption on the official fixture bundle likewise, with its bit metrics.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Engine } from '../../../../src/engine/engine';
import { VarScopeError } from '../../../../src/shared/errors';
import { cartesianSettings, SAMPLING_PRESETS, type SamplingGridResult } from '../../../../src/shared/samplingGrid';
import {
  BIT_SAMPLING_PRESETS,
  presetSetting,
  type BitSamplerSetting,
  type BitSamplingGridResult,
} from '../../../../src/shared/bitSamplingGrid';
import { requireBundle, ROOT } from '../../fixtures';
import { npyFloats, readNpy, writeNpyFloat32 } from '../../npy';

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

describe('sampling grid (Infinity fixture bundle)', function () {
  this.timeout(300000);
  let engine: Engine;
  let model: string;
  let tmp: string;
  let text: { featuresFile: string };
  let grid: BitSamplingGridResult;
  const K = 7;
  const settings: BitSamplerSetting[] = [
    presetSetting(BIT_SAMPLING_PRESETS.infer, K),
    presetSetting(BIT_SAMPLING_PRESETS.runInfinity, K),
    { cfgList: [1, 1.5, 2, 2.5, 3, 3, 3], tauList: new Array<number>(K).fill(1), topK: 1, topP: 0 },
  ];

  before(async () => {
    engine = new Engine();
    await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
    model = requireBundle(path.join(ROOT, 'out', 'bundles', 'infinity-A'));
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-bitgrid-'));
    // caption 0 of the official fixture, as a user's features file
    const fx = (f: string) => path.join(ROOT, 'test', 'fixtures', 'infinity', 'infinity-A', f);
    const kv = npyFloats(readNpy(fx('text_kv_compact.npy')));
    const cu = Array.from(readNpy(fx('text_cu_seqlens_k.npy')).data as BigInt64Array, Number);
    const width = kv.length / cu[cu.length - 1];
    text = { featuresFile: path.join(tmp, 'caption0.npy') };
    writeNpyFloat32(text.featuresFile, [cu[1], width], kv.slice(0, cu[1] * width));
    grid = await engine.samplingGrid({ model, family: 'infinity', text, settings, samples: 2, seed: 5 });
  });
  after(async () => {
    await engine?.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('every sample of every setting equals `generate` with that caption, setting and seed', async () => {
    assert.strictEqual(grid.family, 'infinity');
    assert.strictEqual(grid.scales.length, K);
    assert.strictEqual(grid.settings.length, 3);
    for (const [i, s] of grid.settings.entries()) {
      assert.deepStrictEqual(
        s.samples.map((x) => x.seed),
        [5, 6],
      );
      for (const x of s.samples) {
        const g = await engine.generate({ model, settings: { family: 'infinity', text, seed: x.seed, ...settings[i] } });
        assert.deepStrictEqual(x.bits, g.bits, `setting ${i} seed ${x.seed}`);
        assert.deepStrictEqual(x.image.data, g.image.data);
      }
    }
  });

  it('clamps top-k to a bit’s two values and says what was asked', () => {
    assert.strictEqual(grid.settings[0].setting.topK, 2);
    assert.strictEqual(grid.settings[0].requestedTopK, 900);
    assert.strictEqual(grid.settings[2].requestedTopK, undefined);
  });

  it('the metrics agree with the bits: entropy per bit, distinct codes, diversity and agreement by tokens and by bits', () => {
    const d = grid.bits;
    const tokensOf = (b: Uint8Array) => Array.from({ length: b.length / d }, (_, p) => b.subarray(p * d, (p + 1) * d).join(''));
    for (const [i, s] of grid.settings.entries())
      for (let k = 0; k < K; k++) {
        const m = s.scales[k];
        const [a, b] = s.samples.map((x) => x.bits[k]);
        const first = grid.settings[0].samples.map((x) => x.bits[k]);
        const ta = tokensOf(a);
        const tb = tokensOf(b);
        const sameBits = (x: Uint8Array, y: Uint8Array) => x.reduce((n, v, j) => n + (v === y[j] ? 1 : 0), 0);
        assert.strictEqual(m.distinctCodes, new Set([...ta, ...tb]).size, `setting ${i} scale ${k}`);
        assert.strictEqual(m.diversity, ta.filter((t, p) => t !== tb[p]).length / ta.length);
        assert.strictEqual(m.bitDiversity, (a.length - sameBits(a, b)) / a.length);
        assert.strictEqual(m.bitAgreement, (sameBits(a, first[0]) + sameBits(b, first[1])) / (2 * a.length));
        const ft = [tokensOf(first[0]), tokensOf(first[1])];
        assert.strictEqual(
          m.agreement,
          (ta.filter((t, p) => t === ft[0][p]).length + tb.filter((t, p) => t === ft[1][p]).length) / (2 * ta.length),
        );
        assert.ok(m.meanEntropy > 0 && m.meanEntropy <= Math.log(2) + 1e-6, `entropy ${m.meanEntropy}`);
      }
    assert.ok(grid.settings[0].scales.every((m) => m.agreement === 1 && m.bitAgreement === 1));
    // greedy: the two seeds draw the same bits
    assert.ok(grid.settings[2].scales.every((m) => m.diversity === 0 && m.bitDiversity === 0));
    // tau 0.5 sharpens the bits' distributions: less entropy than tau 1 at every scale (same caption)
    const [infer, run] = grid.settings;
    assert.ok(infer.scales.every((m, k) => m.meanEntropy < run.scales[k].meanEntropy));
  });

  it('the entropy is the generation’s, per bit: its tokens’ entropies over d, averaged over samples and tokens', async () => {
    const sums = new Array<number>(K).fill(0);
    const counts = new Array<number>(K).fill(0);
    for (const seed of [5, 6]) {
      const { runId } = await engine.generationStart({ model, settings: { family: 'infinity', text, seed, ...settings[1] } });
      for (let k = 0; k < K; k++) {
        const step = await engine.generationStep({ runId });
        assert.ok(step.family === 'infinity');
        for (const h of step.entropy) sums[k] += h / grid.bits;
        counts[k] += step.entropy.length;
      }
      await engine.generationCancel({ runId });
    }
    grid.settings[1].scales.forEach((m, k) => assert.ok(Math.abs(m.meanEntropy - sums[k] / counts[k]) < 1e-6, `scale ${k}`));
  });

  it('refuses the other family’s grid and bad settings in one line', async () => {
    const varModel = requireBundle();
    const cases: Array<[() => Promise<unknown>, RegExp]> = [
      [
        () => engine.samplingGrid({ model, classes: [1], settings: [SAMPLING_PRESETS.fid[0]], samples: 1, seed: 0 }),
        /is an Infinity bundle: a sampling grid of it has a caption, not classes$/,
      ],
      [
        () => engine.samplingGrid({ model: varModel, family: 'infinity', text, settings, samples: 1, seed: 0 }),
        /is a VAR bundle: a sampling grid of it has classes, not a caption$/,
      ],
      [
        () =>
          engine.samplingGrid({ model, family: 'infinity', text, settings: [{ ...settings[0], cfgList: [4, 4] }], samples: 1, seed: 0 }),
        /^setting 1: cfgList has 2 values, the schedule has 7 scales$/,
      ],
      [
        () => engine.samplingGrid({ model, family: 'infinity', text, settings: [{ ...settings[0], topK: 0 }], samples: 1, seed: 0 }),
        /^setting 1: top-k must be at least 1/,
      ],
    ];
    for (const [p, re] of cases)
      await assert.rejects(
        p,
        (e: unknown) => e instanceof VarScopeError && e.code === 'BadRequest' && re.test(e.message) && !e.message.includes('\n'),
      );
  });
});
