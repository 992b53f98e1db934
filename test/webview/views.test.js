// Reconstruction, residual and codebook views rendered from the recordings; values checked against the fixture.
'use strict';
/* global document */
const assert = require('assert');
const { canvasData, canvasPixel, perplexity, near } = require('./util');

module.exports = (test) => {
  test('reconstruction: a decoded image and an error map per scale, PSNR per scale from the fixture', async ({ open, rec }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.tab('reconstruction');
    assert.strictEqual(await p.page.locator('.decoded-row canvas').count(), 10);
    assert.strictEqual(await p.page.locator('.error-row canvas').count(), 10);
    const captions = await p.page.$$eval('.decoded-row figcaption', (cs) => cs.map((c) => c.textContent));
    rec.inspect.scales.forEach((s, k) => assert.strictEqual(captions[k], `${s.pn}×${s.pn} · ${s.psnr.toFixed(1)} dB`));
    assert.strictEqual(await p.page.locator('.view-reconstruction .chart .dot').count(), 10);
    // The decoded canvas shows the fixture's decode: mean colour within 3 levels of the source image's mean.
    for (const k of [0, 9]) {
      const d = await canvasData(p.page, `.decoded-row .scale-figure[data-scale="${k}"] canvas`);
      const src = rec.inspect.scales[k].decoded.data;
      for (let c = 0; c < 3; c++) {
        let a = 0,
          b = 0;
        for (let i = c; i < d.data.length; i += 4) a += d.data[i];
        for (let i = c; i < src.length; i += 4) b += src[i];
        assert.ok(Math.abs(a / (d.data.length / 4) - b / (src.length / 4)) < 3, `scale ${k} channel ${c}`);
      }
    }
    await p.shot('reconstruction');
  });

  test('residual: heatmap colours match the legend at each latent cell on one shared scale', async ({ open, rec }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.tab('residual');
    const max = Math.max(...rec.inspect.scales.flatMap((s) => Array.from(s.residualNorm)));
    assert.ok(Math.abs(+(await p.page.getAttribute('.residual-row canvas', 'data-max')) - max) < 1e-5);
    const legend = await canvasData(p.page, '.view-residual .legend >> nth=0 >> .legend-bar');
    const legendAt = (t) => {
      const x = Math.round(t * (legend.width - 1));
      return legend.data.slice(x * 4, x * 4 + 3);
    };
    for (const k of [0, 5, 9]) {
      const d = await canvasData(p.page, `.residual-row .scale-figure[data-scale="${k}"] canvas`);
      const v = rec.inspect.scales[k].residualNorm;
      for (const [i, j] of [
        [0, 0],
        [7, 3],
        [15, 15],
        [4, 12],
      ]) {
        const x = Math.floor(((j + 0.5) / 16) * d.width),
          y = Math.floor(((i + 0.5) / 16) * d.height);
        const px = d.data.slice((y * d.width + x) * 4, (y * d.width + x) * 4 + 3);
        assert.ok(near(px, legendAt(v[i * 16 + j] / max), 6), `scale ${k} (${i},${j}): ${px} vs legend ${legendAt(v[i * 16 + j] / max)}`);
      }
    }
    const captions = await p.page.$$eval('.residual-row figcaption', (cs) => cs.map((c) => c.textContent));
    rec.inspect.scales.forEach((s, k) => assert.ok(captions[k].endsWith(`${(s.residualEnergy * 100).toFixed(1)}%`)));
    await p.shot('residual');
  });

  test('codebook: used / dead / perplexity of this image, training counts and a streamed folder', async ({ open, rec }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.tab('codebook');
    const V = rec.model.vocabSize;
    // Independent count from the fixture tokens.
    const counts = new Float64Array(V);
    for (const s of rec.inspect.scales) for (const t of s.tokens) counts[t]++;
    const used = counts.filter((c) => c > 0).length;
    assert.strictEqual(await p.page.textContent('.stat-used .stat-value'), `${used} / ${V}`);
    assert.match(await p.page.textContent('.stat-dead .stat-value'), new RegExp(`^${V - used} `));
    assert.strictEqual(await p.page.textContent('.stat-perplexity .stat-value'), perplexity(counts).toFixed(1));
    assert.strictEqual(await p.page.getAttribute('.overall-histogram canvas', 'data-bins'), String(V));
    // Bars: the top-ranked column is painted, a column past the used codes is empty.
    const h = await canvasData(p.page, '.overall-histogram canvas');
    const col = (x) => {
      let a = 0;
      for (let y = 0; y < h.height; y++) a += h.data[(y * h.width + x) * 4 + 3];
      return a;
    };
    assert.ok(col(0) > 0, 'rank 0 drawn');
    assert.strictEqual(col(Math.floor(((used + 5) / V) * h.width)), 0, 'no bar past the used codes');
    assert.strictEqual(await p.page.locator('.hist-cell').count(), 10);
    await p.shot('codebook');
    // Training counts from the checkpoint.
    await p.page.click('.view-codebook .segmented button[data-value=training]');
    const trainUsed = Array.from(rec.trainingUsage.overall).filter((c) => c > 0).length;
    assert.strictEqual(await p.page.textContent('.stat-used .stat-value'), `${trainUsed} / ${V}`);
    // Folder: events stream in; a late lower `done` is ignored.
    await p.page.click('.view-codebook .segmented button[data-value=folder]');
    assert.match(await p.page.textContent('#panel-codebook .placeholder'), /No folder counted yet/);
    await p.emitRecorded('folderUsage', 'folderUsage:1');
    await p.page.waitForSelector('.stat-images');
    assert.strictEqual(await p.page.textContent('.stat-images .stat-value'), '2');
    await p.emitRecorded('folderUsage', 'folderUsage:2');
    await p.emitRecorded('folderUsage', 'folderUsage:0');
    await p.page.waitForFunction(() => document.querySelector('.stat-images .stat-value').textContent === '3');
    assert.match(await p.page.textContent('.folder-status'), /3\/3 images/);
    const folderUsed = Array.from(rec.folderUsage[2].usage.overall).filter((c) => c > 0).length;
    assert.strictEqual(await p.page.textContent('.stat-used .stat-value'), `${folderUsed} / ${V}`);
    await p.shot('codebook-folder');
  });

  test('codebook: clicking a bar selects that code in the pyramid (linked)', async ({ open, rec }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.tab('codebook');
    const box = await p.page.locator('.overall-histogram canvas').boundingBox();
    await p.page.mouse.click(box.x + 0.5, box.y + box.height - 2);
    // Rank 0 is the most frequent code (lowest id among ties).
    const overall = rec.inspect.codebook.overall;
    let top = 0;
    for (let v = 0; v < overall.length; v++) if (overall[v] > overall[top]) top = v;
    assert.strictEqual(await p.page.textContent('.stat-code .stat-label'), `hits of code ${top}`);
    const px = await canvasPixel(p.page, '.overall-histogram canvas', 0, 2);
    assert.ok(px[3] > 0, 'marked code drawn at rank 0');
    await p.tab('pyramid');
    assert.strictEqual(await p.page.locator('#panel-pyramid .pyramid-strip .cell.is-selected').count(), overall[top]);
  });
};
