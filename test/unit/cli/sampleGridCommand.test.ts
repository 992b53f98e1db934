/** `varscope sample-grid` end to end on the default model: its JSON, its PNG grids, its one-line refusals. */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { tileImages } from '../../../src/cli/sampleGridCommand';
import { ROOT, runCli } from '../fixtures';

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
