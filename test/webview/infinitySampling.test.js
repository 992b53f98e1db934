// The Sampling view of an Infinity model (fixture B): the official infer.sh and run_infinity.py settings in one click,
// CFG and tau as one value or a list per scale, the caption in the request, a row of images per setting, the bit
// metrics drawn as the result holds them, bad grids refused in place.
/* global document */
'use strict';
const assert = require('assert');
const { infinityInspect, infinityModel, SCALES } = require('./fixtures/infinityInspect');
const { bitSamplingGrid, sampleBits } = require('./fixtures/infinitySamplingGrid');

const BESIDE = '/workspace/img2.npy';
const K = SCALES.length;

const openInfinity = (open, beside = BESIDE) =>
  open({
    init: { model: infinityModel(), captionBesideImage: beside },
    handlers: {
      inspect: async () => infinityInspect(),
      trainingUsage: async () => null,
      samplingGrid: async (req) => bitSamplingGrid(req),
    },
  });

/** Requests the panel sent, without their run ids. */
const grids = (p) =>
  p.calls.filter((c) => c.method === 'samplingGrid').map(({ params: { runId, ...r } }) => (assert.match(runId, /^grid-/), r));

module.exports = (test) => {
  test('Infinity sampling: official settings in one click; CFG × tau with a per-scale list; rows, charts and stats as the result', async ({
    open,
  }) => {
    const p = await openInfinity(open);
    await p.page.waitForSelector('.view-bit-pyramid .token-grid');
    await p.tab('sampling');
    assert.match(await p.page.textContent('#panel-sampling .placeholder'), /official infer\.sh or run_infinity\.py settings/);
    assert.strictEqual(
      await p.page.textContent('#panel-sampling .caption-status'),
      'Caption: T5 features from img2.npy (found beside the image).',
    );
    // the model's recommended sampling fills the form
    assert.deepStrictEqual(
      await Promise.all(['.grid-cfg', '.grid-tau', '.grid-topk', '.grid-topp'].map((s) => p.page.inputValue(`#panel-sampling ${s}`))),
      ['4', '0.5', '900', '0.97'],
    );
    await p.page.click('#panel-sampling button.preset-runInfinity');
    await p.page.waitForSelector('#panel-sampling .grid-row');
    const fill = (v) => new Array(K).fill(v);
    assert.deepStrictEqual(grids(p), [
      {
        family: 'infinity',
        text: { featuresFile: BESIDE },
        hDivW: 0.75,
        settings: [{ cfgList: fill(3), tauList: fill(1), topK: 900, topP: 0.97 }],
        samples: 4,
        seed: 0,
      },
    ]);
    await p.page.click('#panel-sampling button.preset-infer');
    assert.deepStrictEqual(grids(p)[1].settings, [{ cfgList: fill(4), tauList: fill(0.5), topK: 900, topP: 0.97 }]);

    // CFG 4 and a per-scale ramp, tau 1, two samples from seed 7.
    await p.page.fill('#panel-sampling .grid-cfg', '4, 1 1.5 2 2.5 3 3 3');
    await p.page.fill('#panel-sampling .grid-tau', '1');
    await p.page.fill('#panel-sampling .grid-samples', '2');
    await p.page.fill('#panel-sampling .grid-seed', '7');
    await p.page.click('#panel-sampling button.grid-run');
    await p.page.waitForFunction(() => document.querySelectorAll('#panel-sampling .grid-row').length === 2);
    const req = grids(p)[2];
    assert.deepStrictEqual(req.settings, [
      { cfgList: fill(4), tauList: fill(1), topK: 900, topP: 0.97 },
      { cfgList: [1, 1.5, 2, 2.5, 3, 3, 3], tauList: fill(1), topK: 900, topP: 0.97 },
    ]);
    assert.deepStrictEqual([req.samples, req.seed], [2, 7]);
    assert.deepStrictEqual(await p.page.$$eval('#panel-sampling .grid-setting-name', (ls) => ls.map((l) => l.textContent)), [
      'CFG 4 · tau 1 · top-k 2 · top-p 0.97 (top-k asked 900)',
      'CFG [1 1.5 2 2.5 3 3 3] · tau 1 · top-k 2 · top-p 0.97 (top-k asked 900)',
    ]);
    assert.strictEqual(await p.page.textContent('#panel-sampling .grid-class-head'), 'The caption · seeds 7…8');
    assert.deepStrictEqual(
      await p.page.$$eval('#panel-sampling .grid-row[data-setting="1"] .grid-image', (cs) => cs.map((c) => c.dataset.seed)),
      ['7', '8'],
    );
    // The finest scale's stats of setting 1, recomputed from its bits (sample j of setting i: fixtures/infinitySamplingGrid.js).
    const [a, b] = [sampleBits(1, 0), sampleBits(1, 1)].map((s) => s.bits[K - 1]);
    const [f0, f1] = [sampleBits(0, 0), sampleBits(0, 1)].map((s) => s.bits[K - 1]);
    const differ = (x, y) => x.reduce((n, v, i) => n + (v !== y[i] ? 1 : 0), 0);
    const tokens = (x) => Array.from({ length: x.length / 32 }, (_, t) => x.subarray(t * 32, (t + 1) * 32).join(''));
    const tokenDiffer = (x, y) => tokens(x).filter((t, i) => t !== tokens(y)[i]).length;
    const pct = (v) => `${(v * 100).toFixed(1)} %`;
    const l = a.length / 32;
    assert.strictEqual(
      await p.page.textContent('#panel-sampling .grid-row[data-setting="1"] .grid-row-stats'),
      `finest scale: diversity ${pct(tokenDiffer(a, b) / l)} of tokens, ${pct(differ(a, b) / a.length)} of bits; ` +
        `agreement ${pct(1 - (tokenDiffer(a, f0) + tokenDiffer(b, f1)) / (2 * l))} of tokens, ${pct(1 - (differ(a, f0) + differ(b, f1)) / (2 * a.length))} of bits`,
    );
    // Charts: one line per setting, a dot per scale titled with the result's value at that scale.
    const grid = bitSamplingGrid(req);
    for (const [key, scale] of [
      ['meanEntropy', (v) => v],
      ['distinctCodes', (v) => v],
      ['diversity', (v) => v * 100],
      ['bitDiversity', (v) => v * 100],
      ['agreement', (v) => v * 100],
      ['bitAgreement', (v) => v * 100],
    ]) {
      assert.strictEqual(await p.page.locator(`#panel-sampling .chart-${key} path.line`).count(), 2, key);
      const titles = await p.page.$$eval(`#panel-sampling .chart-${key} .series.c1 circle.dot title`, (ts) => ts.map((t) => t.textContent));
      assert.strictEqual(titles.length, K, key);
      SCALES.forEach(([h, w], k) => {
        const want = scale(grid.settings[1].scales[k][key]);
        const got = Number(titles[k].split(': ')[1]);
        assert.ok(Math.abs(got - want) <= 0.51 * (key === 'meanEntropy' ? 0.01 : 1), `${key} at ${h}×${w}: ${titles[k]} vs ${want}`);
        assert.ok(titles[k].startsWith(`CFG [1 1.5 2 2.5 3 3 3] at ${h}×${w}: `), titles[k]); // what differs between the settings
      });
    }
    assert.deepStrictEqual(p.pageErrors, []);
    await p.shot('infinity-sampling');
  });

  test('Infinity sampling: a bad list, a bad top-k or tau, or no caption is refused in place, without asking the host', async ({
    open,
  }) => {
    const p = await openInfinity(open);
    await p.page.waitForSelector('.view-bit-pyramid .token-grid');
    await p.tab('sampling');
    for (const [cls, value, line] of [
      ['.grid-cfg', '1 2', 'CFG: "1 2" has 2 values, the schedule has 7 scales (give 1 or 7)'],
      ['.grid-cfg', '4,', 'CFG: each setting is a number or 7 numbers separated by spaces, got ""'],
      ['.grid-topk', '0', 'setting 1: top-k must be at least 1 (1 = greedy, 2 or more keeps both values of a bit)'],
      ['.grid-tau', '0', 'setting 1: tauList[0] must be a number in [0.01, 100], got 0'],
    ]) {
      await p.page.fill('#panel-sampling .grid-cfg', '4');
      await p.page.fill('#panel-sampling .grid-tau', '0.5');
      await p.page.fill('#panel-sampling .grid-topk', '900');
      await p.page.fill(`#panel-sampling ${cls}`, value);
      await p.page.click('#panel-sampling button.grid-run');
      assert.strictEqual(await p.page.textContent('#panel-sampling .grid-status'), line);
      assert.ok(await p.page.$eval('#panel-sampling .grid-status', (e) => e.classList.contains('is-error')));
    }
    const q = await openInfinity(open, null);
    await q.page.waitForSelector('.view-bit-pyramid .token-grid');
    await q.tab('sampling');
    await q.page.click('#panel-sampling button.grid-run');
    assert.strictEqual(await q.page.textContent('#panel-sampling .grid-status'), 'choose a caption first (a prompt or a features file)');
    for (const panel of [p, q]) {
      assert.strictEqual(panel.calls.filter((c) => c.method === 'samplingGrid').length, 0);
      assert.deepStrictEqual(panel.pageErrors, []);
    }
  });
};
