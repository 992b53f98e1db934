/**
 * `varscope sample-grid` end to end on the default model and on the Infinity fixture bundle: its JSON, its PNG grids,
 * its one-line refusals (each family's flags on the other).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { tileImages } from '../../../src/cli/sampleGridCommand';
import { requireBundle, ROOT, runCli } from '../fixtures';
import { npyFloats, readNpy, writeNpyFloat32 } from '../npy';

describe('CLI sample-grid', function () {
  this.timeout(300000);
  const model = path.join(ROOT, 'models', 'emoji64-d4');
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-grid-'))));
  after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

  it('--preset fid --cfg 1.5,5: two settings, per-scale metrics, a PNG per setting, the first sample as `generate`', async () => {
    const out = path.join(tmp, 'pngs');
    const args = ['sample-grid', '--model', model, '--classes', '1,8', '--preset', 'fid', '--cfg', '1.5,5', '--samples', '3'];
    const r = runCli([...args, '--seed', '40', '--out', out, '--provider', 'cpu', '--json', '-']);
    assert.strictEqual(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepStrictEqual(
      j.settings.map((s: Record<string, unknown>) => [s.cfg, s.topK, s.requestedTopK, s.topP]),
      [
        [1.5, 512, 900, 0.96],
        [5, 512, 900, 0.96],
      ],
    );
    const first = j.settings[0];
    assert.deepStrictEqual(
      first.scales.map((s: { pn: number }) => s.pn),
      [1, 2, 3, 4, 5, 6, 8, 10, 13, 16],
    );
    assert.deepStrictEqual(Object.keys(first.scales[0]), ['pn', 'meanEntropy', 'distinctCodes', 'diversity', 'agreement']);
    assert.ok(first.scales.every((s: { agreement: number }) => s.agreement === 1));
    assert.deepStrictEqual(
      first.samples.map((s: { classId: number; seed: number }) => [s.classId, s.seed]),
      [
        [1, 40],
        [1, 41],
        [1, 42],
        [8, 40],
        [8, 41],
        [8, 42],
      ],
    );
    const g = runCli(['generate', '--model', model, '--class', '8', '--seed', '41', '--cfg', '5', '--top-k', '900', '--top-p', '0.96']);
    assert.strictEqual(g.code, 0, g.stderr);
    assert.deepStrictEqual(
      JSON.parse(g.stdout).scales.map((s: { tokens: number[] }) => s.tokens),
      j.settings[1].samples[4].tokens,
    );
    for (const s of j.settings) {
      const meta = await sharp(s.png).metadata();
      assert.deepStrictEqual([meta.width, meta.height], [3 * 64, 2 * 64], s.png);
    }
    assert.deepStrictEqual(fs.readdirSync(out).sort(), ['1_cfg1.5_topk512_topp0.96.png', '2_cfg5_topk512_topp0.96.png']);
  });

  it('refuses an unknown class, top-k 0 and an empty list in one line (exit 2)', () => {
    const cases: Array<[string[], string]> = [
      [['--classes', '11'], 'varscope sample-grid: unknown class 11: the model has classes 0..10\n'],
      [
        ['--classes', '1', '--top-k', '0'],
        'varscope sample-grid: setting 1: top-k must be at least 1 (a top-k of the codebook size keeps every code)\n',
      ],
      [['--classes', ''], 'varscope sample-grid: --classes must be comma-separated numbers, got ""\n'],
      [['--classes', '1', '--preset', 'pretty'], 'varscope sample-grid: --preset must be one of fid, looks, got pretty\n'],
    ];
    for (const [extra, line] of cases) {
      const r = runCli(['sample-grid', '--model', model, ...extra, '--provider', 'cpu']);
      assert.strictEqual(r.code, 2, r.stderr);
      assert.strictEqual(r.stderr, line);
      assert.strictEqual(r.stdout, '');
    }
  });

  it('tiles images row by row', () => {
    const px = (v: number) => ({ width: 1, height: 1, data: Uint8ClampedArray.of(v, v, v, 255) });
    const t = tileImages([px(1), px(2), px(3)], 2);
    assert.deepStrictEqual([t.width, t.height], [2, 2]);
    assert.deepStrictEqual(Array.from(t.data.filter((_, i) => i % 4 === 0)), [1, 2, 3, 0]);
  });
});

describe('CLI sample-grid on an Infinity bundle', function () {
  this.timeout(300000);
  let tmp: string;
  let model: string;
  let features: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-bitgrid-cli-'));
    model = requireBundle(path.join(ROOT, 'out', 'bundles', 'infinity-A'));
    const kv = npyFloats(readNpy(path.join(ROOT, 'test', 'fixtures', 'infinity', 'infinity-A', 'text_kv_compact.npy')));
    features = path.join(tmp, 'caption0.npy');
    writeNpyFloat32(features, [7, 128], kv.slice(0, 7 * 128)); // caption 0: text_cu_seqlens_k [0, 7, 20]
  });
  after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

  it('--preset infer --tau "0.5, 1" --text-features: two settings, bit metrics, a PNG each, a sample as `generate`', async () => {
    const out = path.join(tmp, 'pngs');
    const args = ['sample-grid', '--model', model, '--text-features', features, '--preset', 'infer', '--tau', '0.5, 1', '--samples', '2'];
    const r = runCli([...args, '--seed', '3', '--out', out, '--provider', 'cpu', '--json', '-']);
    assert.strictEqual(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.strictEqual(j.family, 'infinity');
    assert.strictEqual(j.schedule, 'hw1.000-0.06M');
    assert.deepStrictEqual(
      j.settings.map((s: Record<string, unknown>) => [s.cfgList, s.tauList, s.topK, s.requestedTopK, s.topP]),
      [
        [[4, 4, 4, 4, 4, 4, 4], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], 2, 900, 0.97],
        [[4, 4, 4, 4, 4, 4, 4], [1, 1, 1, 1, 1, 1, 1], 2, 900, 0.97],
      ],
    );
    assert.deepStrictEqual(Object.keys(j.settings[0].scales[0]), [
      'h',
      'w',
      'meanEntropy',
      'distinctCodes',
      'diversity',
      'bitDiversity',
      'agreement',
      'bitAgreement',
    ]);
    assert.deepStrictEqual(
      j.settings[1].scales.map((s: { h: number }) => s.h),
      [1, 2, 4, 6, 8, 12, 16],
    );
    const g = runCli([
      'generate',
      '--model',
      model,
      '--text-features',
      features,
      '--seed',
      '4',
      '--cfg',
      '4',
      '--tau-list',
      '1,1,1,1,1,1,1',
    ]);
    assert.strictEqual(g.code, 0, g.stderr);
    const gen = JSON.parse(g.stdout);
    assert.deepStrictEqual([gen.settings.topK, gen.settings.topP], [900, 0.97]); // the bundle's: as the preset's
    assert.deepStrictEqual(
      gen.scales.map((s: { bits: string[] }) => s.bits),
      j.settings[1].samples[1].bits,
    );
    assert.deepStrictEqual(fs.readdirSync(out).sort(), ['1_cfg4_tau0.5_topk2_topp0.97.png', '2_cfg4_tau1_topk2_topp0.97.png']);
    const meta = await sharp(j.settings[0].png).metadata();
    assert.deepStrictEqual([meta.width, meta.height], [2 * 256, 256]);
  });

  it('refuses VAR flags on an Infinity bundle and Infinity flags on a VAR one, and bad lists, in one line (exit 2)', () => {
    const varModel = path.join(ROOT, 'models', 'emoji64-d4');
    const cases: Array<[string[], RegExp]> = [
      [
        ['--model', model, '--classes', '1'],
        /^varscope sample-grid: --classes is for VAR models; .*infinity-A is an Infinity bundle \(give a caption: --text-features or --prompt\)\n$/,
      ],
      [['--model', model], /^varscope sample-grid: an Infinity grid is for one caption: give --text-features FILE or --prompt TEXT\n$/],
      [
        ['--model', model, '--text-features', features, '--preset', 'fid'],
        /^varscope sample-grid: --preset on an Infinity model must be one of infer, runInfinity, got fid\n$/,
      ],
      [
        ['--model', model, '--text-features', features, '--cfg', '1 2'],
        /^varscope sample-grid: --cfg: "1 2" has 2 values, the schedule has 7 scales \(give 1 or 7\)\n$/,
      ],
      [
        ['--model', varModel, '--classes', '1', '--tau', '1'],
        /^varscope sample-grid: --tau is for Infinity models; .*emoji64-d4 is a VAR bundle\n$/,
      ],
      [
        ['--model', varModel, '--classes', '1', '--text-features', features],
        /^varscope sample-grid: --text-features is for Infinity models; .*emoji64-d4 is a VAR bundle\n$/,
      ],
    ];
    for (const [extra, line] of cases) {
      const r = runCli(['sample-grid', ...extra, '--provider', 'cpu']);
      assert.strictEqual(r.code, 2, r.stderr);
      assert.match(r.stderr, line);
      assert.strictEqual(r.stdout, '');
    }
  });
});
