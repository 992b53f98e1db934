// The Sampling view: the preset buttons ask for the official settings, the grid draws one row of images per setting
// and class, and the charts draw one line per setting with the values of the result.
'use strict';
/* global document */
const assert = require('assert');
const { canvasData } = require('./util');
const { gridMetrics, samplingGrid } = require('./fixtures/samplingGrid');

module.exports = (test) => {
  test('sampling: FID and looks settings in one click each; a 2-setting grid drawn row by row, chart by chart', async ({ open, rec }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.tab('sampling');
    assert.match(await p.page.textContent('#panel-sampling .placeholder'), /official FID or looks settings/);

    await p.page.click('button.preset-fid');
    await p.page.waitForSelector('.grid-row');
    // Each grid is a run of its own id (progress and Cancel name it); the rest is the request.
    const grids = () =>
      p.calls.filter((c) => c.method === 'samplingGrid').map(({ params: { runId, ...r } }) => (assert.match(runId, /^grid-/), r));
    assert.deepStrictEqual(grids(), [{ classes: [0, 1], settings: [{ cfg: 1.5, topK: 900, topP: 0.96 }], samples: 4, seed: 0 }]);
    await p.page.click('button.preset-looks');
    assert.deepStrictEqual(grids()[1].settings, [{ cfg: 5, topK: 900, topP: 0.96 }]);
    assert.strictEqual(await p.page.inputValue('.grid-cfg'), '5');

    // CFG 1.5 and 5 for classes 3 and 7, three samples from seed 10.
    await p.page.fill('.grid-classes', '3, 7');
    await p.page.fill('.grid-cfg', '1.5, 5');
    await p.page.fill('.grid-samples', '3');
    await p.page.fill('.grid-seed', '10');
    await p.page.click('button.grid-run');
    await p.page.waitForSelector('.grid-images[data-class="7"]');
    assert.deepStrictEqual(grids()[2], {
      classes: [3, 7],
      settings: [
        { cfg: 1.5, topK: 900, topP: 0.96 },
        { cfg: 5, topK: 900, topP: 0.96 },
      ],
      samples: 3,
      seed: 10,
    });
    // Rows are settings, per class a group of columns, one per sample; the top-k as run beside the one asked.
    assert.deepStrictEqual(await p.page.$$eval('.grid-class-head', (hs) => hs.map((h) => h.textContent)), [
      `Class 3 · ${rec.model.classes[3]} · seeds 10…12`,
      `Class 7 · ${rec.model.classes[7]} · seeds 10…12`,
    ]);
    assert.strictEqual(await p.page.locator('.grid-row').count(), 2);
    assert.strictEqual(await p.page.locator('.grid-image').count(), 2 * 2 * 3);
    const labels = await p.page.$$eval('.grid-row .grid-setting-name', (ls) => ls.map((l) => l.textContent));
    assert.deepStrictEqual(labels, ['CFG 1.5 · top-k 512 (asked 900) · top-p 0.96', 'CFG 5 · top-k 512 (asked 900) · top-p 0.96']);
    const seeds = await p.page.$$eval('.grid-row[data-setting="1"] .grid-images[data-class="7"] .grid-image', (cs) =>
      cs.map((c) => c.dataset.seed),
    );
    assert.deepStrictEqual(seeds, ['10', '11', '12']);
    // The second setting's class-7 row shows samples 3..5 of that setting: recorded decodes 3 + 6 .. (the fixture cycles them).
    const n = 3 * 2 + 3 + 1; // setting 1 starts at sample 6 of the fixture's counter; class 7 is its 4th..6th; take the 2nd
    const d = await canvasData(p.page, '.grid-row[data-setting="1"] .grid-images[data-class="7"] .grid-image >> nth=1');
    const src = rec.generation[n % rec.generation.length].image;
    for (let c = 0; c < 3; c++) {
      let a = 0;
      let b = 0;
      for (let i = c; i < d.data.length; i += 4) a += d.data[i];
      for (let i = c; i < src.data.length; i += 4) b += src.data[i];
      assert.ok(Math.abs(a / (d.data.length / 4) - b / (src.data.length / 4)) < 3, `channel ${c}`);
    }
    // Charts: one line per setting, a dot per scale whose title is the result's value.
    const pns = rec.model.patchNums;
    for (const [key, scale] of [
      ['meanEntropy', (v) => v],
      ['distinctCodes', (v) => v],
      ['diversity', (v) => v * 100],
      ['agreement', (v) => v * 100],
    ]) {
      assert.strictEqual(await p.page.locator(`.chart-${key} path.line`).count(), 2, key);
      const titles = await p.page.$$eval(`.chart-${key} .series.c1 circle.dot title`, (ts) => ts.map((t) => t.textContent));
      assert.strictEqual(titles.length, pns.length, key);
      pns.forEach((pn, k) => {
        const want = scale(gridMetrics(1, k, pn, 3)[key]);
        const got = Number(titles[k].split(': ')[1]);
        assert.ok(Math.abs(got - want) <= 0.51, `${key} at ${pn}: ${titles[k]} vs ${want}`);
        assert.ok(titles[k].startsWith(`CFG 5 · top-k 512 · top-p 0.96 at ${pn}×${pn}: `), titles[k]);
      });
    }
    const stats = await p.page.textContent('.grid-row[data-setting="1"] .grid-row-stats');
    const last = gridMetrics(1, pns.length - 1, pns[pns.length - 1], 3);
    assert.strictEqual(
      stats,
      `finest scale: diversity ${(last.diversity * 100).toFixed(1)} %, agreement ${(last.agreement * 100).toFixed(1)} %`,
    );
    await p.shot('sampling');
  });

  test('sampling: a bad grid is refused in place, in one line, without asking the host', async ({ open }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.tab('sampling');
    for (const [cls, value, line] of [
      ['.grid-classes', '', 'class must be an integer in [0, 1000000], got NaN'],
      ['.grid-classes', '1000', 'unknown class 1000: the model has classes 0..999'],
      ['.grid-topk', '0', 'setting 1: top-k must be at least 1 (a top-k of the codebook size keeps every code)'],
    ]) {
      await p.page.fill('.grid-classes', '1');
      await p.page.fill('.grid-topk', '900');
      await p.page.fill(cls, value);
      await p.page.click('button.grid-run');
      assert.strictEqual(await p.page.textContent('.grid-status'), line);
      assert.ok(await p.page.$eval('.grid-status', (e) => e.classList.contains('is-error')));
    }
    assert.strictEqual(p.calls.filter((c) => c.method === 'samplingGrid').length, 0);
    assert.ok(await p.page.evaluate(() => !document.querySelector('.grid-row')));
  });

  test('sampling: a running grid shows k of N samples with a bar and a Cancel; cancelled, the previous grid stays', async ({
    open,
    rec,
  }) => {
    // The second grid waits until the test ends it; Cancel rejects it as the engine does.
    let hold = false;
    let pending = null;
    const p = await open({
      handlers: {
        samplingGrid: async (req) =>
          hold
            ? new Promise((resolve, reject) => (pending = { req, resolve: () => resolve(samplingGrid(rec, req)), reject }))
            : samplingGrid(rec, req),
        cancel: async () => pending.reject(Object.assign(new Error('sampling grid cancelled'), { code: 'Cancelled' })),
      },
    });
    await p.page.waitForSelector('.token-grid');
    await p.tab('sampling');
    assert.ok(await p.page.$eval('.grid-progress', (e) => e.hidden));
    await p.page.click('button.preset-fid');
    await p.page.waitForSelector('.grid-images[data-class="1"]');

    hold = true;
    await p.page.fill('.grid-classes', '3');
    await p.page.fill('.grid-samples', '5');
    await p.page.click('button.grid-run');
    await p.page.waitForSelector('.grid-progress:not([hidden])');
    const runId = pending.req.runId;
    const shown = () =>
      p.page.evaluate(() => ({
        text: document.querySelector('.grid-progress-text').textContent,
        value: document.querySelector('.grid-progress-bar').value,
        max: document.querySelector('.grid-progress-bar').max,
        disabled: ['.grid-run', '.preset-fid', '.preset-looks'].map((s) => document.querySelector(s).disabled),
      }));
    assert.deepStrictEqual(await shown(), { text: '0 of 5 samples', value: 0, max: 5, disabled: [true, true, true] });
    await p.emit('progress', { runId, done: 2, total: 5, message: 'Sampling the grid' });
    await p.emit('progress', { runId: 'another-run', done: 7, total: 9, message: 'Working' });
    assert.deepStrictEqual(await shown(), { text: '2 of 5 samples', value: 2, max: 5, disabled: [true, true, true] });
    // The previous grid (classes 0 and 1) stays shown while the new one runs.
    assert.strictEqual(await p.page.locator('.grid-images[data-class="1"]').count(), 1);
    await p.shot('sampling-running');

    await p.page.click('button.grid-cancel');
    await p.page.waitForSelector('.grid-progress', { state: 'hidden' });
    assert.deepStrictEqual(
      p.calls.filter((c) => c.method === 'cancel').map((c) => c.params),
      [{ runId }],
    );
    assert.strictEqual(await p.page.textContent('.grid-cancelled'), 'Cancelled after 2 of 5 samples; the previous result stays below.');
    assert.deepStrictEqual((await shown()).disabled, [false, false, false]);
    assert.strictEqual(await p.page.locator('.grid-images[data-class="1"]').count(), 1);
    assert.strictEqual(await p.page.locator('.grid-images[data-class="3"]').count(), 0);
    assert.ok(await p.page.$eval('#panel-sampling .placeholder', (e) => e.hidden));
    await p.shot('sampling-cancelled');
    // A late event of the cancelled run changes nothing; the next grid runs and replaces the line.
    await p.emit('progress', { runId, done: 3, total: 5, message: 'Sampling the grid' });
    assert.ok(await p.page.$eval('.grid-progress', (e) => e.hidden));
    hold = false;
    await p.page.click('button.grid-run');
    await p.page.waitForSelector('.grid-images[data-class="3"]');
    assert.ok(await p.page.$eval('.grid-cancelled', (e) => e.hidden));
    assert.deepStrictEqual(p.pageErrors, []);
  });

  test('sampling: chart titles, keys and plots do not overlap', async ({ open }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.tab('sampling');
    await p.page.fill('.grid-cfg', '1.5, 5');
    await p.page.click('button.grid-run');
    await p.page.waitForSelector('.grid-charts g.key');
    const boxes = await p.page.$$eval('.grid-charts svg', (svgs) =>
      svgs.map((svg) => {
        const box = (e) => {
          const r = e.getBoundingClientRect();
          return { top: r.top, bottom: r.bottom };
        };
        const ticks = [...svg.querySelectorAll('.axis.y .tick text')].map(box);
        return {
          title: box(svg.querySelector('.chart-title')),
          keys: [...svg.querySelectorAll('g.key')].map(box),
          topTick: ticks.reduce((a, b) => (b.top < a.top ? b : a)),
        };
      }),
    );
    assert.strictEqual(boxes.length, 4);
    for (const [i, b] of boxes.entries()) {
      assert.strictEqual(b.keys.length, 2, `chart ${i}`);
      assert.ok(b.title.bottom <= b.keys[0].top, `chart ${i}: title ${JSON.stringify(b.title)} over key ${JSON.stringify(b.keys[0])}`);
      assert.ok(b.keys[0].bottom <= b.keys[1].top, `chart ${i}: key rows overlap`);
      assert.ok(
        b.keys[1].bottom <= b.topTick.top,
        `chart ${i}: key ${JSON.stringify(b.keys[1])} over the plot ${JSON.stringify(b.topTick)}`,
      );
    }
  });
};
