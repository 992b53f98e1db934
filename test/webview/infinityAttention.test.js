// The Attention tab of an Infinity model (fixture B's schedule, L = 665): the block-causal mask, Load weights asks
// with the caption, layer and head, the self-attention drawn where the mask allows only, the cross-attention table
// (per scale the mean weight of its queries on each caption token, the hovered query's own row) labelled by token
// indices or the prompt's pieces; a bundle exported before the attention graph says so in one line.
'use strict';
const assert = require('assert');
const { canvasData, canvasPixel, hexRgb } = require('./util');
const { THEMES } = require('./harness');
const { infinityInspect, infinityModel } = require('./fixtures/infinityInspect');
const { infinityAttention, crossWeight, beginEnds, CAPTION } = require('./fixtures/infinityAttention');

const BESIDE = '/workspace/img2.npy';

const openAttention = async (open, { model = infinityModel(), tokens, beside = BESIDE } = {}) => {
  const p = await open({
    theme: 'vscode-dark',
    init: { model, captionBesideImage: beside },
    handlers: {
      inspect: async () => infinityInspect(),
      trainingUsage: async () => null,
      attention: async (params) => infinityAttention({ layer: params.layer, head: params.head, tokens }),
    },
  });
  await p.page.waitForSelector('.view-bit-pyramid .token-grid');
  await p.tab('attention');
  await p.page.waitForSelector('.view-bits-attention .block-mask');
  return p;
};

/** The table's cells as numbers, row by row, and its row and column labels. */
const readTable = (page) =>
  page.$eval('.view-bits-attention .cross-table', (t) => ({
    columns: [...t.querySelectorAll('thead th')].map((th) => th.textContent),
    rows: [...t.querySelectorAll('tbody tr')].map((tr) => tr.querySelector('th').textContent),
    values: [...t.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => +td.dataset.value)),
  }));

module.exports = (test) => {
  test('Infinity Attention: block-causal mask of the schedule; Load weights asks with the caption, layer and head', async ({ open }) => {
    const p = await openAttention(open);
    const L = 665;
    const be = beginEnds();
    const d = await canvasData(p.page, '.view-bits-attention .block-mask');
    assert.deepStrictEqual([d.width, d.height], [L, L]);
    const on = hexRgb(THEMES['vscode-dark']['--vscode-charts-blue']);
    const off = hexRgb(THEMES['vscode-dark']['--vscode-editor-background']);
    let bad = 0;
    for (let q = 0; q < L; q += 3) {
      const end = be.find(([b, e]) => q >= b && q < e)[1];
      for (let k = 0; k < L; k += 2) {
        const want = k < end ? on : off;
        const o = (q * L + k) * 4;
        if (d.data[o] !== want[0] || d.data[o + 1] !== want[1] || d.data[o + 2] !== want[2]) bad++;
      }
    }
    assert.strictEqual(bad, 0, `${bad} mask pixels differ from the block-causal mask`);
    assert.match(await p.page.textContent('.view-bits-attention figcaption'), /hw0\.750-0\.06M: 7 scales, L = 665/);
    await p.page.selectOption('.view-bits-attention .attention-layer', '3');
    await p.page.selectOption('.view-bits-attention .attention-head', '2');
    await p.page.click('.view-bits-attention .load-attention');
    await p.page.waitForSelector('.view-bits-attention .cross-table tbody tr');
    assert.deepStrictEqual(
      p.calls.filter((c) => c.method === 'attention').map((c) => c.params),
      [{ text: { featuresFile: BESIDE }, layer: 3, head: 2 }],
    );
    assert.match(await p.page.textContent('.view-bits-attention .weights-caption'), /block 3, head 2/);
    // self-attention: drawn on visible keys (uniform weights, one colour per scale), background above the mask
    const w = await canvasData(p.page, '.view-bits-attention .weights-canvas');
    let leaks = 0;
    let holes = 0;
    for (let q = 0; q < L; q += 5) {
      const end = be.find(([b, e]) => q >= b && q < e)[1];
      for (let k = 0; k < L; k += 4) {
        const o = (q * L + k) * 4;
        const isOff = w.data[o] === off[0] && w.data[o + 1] === off[1] && w.data[o + 2] === off[2];
        if (k >= end && !isOff) leaks++;
        if (k < end && isOff) holes++;
      }
    }
    assert.deepStrictEqual([leaks, holes], [0, 0]);
  });

  test('Infinity Attention: the cross-attention table gives each scale’s mean weight per caption token, and the hovered query’s row', async ({
    open,
  }) => {
    const p = await openAttention(open);
    await p.page.click('.view-bits-attention .load-attention');
    await p.page.waitForSelector('.view-bits-attention .cross-table tbody tr');
    const be = beginEnds();
    const means = be.map(([b, e]) =>
      Array.from({ length: CAPTION }, (_, t) => {
        let s = 0;
        for (let q = b; q < e; q++) s += crossWeight(q, t);
        return s / (e - b);
      }),
    );
    let t = await readTable(p.page);
    assert.deepStrictEqual(t.columns, ['', '#0', '#1', '#2', '#3', '#4', '#5', '#6']);
    assert.deepStrictEqual(t.rows, ['k=1 · 1×1', 'k=2 · 2×2', 'k=3 · 3×4', 'k=4 · 6×8', 'k=5 · 9×12', 'k=6 · 12×16', 'k=7 · 15×20']);
    for (let k = 0; k < be.length; k++)
      for (let c = 0; c < CAPTION; c++) assert.ok(Math.abs(t.values[k][c] - means[k][c]) < 1e-6, `scale ${k} token ${c}`);
    // each scale's row sums to 1 (every query's does)
    for (const row of t.values) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    // hover a query near 300 (scale k=6, 12×16: tokens 173..364): its own row is added
    const box = await p.page.locator('.view-bits-attention .block-mask').boundingBox();
    const L = 665;
    const y = Math.round(box.y + (300.5 / L) * box.height);
    const q = Math.floor(((y - box.y) / box.height) * L);
    await p.page.mouse.move(box.x + 10, y);
    await p.page.waitForSelector('.view-bits-attention .cross-table tr.query-row');
    t = await readTable(p.page);
    assert.strictEqual(t.rows[7], `query ${q}`);
    for (let c = 0; c < CAPTION; c++) assert.ok(Math.abs(t.values[7][c] - crossWeight(q, c)) < 1e-6);
    const k = be.findIndex(([b, e]) => q >= b && q < e);
    assert.match(await p.page.textContent('.view-bits-attention .query-info'), new RegExp(`^Query ${q}: k=${k + 1} · `));
    assert.strictEqual(await p.page.textContent('.view-bits-attention .cross-table tr.is-hovered th'), t.rows[k]);
    // its weights end at its scale's end
    const off = hexRgb(THEMES['vscode-dark']['--vscode-editor-background']);
    const pixel = async (key) => (await canvasPixel(p.page, '.view-bits-attention .weights-canvas', key, q)).slice(0, 3);
    assert.notDeepStrictEqual(await pixel(be[k][1] - 1), off);
    assert.deepStrictEqual(await pixel(be[k][1]), off);
    await p.shot('infinity-attention');
  });

  test('Infinity Attention: a prompt labels the columns with its pieces; an old bundle says it predates the graph', async ({ open }) => {
    const pieces = ['▁a', '▁photo', '▁of', '▁a', '▁cat', '.', '</s>'];
    const p = await openAttention(open, { tokens: pieces });
    await p.page.click('.view-bits-attention .load-attention');
    await p.page.waitForSelector('.view-bits-attention .cross-table tbody tr');
    assert.deepStrictEqual((await readTable(p.page)).columns, ['', '·a', '·photo', '·of', '·a', '·cat', '.', '</s>']);
    assert.strictEqual(await p.page.isHidden('.view-bits-attention .attention-missing'), true);
    const old = await openAttention(open, { model: { ...infinityModel(), attentionGraph: false } });
    assert.match(
      await old.page.textContent('.view-bits-attention .attention-missing'),
      /^This bundle predates the attention graph: re-export it/,
    );
    assert.strictEqual(await old.page.isDisabled('.view-bits-attention .load-attention'), true);
  });
};
