// Attention view: the block-causal mask against the official mask, the raster mask, hover → pyramid link, weights.
'use strict';
/* global document, getComputedStyle */
const assert = require('assert');
const { canvasData, canvasPixel, hexRgb, frames } = require('./util');
const { THEMES, setTheme } = require('./harness');

module.exports = (test) => {
  test('mask pixel (query, key) is set iff the official mask allows it; raster mask is lower-triangular', async ({ open, rec }) => {
    const p = await open({ theme: 'vscode-dark' });
    await p.page.waitForSelector('.token-grid');
    await p.tab('attention');
    const d = await canvasData(p.page, '.block-mask');
    const L = rec.model.tokenCount;
    assert.strictEqual(d.width, L);
    assert.strictEqual(d.height, L);
    const on = hexRgb(THEMES['vscode-dark']['--vscode-charts-blue']);
    const off = hexRgb(THEMES['vscode-dark']['--vscode-editor-background']);
    let bad = 0;
    for (let q = 0; q < L; q++) {
      for (let k = 0; k < L; k++) {
        const o = (q * L + k) * 4;
        const want = rec.attnMask[q * L + k] ? on : off;
        if (d.data[o] !== want[0] || d.data[o + 1] !== want[1] || d.data[o + 2] !== want[2]) bad++;
      }
    }
    assert.strictEqual(bad, 0, `${bad} mask pixels differ from attn_mask.npy`);
    const r = await canvasData(p.page, '.raster-mask');
    assert.strictEqual(r.width, 256);
    for (const [q, k] of [
      [0, 0],
      [0, 1],
      [100, 99],
      [100, 101],
      [255, 255],
    ]) {
      const o = (q * 256 + k) * 4;
      assert.deepStrictEqual(Array.from(r.data.slice(o, o + 3)), k <= q ? on : off, `raster (${q},${k})`);
    }
    assert.match(await p.page.textContent('.view-attention'), /10 steps/);
    assert.match(await p.page.textContent('.view-attention'), /256 steps/);
    await p.shot('attention');
  });

  test('theme switch recolours the mask (light and high contrast)', async ({ open, rec }) => {
    const p = await open({ theme: 'vscode-dark' });
    await p.page.waitForSelector('.token-grid');
    await p.tab('attention');
    for (const theme of ['vscode-light', 'vscode-high-contrast']) {
      await setTheme(p.page, theme);
      await frames(p.page);
      // (0,0) is visible, (0,1) is not (key of a finer scale), (679,0) is visible.
      assert.deepStrictEqual(
        (await canvasPixel(p.page, '.block-mask', 0, 0)).slice(0, 3),
        hexRgb(THEMES[theme]['--vscode-charts-blue']),
        `${theme}: visible`,
      );
      assert.deepStrictEqual(
        (await canvasPixel(p.page, '.block-mask', 1, 0)).slice(0, 3),
        hexRgb(THEMES[theme]['--vscode-editor-background']),
        `${theme}: masked`,
      );
      assert.deepStrictEqual(
        (await canvasPixel(p.page, '.block-mask', 0, rec.model.tokenCount - 1)).slice(0, 3),
        hexRgb(THEMES[theme]['--vscode-charts-blue']),
      );
      const bg = await p.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      const [r, g, b] = hexRgb(THEMES[theme]['--vscode-editor-background']);
      assert.strictEqual(bg, `rgb(${r}, ${g}, ${b})`);
      await p.shot(`attention-${theme}`);
    }
  });

  test('hovering a query row marks its visible keys and links to the pyramid', async ({ open, rec }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.tab('attention');
    const box = await p.page.locator('.block-mask').boundingBox();
    const L = rec.model.tokenCount;
    // An integer pixel row inside scale 8 (13×13, tokens 255..423); the query is the row under it.
    const y = Math.round(box.y + (300.5 / L) * box.height);
    const q = Math.floor(((y - box.y) / box.height) * L);
    assert.ok(q >= 255 && q < 424);
    await p.page.mouse.move(box.x + 10, y);
    await p.page.waitForSelector('.query-info h3');
    assert.strictEqual(await p.page.textContent('.query-info h3'), `Query ${q}`);
    const end = rec.model.beginEnds[8][1];
    assert.match(await p.page.textContent('.query-info'), new RegExp(`Visible keys${end} of ${L}`));
    const keysW = +(await p.page.getAttribute('.block-mask + svg .keys-rect', 'width'));
    assert.ok(Math.abs(keysW - (end / L) * 440) < 0.01);
    await p.tab('pyramid');
    const pos = q - rec.model.beginEnds[8][0];
    assert.strictEqual(await p.page.getAttribute('.pyramid-strip .token-grid[data-pn="13"] .cell.is-hover', 'data-pos'), String(pos));
  });

  test('weights of a chosen layer / head are requested and drawn only where the mask allows', async ({ open, rec }) => {
    const p = await open({ theme: 'vscode-dark' });
    await p.page.waitForSelector('.token-grid');
    await p.tab('attention');
    await p.page.selectOption('.view-attention select >> nth=0', '1');
    await p.page.selectOption('.view-attention select >> nth=1', '0');
    await p.page.click('text=Load weights');
    await p.page.waitForSelector('.weights-figure:not([hidden])');
    const call = p.calls.find((c) => c.method === 'attention');
    assert.deepStrictEqual([call.params.layer, call.params.head], [1, 0]);
    const d = await canvasData(p.page, '.weights-canvas');
    const L = rec.model.tokenCount;
    const off = hexRgb(THEMES['vscode-dark']['--vscode-editor-background']);
    let leaks = 0;
    for (let q = 0; q < L; q += 7)
      for (let k = 0; k < L; k += 5) {
        const o = (q * L + k) * 4;
        const isOff = d.data[o] === off[0] && d.data[o + 1] === off[1] && d.data[o + 2] === off[2];
        if (rec.attnMask[q * L + k] === 0 && !isOff) leaks++;
      }
    assert.strictEqual(leaks, 0);
    await p.page.locator('.weights-canvas').scrollIntoViewIfNeeded();
    const box = await p.page.locator('.weights-canvas').boundingBox();
    await p.page.mouse.move(box.x + 5, box.y + ((600 + 0.5) / L) * box.height);
    await p.page.waitForSelector('.view-attention .weights .chart .bar', { state: 'attached' });
    // Attention mass of the query per key scale: each row of weights sums to 1, so the bars fill the axis (114 px = 1).
    const heights = await p.page.$$eval('.view-attention .weights .chart .bar', (bs) => bs.map((b) => +b.getAttribute('height')));
    assert.strictEqual(heights.length, 10);
    assert.ok(Math.abs(heights.reduce((a, b) => a + b, 0) - 114) < 0.5, String(heights));
    await p.shot('attention-weights');
  });
};
