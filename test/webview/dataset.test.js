// The Dataset view from folder evaluations sent by the host: curves beside their baselines, the reliability diagram,
// tables, the worst images (sorted by a clicked column; a click asks the host to open that image with the model),
// the codebook view fed from the same counts, and the timeline once a second checkpoint is appended.
'use strict';
/* global window, document */
const assert = require('assert');

const PNS = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16];

/** A synthetic evaluation whose numbers the view must show as given. */
function evaluation(step, accBase) {
  const bins = Array.from({ length: 15 }, (_, b) => ({
    lo: b / 15,
    hi: (b + 1) / 15,
    count: b % 3 ? 0 : 10 + b,
    confidence: b % 3 ? null : (b + 0.5) / 15,
    accuracy: b % 3 ? null : Math.min(1, (b + 1) / 15),
  }));
  const scales = PNS.map((pn, k) => ({
    scaleIndex: k,
    pn,
    tokens: 4 * pn * pn,
    accuracy: accBase + k * 0.01,
    top5: accBase + 0.2,
    nll: 3 - k * 0.1,
    entropy: 2.5,
    ece: 0.05 + k * 0.001,
    reliability: bins,
    psnr: 12 + k,
    ssim: 0.3 + k * 0.05,
    used: 10 + k * 20,
    dead: 512 - 10 - k * 20,
    perplexity: 5 + k,
    baselines: {
      priorTraining: { accuracy: 0.04, nll: 4.5 },
      priorFolder: { accuracy: 0.05, nll: 4.4 },
      copyCoarser: k ? { accuracy: 0.1 } : null,
    },
  }));
  const counts = PNS.map((_, k) => Array.from({ length: 512 }, (_, v) => (v < 10 + k * 20 ? 1 : 0)));
  return {
    format: 'varscope-evaluation',
    version: 1,
    model: { id: `m${step}`, name: `Model at ${step}`, dir: `/models/m${step}`, step },
    folder: '/data/set',
    labels: { kind: 'subfolders' },
    classMap: [
      { folder: 'cats', classId: 0 },
      { folder: 'dogs', classId: 1 },
    ],
    classMatch: 'names',
    images: 4,
    failed: [],
    cancelled: false,
    elapsedMs: 1000,
    method: { eceBins: 15, priorUniformMix: 0.001, ssim: 'gaussian', psnr: 'mean dB' },
    scales,
    overall: { accuracy: accBase, top5: accBase + 0.2, nll: 2.5, entropy: 2.4, ece: 0.06, reliability: bins },
    usage: { counts, used: 190, dead: 322, perplexity: 120 },
    perClass: [
      { classId: 0, name: 'cats', images: 2, accuracy: PNS.map(() => 0.3), nll: PNS.map(() => 2), psnr: 20 },
      { classId: 1, name: 'dogs', images: 2, accuracy: PNS.map(() => 0.2), nll: PNS.map(() => 3), psnr: 18 },
    ],
    perImage: [
      { file: '/data/set/cats/a.png', classId: 0, accuracy: 0.5, nll: 1.0, psnr: 25, ssim: 0.9, rarity: 3.0 },
      { file: '/data/set/cats/b.png', classId: 0, accuracy: 0.2, nll: 3.0, psnr: 22, ssim: 0.8, rarity: 5.0 },
      { file: '/data/set/dogs/c.png', classId: 1, accuracy: 0.3, nll: 2.0, psnr: 15, ssim: 0.6, rarity: 4.0 },
      { file: '/data/set/dogs/d.png', classId: 1, accuracy: 0.4, nll: 1.5, psnr: 30, ssim: 0.95, rarity: 3.5 },
    ],
  };
}

module.exports = (test) => {
  test('dataset: curves, reliability, tables, sortable worst images that open in the inspector, and the timeline', async ({ open }) => {
    const opened = [];
    const p = await open({
      handlers: {
        openImage: async (params) => {
          opened.push(params);
        },
      },
    });
    await p.page.waitForSelector('.token-grid');
    await p.tab('dataset');
    assert.match(await p.page.textContent('#panel-dataset .placeholder'), /No evaluation yet/);
    await p.emit('dataset', { evaluations: [evaluation(4187, 0.3)], mode: 'replace' });
    await p.page.waitForSelector('.worst-table tbody tr');
    assert.match(
      await p.page.textContent('.dataset-summary'),
      /Model at 4187 \(step 4187\) on \/data\/set: 4 images; all scales: accuracy 30\.0 %/,
    );
    // accuracy chart: model top-1, top-5, the training prior and copy-coarser (no point at the first scale)
    const dots = await p.page.$$eval('.view-dataset .row .chart:first-child .series', (gs) =>
      gs.map((g) => g.querySelectorAll('circle.dot').length),
    );
    assert.deepStrictEqual(dots, [10, 10, 10, 9]);
    assert.strictEqual(await p.page.locator('.chart.reliability rect.bar').count(), 5);
    assert.match(await p.page.textContent('.chart.reliability .chart-title'), /ECE 6\.0 %/);
    const firstScaleRow = await p.page.$$eval('.scale-table tbody tr:first-child td', (tds) => tds.map((t) => t.textContent));
    assert.deepStrictEqual(firstScaleRow.slice(0, 5), ['1×1', '30.0', '50.0', '4.0', '–']);
    assert.strictEqual(await p.page.locator('.class-table tbody tr').count(), 2);
    // worst images: highest NLL first; sorted by PSNR (lowest first) after a click on its header
    const firstFile = () => p.page.textContent('.worst-table tbody tr:first-child td:first-child');
    assert.strictEqual(await firstFile(), 'cats/b.png');
    await p.page.click('.worst-table th:has-text("PSNR")');
    assert.strictEqual(await firstFile(), 'dogs/c.png');
    await p.page.click('.worst-table th:has-text("code rarity")');
    assert.strictEqual(await firstFile(), 'cats/b.png');
    await p.page.click('.worst-table tbody tr:nth-child(2)');
    await p.page.waitForFunction(() => window.__fake.posted.some((m) => m.method === 'openImage'));
    assert.deepStrictEqual(opened, [{ file: '/data/set/dogs/c.png', model: '/models/m4187' }]);
    assert.strictEqual(await p.page.isHidden('.dataset-timeline'), true);
    // the codebook view's folder counts come from the same evaluation
    await p.tab('codebook');
    await p.page.click('.view-codebook .segmented button[data-value=folder]');
    await p.page.waitForSelector('.stat-images');
    assert.strictEqual(await p.page.textContent('.stat-images .stat-value'), '4');
    await p.shot('dataset-codebook');
    // a second checkpoint of the run (earlier step) appended: the timeline orders by step
    await p.emit('dataset', { evaluations: [evaluation(419, 0.1)], mode: 'append' });
    await p.page.waitForSelector('.dataset-timeline:not([hidden])');
    const lines = await p.page.locator('.dataset-timeline .chart:first-child .series').count();
    assert.strictEqual(lines, 10);
    const xs = await p.page.$$eval('.dataset-timeline .chart:first-child .series:first-child circle.dot title', (ts) =>
      ts.map((t) => t.textContent),
    );
    assert.deepStrictEqual(xs, ['1×1 at step 419: 10', '1×1 at step 4187: 30']);
    assert.match(await p.page.textContent('.dataset-summary'), /step 4187/); // the newest step is the one shown
    await p.tab('dataset');
    await p.shot('dataset');
    // a name that already gives the step ("… (early, step 72 of 2312)") is not followed by it again
    const named = evaluation(72, 0.2);
    named.model = { ...named.model, name: 'Run (early, step 72 of 2312)' };
    await p.emit('dataset', { evaluations: [named], mode: 'replace' });
    await p.page.waitForFunction(() => /^Run \(early/.test(document.querySelector('.dataset-summary').textContent));
    assert.match(await p.page.textContent('.dataset-summary'), /^Run \(early, step 72 of 2312\) on \/data\/set: 4 images;/);
    assert.deepStrictEqual(p.pageErrors, []);
  });
};
