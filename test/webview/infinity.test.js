// An Infinity model in the panel: the tabs its family supports, the bit pyramid (h×w grids, cells coloured by the
// bit projection, hover linking scales and listing the bits), from the official bits of fixture B.
'use strict';
const assert = require('assert');
const path = require('path');
require('./tsRequire');
const { infinityInspect, infinityModel, SCALES, BITS } = require('./fixtures/infinityInspect');

const { bitColor, bitProjection, bitString } = require(path.resolve(__dirname, '../../src/webview/geometry/bitColors.ts'));

const openInfinity = (open) =>
  open({ init: { model: infinityModel() }, handlers: { inspect: async () => infinityInspect(), trainingUsage: async () => null } });

module.exports = (test) => {
  test('an Infinity model shows only the tabs its family supports, and asks the host to inspect', async ({ open }) => {
    const p = await openInfinity(open);
    await p.page.waitForSelector('.view-bit-pyramid .token-grid');
    const tabs = await p.page.$$eval('[role=tablist] button', (bs) => bs.filter((b) => !b.hidden).map((b) => b.id));
    assert.deepStrictEqual(tabs, [
      'tab-pyramid',
      'tab-reconstruction',
      'tab-residual',
      'tab-codebook',
      'tab-attention',
      'tab-stepThrough',
      'tab-sampling',
      'tab-whatIf',
      'tab-dataset',
    ]);
    assert.deepStrictEqual(
      p.calls.map((c) => c.method).filter((m) => m === 'inspect'),
      ['inspect'],
    );
    assert.match(await p.page.textContent('.model-shape'), /Infinity · 32 bits · 7 scales · L=665 · hw0\.750-0\.06M/);
    assert.strictEqual(await p.page.$eval('.gpu-note', (n) => n.hidden), true, 'a 0.06M schedule on the CPU needs no note');
  });

  test('a schedule past 0.25M on the CPU is said to be made for a GPU in the header; on a GPU nothing is said', async ({ open }) => {
    // the official 1M schedule at 1:1: 13 scales, 10,521 tokens
    const oneM = { id: 'hw1.000-1M', hDivW: 1, pn: '1M', scales: [], tokenCount: 10521, pixelSize: [1024, 1024] };
    const withOneM = (provider) => ({ ...infinityModel(), provider, schedules: [...infinityModel().schedules, oneM] });
    const handlers = { inspect: async () => infinityInspect(), trainingUsage: async () => null };
    const cpu = await open({ init: { model: withOneM('cpu') }, handlers });
    await cpu.page.waitForSelector('.view-bit-pyramid .token-grid');
    assert.strictEqual(
      await cpu.page.$eval('.gpu-note', (n) => (n.hidden ? null : n.textContent)),
      '1M (10,521 tokens at hw1.000) is made for a GPU: on the CPU each scale of it takes minutes (setting varscope.executionProvider)',
    );
    const gpu = await open({ init: { model: withOneM('cuda') }, handlers });
    await gpu.page.waitForSelector('.view-bit-pyramid .token-grid');
    assert.strictEqual(await gpu.page.$eval('.gpu-note', (n) => n.hidden), true);
  });

  test('one grid per scale, h×w as the schedule (15×20 last), each cell the projection of its bits', async ({ open }) => {
    const p = await openInfinity(open);
    await p.page.waitForSelector('.view-bit-pyramid .token-grid');
    const grids = await p.page.$$eval('#panel-pyramid .pyramid-strip .token-grid', (gs) =>
      gs.map((g) => ({
        h: +g.getAttribute('data-rows'),
        w: +g.getAttribute('data-pn'),
        width: +g.getAttribute('width'),
        height: +g.getAttribute('height'),
        fills: [...g.querySelectorAll('.cell')].map((c) => c.getAttribute('fill')),
      })),
    );
    assert.deepStrictEqual(
      grids.map((g) => [g.h, g.w]),
      SCALES,
    );
    const r = infinityInspect();
    const projection = bitProjection(BITS);
    grids.forEach((g, k) => {
      assert.ok(Math.abs(g.height / g.width - g.h / g.w) < 0.02, `scale ${k}: square cells`);
      assert.strictEqual(g.fills.length, g.h * g.w);
      g.fills.forEach((f, i) => {
        const [R, G, B] = bitColor(r.scales[k].bits, i, BITS, projection);
        assert.strictEqual(f, `rgb(${R}, ${G}, ${B})`, `scale ${k} cell ${i}`);
      });
    });
    // Equal codes get equal colours (the 15×20 scale repeats codes).
    const last = r.scales[6];
    const key = (i) => bitString(last.bits, i, BITS);
    for (let i = 1; i < 300; i++) if (key(i) === key(0)) assert.strictEqual(grids[6].fills[i], grids[6].fills[0]);
    assert.strictEqual(new Set(grids[6].fills).size > 20, true, 'the finest scale shows many colours');
  });

  test('hover lists the scale, position and bits in groups of 4, and outlines the region in every scale', async ({ open }) => {
    const p = await openInfinity(open);
    await p.page.waitForSelector('.view-bit-pyramid .token-grid');
    const grid = p.page.locator('#panel-pyramid .pyramid-strip .token-grid[data-rows="6"]');
    const box = await grid.boundingBox();
    // Cell (row 4, col 3) of the 6×8 scale.
    await p.page.mouse.move(box.x + box.width * (3.5 / 8), box.y + box.height * (4.5 / 6));
    await p.page.waitForSelector('.token-info h3');
    const pos = 4 * 8 + 3;
    const bits = infinityInspect().scales[3].bits;
    const expected = Array.from(bits.subarray(pos * BITS, (pos + 1) * BITS))
      .join('')
      .match(/.{4}/g)
      .join(' ');
    assert.strictEqual(await p.page.textContent('.token-info .bit-string'), expected);
    const info = await p.page.textContent('.token-info');
    assert.match(info, /k=4 · 6×8/);
    assert.match(info, /row 4, col 3/);
    assert.strictEqual(await grid.locator('.cell.is-hover').getAttribute('data-pos'), String(pos));
    // The region rows 4/6..5/6, cols 3/8..4/8: on 15×20, rows 10..12 (3 rows) × cols 7..9 (3 cols, 7.5 → 10).
    const linked = await p.page.$$eval('.pyramid-strip .token-grid[data-rows="15"] .cell.is-linked', (cs) =>
      cs.map((c) => +c.getAttribute('data-pos')).sort((a, b) => a - b),
    );
    const expect = [];
    for (let r = 10; r < 13; r++) for (let c = 7; c < 10; c++) expect.push(r * 20 + c);
    assert.deepStrictEqual(linked, expect);
    const region = await p.page.$eval('.input-figure .region-box', (b) => [b.hidden, b.style.left, b.style.top, b.style.width]);
    assert.deepStrictEqual(region, [false, '37.5%', '66.6667%', '12.5%']);
    await p.shot('infinity-pyramid');
  });

  test('Reconstruction draws the bits result: a decode and an error map per scale at the image aspect, PSNR per h×w scale', async ({
    open,
  }) => {
    const p = await openInfinity(open);
    await p.page.waitForSelector('.view-bit-pyramid .token-grid');
    await p.tab('reconstruction');
    await p.page.waitForSelector('#panel-reconstruction .decoded-row canvas');
    const r = infinityInspect();
    const captions = await p.page.$$eval('#panel-reconstruction .decoded-row figcaption', (cs) => cs.map((c) => c.textContent));
    assert.deepStrictEqual(
      captions,
      r.scales.map((s) => `${s.h}×${s.w} · ${s.psnr.toFixed(1)} dB`),
    );
    const frames = await p.page.$$eval('#panel-reconstruction .error-row .figure-frame', (fs) =>
      fs.map((f) => [parseFloat(f.style.width), parseFloat(f.style.height)]),
    );
    assert.strictEqual(frames.length, 7);
    for (const [w, h] of frames) assert.strictEqual(h, Math.round(w * 0.75));
    const ticks = await p.page.$$eval('#panel-reconstruction .chart .tick text', (ts) => ts.map((t) => t.textContent));
    for (const [h, w] of SCALES) assert.ok(ticks.includes(`${h}×${w}`), `tick ${h}×${w} in ${ticks}`);
    // A decode keeps its own pixels: the last scale's flat stand-in colour.
    const px = await p.page.$eval('#panel-reconstruction .decoded-row figure:last-child canvas', (c) =>
      Array.from(c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data),
    );
    assert.deepStrictEqual(px, [240, 240, 128, 255]);
  });

  test('Residuals draws the residual norm on the 15×20 latent per scale and the energy curve; no quantization parts', async ({ open }) => {
    const p = await openInfinity(open);
    await p.page.waitForSelector('.view-bit-pyramid .token-grid');
    await p.tab('residual');
    await p.page.waitForSelector('#panel-residual .residual-row canvas');
    const r = infinityInspect();
    const captions = await p.page.$$eval('#panel-residual .residual-row figcaption', (cs) => cs.map((c) => c.textContent));
    assert.deepStrictEqual(
      captions,
      r.scales.map((s) => `after ${s.h}×${s.w} · ${(s.residualEnergy * 100).toFixed(1)}%`),
    );
    const frames = await p.page.$$eval('#panel-residual .residual-row .figure-frame', (fs) =>
      fs.map((f) => [parseFloat(f.style.width), parseFloat(f.style.height)]),
    );
    for (const [w, h] of frames) assert.strictEqual(h, Math.round(w * 0.75));
    assert.strictEqual(await p.page.$$eval('#panel-residual .quant-row', (q) => q.length), 0);
    const charts = await p.page.$$eval('#panel-residual svg.chart', (cs) =>
      cs
        .filter((c) => /Residual energy|quantization error/.test(c.textContent))
        .map((c) => [c.textContent.slice(0, 15), c.hasAttribute('hidden')]),
    );
    assert.deepStrictEqual(charts, [
      ['Residual energy', false],
      ['Mean quantizati', true],
    ]);
  });
};
