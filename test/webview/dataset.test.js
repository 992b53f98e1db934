// The Dataset view from folder evaluations sent by the host: curves beside their baselines, the reliability diagram,
// tables, the worst images (sorted by a clicked column; a click asks the host to open that image with the model),
// the codebook view fed from the same counts, and the timeline once a second checkpoint is appended.
'use strict';
/* global window, document */
const assert = require('assert');

const { evaluation, withFreeRunning } = require('./fixtures/evaluation');

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
    assert.strictEqual(await p.page.locator('.dataset-summary .consistency-warning').count(), 0);
    // where the folder's labels and the model's classes disagree: one line each after the summary
    const warned = evaluation(72, 0.2);
    warned.warnings = [
      {
        check: 'folderClasses',
        model: '11 classes',
        given: '2 class sub-folders',
        message: 'the model has 11 classes, the folder 2 class sub-folders',
      },
    ];
    await p.emit('dataset', { evaluations: [warned], mode: 'replace' });
    await p.page.waitForSelector('.dataset-summary .consistency-warning');
    assert.deepStrictEqual(await p.page.$$eval('.dataset-summary .consistency-warning', (ws) => ws.map((w) => w.textContent)), [
      'Warning: the model has 11 classes, the folder 2 class sub-folders.',
    ]);
    assert.deepStrictEqual(p.pageErrors, []);
  });

  test('dataset: free running, a curve per prefix, the sampled / greedy switch, per class and the worst images', async ({ open }) => {
    const opened = [];
    const p = await open({ handlers: { openImage: async (params) => void opened.push(params) } });
    await p.page.waitForSelector('.token-grid');
    await p.tab('dataset');
    await p.emit('dataset', { evaluations: [evaluation(4187, 0.3)], mode: 'replace' });
    await p.page.waitForSelector('.worst-table tbody tr');
    assert.strictEqual(await p.page.isHidden('.dataset-free-run'), true); // no free running in this evaluation
    await p.emit('dataset', { evaluations: [withFreeRunning(evaluation(4187, 0.3))], mode: 'replace' });
    await p.page.waitForSelector('.dataset-free-run:not([hidden]) .free-run-worst-table tbody tr');
    assert.match(
      await p.page.textContent('.free-run-settings'),
      /72 continuations .*CFG 3\.5, top-k 100, top-p 0\.95, seed 0.*Class: each image’s label/,
    );
    // one curve per prefix; the one kept to 1×1 has a point at every later scale, the last prefix one point
    const agreement = '.dataset-free-run .chart:first-child';
    const dots = await p.page.$$eval(`${agreement} .series`, (gs) => gs.map((g) => g.querySelectorAll('circle.dot').length));
    assert.deepStrictEqual(dots, [9, 8, 7, 6, 5, 4, 3, 2, 1]);
    const firstPoint = () => p.page.textContent(`${agreement} .series:first-child circle.dot title`);
    assert.strictEqual(await firstPoint(), 'kept to 1×1 at 2×2: 50');
    await p.page.click('.dataset-free-run .segmented button[data-value=greedy]');
    await p.page.waitForFunction(() =>
      /: 80$/.test(document.querySelector('.dataset-free-run .chart .series circle.dot title').textContent),
    );
    assert.strictEqual(await firstPoint(), 'kept to 1×1 at 2×2: 80');
    // the NLL pair from the coarsest prefix
    const nllNames = await p.page.$$eval('.dataset-free-run .chart:nth-child(3) g.key text', (ts) => ts.map((t) => t.textContent));
    assert.deepStrictEqual(nllNames, ['its own greedy tokens', 'the true tokens (teacher-forced)']);
    assert.deepStrictEqual(await p.page.$$eval('.free-run-class-table tbody tr td:nth-child(3)', (tds) => tds.map((t) => t.textContent)), [
      '40.0',
      '40.0',
    ]);
    // worst images: lowest finest-scale agreement from the 1×1 prefix first (greedy: the last image); a click opens it
    await p.page.click('.dataset-free-run .segmented button[data-value=sampled]');
    await p.page.waitForFunction(() => /^cats\/a\.png$/.test(document.querySelector('.free-run-worst-table tbody tr td').textContent));
    await p.page.click('.dataset-free-run .segmented button[data-value=greedy]');
    await p.page.waitForFunction(() => /^dogs\/d\.png$/.test(document.querySelector('.free-run-worst-table tbody tr td').textContent));
    await p.page.click('.free-run-worst-table tbody tr:first-child');
    await p.page.waitForFunction(() => window.__fake.posted.some((m) => m.method === 'openImage'));
    assert.deepStrictEqual(opened, [{ file: '/data/set/dogs/d.png', model: '/models/m4187' }]);
    await p.shot('dataset-free-run');
    assert.deepStrictEqual(p.pageErrors, []);
  });
};
