// The Dataset view of an Infinity model, from a folder evaluation sent by the host: bit and token accuracy per scale
// beside the majority-bit and copy-coarser baselines, the per-scale table, the worst images (sorted by a clicked
// column; a click asks the host to open that image with the model); with a second checkpoint of the run appended, the
// timeline: bit and token accuracy per scale and over all scales against the training step.
'use strict';
/* global window */
const assert = require('assert');
require('./tsRequire');
const { infinityInspect, infinityModel } = require('./fixtures/infinityInspect');

const GRIDS = [
  [1, 1],
  [2, 2],
  [4, 4],
];

/** A 3-scale evaluation of two images, numbers chosen by hand (`shift` added to the model's accuracies). */
function bitsEvaluation(step = 900, shift = 0) {
  const acc = (bitAccuracy, tokenAccuracy) => ({ bitAccuracy, tokenAccuracy });
  return {
    format: 'varscope-evaluation',
    version: 1,
    family: 'infinity',
    model: { id: `inf-${step}`, name: 'Infinity run', dir: `/models/inf-${step}`, step },
    folder: '/data/captioned',
    labels: { kind: 'captions' },
    bits: 32,
    images: 2,
    failed: [{ file: '/data/captioned/c.png', message: 'no caption' }],
    cancelled: false,
    elapsedMs: 1000,
    method: { prediction: 'argmax', folderMean: 'pooled' },
    scales: GRIDS.map(([h, w], k) => ({
      scaleIndex: k,
      grid: { h, w },
      tokens: 2 * h * w,
      ...acc(0.6 + 0.1 * k + shift, Math.max(0, 0.1 * k + shift)),
      baselines: { majority: acc(0.55, 0.05), copyCoarser: k ? acc(0.5 + 0.1 * k, 0.02 * k) : null },
    })),
    overall: acc(0.75 + shift, 0.25 + shift),
    perImage: [
      { file: '/data/captioned/a.png', schedule: 'hw0.750-0.06M', caption: '/data/captioned/a.npy', ...acc(0.8, 0.3), scales: [] },
      { file: '/data/captioned/b.png', schedule: 'hw0.750-0.06M', caption: 'prompt: a cat', ...acc(0.7, 0.35), scales: [] },
    ],
  };
}

module.exports = (test) => {
  test('Infinity dataset: accuracy curves beside the baselines, the per-scale table, worst images that open in the inspector', async ({
    open,
  }) => {
    const opened = [];
    const p = await open({
      init: { model: infinityModel() },
      handlers: {
        inspect: async () => infinityInspect(),
        trainingUsage: async () => null,
        openImage: async (params) => opened.push(params),
      },
    });
    await p.page.waitForSelector('.view-bit-pyramid .token-grid');
    await p.tab('dataset');
    assert.match(
      await p.page.textContent('#panel-dataset .placeholder'),
      /No evaluation yet: evaluate the model on a folder of captioned images/,
    );
    await p.emit('dataset', { evaluations: [bitsEvaluation()], mode: 'replace' });
    await p.page.waitForSelector('.view-bits-dataset .worst-table tbody tr');
    assert.strictEqual(
      await p.page.textContent('.view-bits-dataset .dataset-summary'),
      'Infinity run (step 900) on /data/captioned: 2 images, 1 failed (see the log); all scales: bit accuracy 75.0 %, token accuracy 25.0 %. Captions: beside the images.',
    );
    // two charts, each: model, majority bit, copy coarser (no point at the first scale), ticks h×w
    const dots = await p.page.$$eval('.view-bits-dataset .dataset-body > .row .chart', (cs) =>
      cs.map((c) => [...c.querySelectorAll('.series')].map((g) => g.querySelectorAll('circle.dot').length)),
    );
    assert.deepStrictEqual(dots, [
      [3, 3, 2],
      [3, 3, 2],
    ]);
    const ticks = await p.page.$$eval('.view-bits-dataset .dataset-body > .row .chart:first-child .axis.x .tick text', (ts) =>
      ts.map((t) => t.textContent),
    );
    assert.deepStrictEqual(ticks, ['1×1', '2×2', '4×4']);
    assert.strictEqual(
      await p.page.$$eval('.view-bits-dataset .dataset-body > .row .chart:first-child .axis-label', (ls) =>
        ls.map((l) => l.textContent).includes('scale (h × w tokens)'),
      ),
      true,
    );
    const rows = await p.page.$$eval('.view-bits-dataset .scale-table tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((t) => t.textContent)),
    );
    assert.deepStrictEqual(rows, [
      ['1×1', '2', '60.0', '55.0', '–', '0.0', '5.0', '–'],
      ['2×2', '8', '70.0', '55.0', '60.0', '10.0', '5.0', '2.0'],
      ['4×4', '32', '80.0', '55.0', '70.0', '20.0', '5.0', '4.0'],
    ]);
    // worst images: lowest bit accuracy first; by token accuracy after a click on its header
    const first = () => p.page.$$eval('.view-bits-dataset .worst-table tbody tr:first-child td', (tds) => tds.map((t) => t.textContent));
    assert.deepStrictEqual(await first(), ['b.png', 'prompt: a cat', '70.0', '35.0']);
    await p.page.click('.view-bits-dataset .worst-table th:has-text("token accuracy")');
    assert.deepStrictEqual(await first(), ['a.png', 'a.npy', '80.0', '30.0']);
    await p.page.click('.view-bits-dataset .worst-table tbody tr:first-child');
    await p.page.waitForFunction(() => window.__fake.posted.some((m) => m.method === 'openImage'));
    assert.deepStrictEqual(opened, [{ file: '/data/captioned/a.png', model: '/models/inf-900' }]);
    assert.strictEqual(await p.page.isHidden('.view-bits-dataset .dataset-timeline'), true);
    // a second checkpoint of the run (an earlier step) appended: the timeline, ordered by step; the newest one shown
    await p.emit('dataset', { evaluations: [bitsEvaluation(300, -0.05)], mode: 'append' });
    await p.page.waitForSelector('.view-bits-dataset .dataset-timeline:not([hidden])');
    const charts = await p.page.$$eval('.view-bits-dataset .dataset-timeline .chart', (cs) =>
      cs.map((c) => ({
        title: c.querySelector('.chart-title')?.textContent,
        series: [...c.querySelectorAll('.series')].map((g) => [...g.querySelectorAll('circle.dot title')].map((t) => t.textContent)),
      })),
    );
    assert.deepStrictEqual(
      charts.map((c) => c.title),
      ['Bit accuracy per scale', 'Token accuracy per scale', 'All scales'],
    );
    assert.deepStrictEqual(charts[0].series, [
      ['1×1 at step 300: 55', '1×1 at step 900: 60'],
      ['2×2 at step 300: 65', '2×2 at step 900: 70'],
      ['4×4 at step 300: 75', '4×4 at step 900: 80'],
    ]);
    assert.deepStrictEqual(charts[1].series[0], ['1×1 at step 300: 0.0', '1×1 at step 900: 0.0']);
    assert.deepStrictEqual(charts[1].series[2], ['4×4 at step 300: 15.0', '4×4 at step 900: 20.0']);
    assert.deepStrictEqual(charts[2].series, [
      ['bit at step 300: 70', 'bit at step 900: 75'],
      ['token at step 300: 20', 'token at step 900: 25'],
    ]);
    assert.match(await p.page.textContent('.view-bits-dataset .dataset-summary'), /^Infinity run \(step 900\)/);
    assert.strictEqual(await p.page.isVisible('.view-bits-dataset button:text("Timeline of checkpoints…")'), true);
    await p.shot('infinity-dataset-timeline');
  });
};
