// Token pyramid: grids, colours from codeColors, hover details, linked highlights, code selection, keyboard.
'use strict';
/* global document, getComputedStyle */
const assert = require('assert');
const path = require('path');
const { setTheme } = require('./harness');

const rgb = (colors, id) => `rgb(${colors[id * 3]}, ${colors[id * 3 + 1]}, ${colors[id * 3 + 2]})`;

module.exports = (test) => {
  test('10 grids with pn² cells whose fills are the codeColors of the recorded tokens', async ({ open, rec }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    const grids = await p.page.$$eval('#panel-pyramid .pyramid-strip .token-grid', (gs) =>
      gs.map((g) => ({
        pn: +g.getAttribute('data-pn'),
        fills: [...g.querySelectorAll('.cell')].map((c) => c.getAttribute('fill')),
      })),
    );
    assert.deepStrictEqual(
      grids.map((g) => g.pn),
      rec.model.patchNums,
    );
    grids.forEach((g, k) => {
      const tokens = rec.inspect.scales[k].tokens;
      assert.strictEqual(g.fills.length, g.pn * g.pn);
      g.fills.forEach((f, i) => assert.strictEqual(f, rgb(rec.model.codeColors, tokens[i]), `scale ${k} cell ${i}`));
    });
    // Painted pixels match too (centre of the single 1×1 cell, sampled from a screenshot).
    await p.shot('pyramid');
  });

  test('colour by id recolours every cell', async ({ open, rec }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.page.click('.segmented button[data-value=id]');
    const fills = await p.page.$$eval('#panel-pyramid .pyramid-strip .token-grid[data-pn="16"] .cell', (cs) =>
      cs.map((c) => c.getAttribute('fill')),
    );
    const byEmbedding = Array.from(rec.inspect.scales[9].tokens, (t) => rgb(rec.model.codeColors, t));
    const differing = fills.filter((f, i) => f !== byEmbedding[i]).length;
    assert.ok(differing > 200, `only ${differing} cells changed colour`);
    // Equal tokens keep equal colours.
    const t = rec.inspect.scales[9].tokens;
    for (let i = 1; i < t.length; i++) if (t[i] === t[0]) assert.strictEqual(fills[i], fills[0]);
  });

  test('hover shows scale, position, id, usage and margin; linked cells light up in every scale', async ({ open, rec }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    const grid = p.page.locator('#panel-pyramid .pyramid-strip .token-grid[data-pn="4"]');
    const box = await grid.boundingBox();
    // Cell (row 2, col 1) of the 4×4 scale.
    await p.page.mouse.move(box.x + box.width * (1.5 / 4), box.y + box.height * (2.5 / 4));
    await p.page.waitForSelector('.token-info h3');
    const s = rec.inspect.scales[3];
    const pos = 2 * 4 + 1;
    const id = s.tokens[pos];
    const info = await p.page.textContent('.token-info');
    assert.match(info, new RegExp(`Token ${id}`));
    assert.match(info, /k=4 · 4×4/);
    assert.match(info, /row 2, col 1/);
    assert.match(info, new RegExp(`Uses in this image${rec.inspect.codebook.overall[id]}`));
    assert.match(info, new RegExp(s.quantMargin[pos].toFixed(4)));
    assert.strictEqual(await grid.locator('.cell.is-hover').getAttribute('data-pos'), String(pos));
    // The 16×16 scale: region rows 8..11, cols 4..7 → 16 linked cells; the 3×3 scale: rows 1..2, cols 0..1 → 4.
    const linked16 = await p.page.$$eval('.pyramid-strip .token-grid[data-pn="16"] .cell.is-linked', (cs) =>
      cs.map((c) => +c.getAttribute('data-pos')).sort((a, b) => a - b),
    );
    const expect16 = [];
    for (let r = 8; r < 12; r++) for (let c = 4; c < 8; c++) expect16.push(r * 16 + c);
    assert.deepStrictEqual(linked16, expect16);
    const linked3 = await p.page.$$eval('.pyramid-strip .token-grid[data-pn="3"] .cell.is-linked', (cs) =>
      cs.map((c) => +c.getAttribute('data-pos')).sort((a, b) => a - b),
    );
    assert.deepStrictEqual(linked3, [3, 4, 6, 7]);
    // The input image shows the same region.
    const region = await p.page.$eval('.input-figure .region-box', (b) => [b.hidden, b.style.left, b.style.top, b.style.width]);
    assert.deepStrictEqual(region, [false, '25%', '50%', '25%']);
    // The hovered scale becomes the focused one, drawn large with its ids.
    const ids = await p.page.$$eval('.focus-grid .ids text', (ts) => ts.map((t) => +t.textContent));
    assert.deepStrictEqual(ids, Array.from(s.tokens));
    assert.strictEqual(await p.page.getAttribute('.focus-grid .cell.is-hover', 'data-pos'), String(pos));
    await p.shot('pyramid-hover');
  });

  test('click on a code marks every occurrence in every scale', async ({ open, rec }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    // The most frequent code of the image.
    const overall = rec.inspect.codebook.overall;
    let code = 0;
    for (let v = 0; v < overall.length; v++) if (overall[v] > overall[code]) code = v;
    const k = rec.inspect.scales.findIndex((s) => s.tokens.includes(code));
    const pos = rec.inspect.scales[k].tokens.indexOf(code);
    const pn = rec.model.patchNums[k];
    const box = await p.page.locator(`#panel-pyramid .pyramid-strip .token-grid[data-pn="${pn}"]`).boundingBox();
    await p.page.mouse.click(box.x + box.width * (((pos % pn) + 0.5) / pn), box.y + box.height * ((Math.floor(pos / pn) + 0.5) / pn));
    const marked = await p.page.$$eval('#panel-pyramid .pyramid-strip .token-grid', (gs) =>
      gs.map((g) => g.querySelectorAll('.cell.is-selected').length),
    );
    const expected = rec.inspect.scales.map((s) => s.tokens.filter((t) => t === code).length);
    assert.deepStrictEqual(marked, expected);
    assert.match(await p.page.textContent('.occurrences h3'), new RegExp(`Code ${code} occurs ${overall[code]}×`));
    await p.shot('pyramid-selected');
  });

  test('arrow keys step the focused scale; every control is reachable with Tab and labelled', async ({ open }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.page.focus('.pyramid-strip');
    await p.page.keyboard.press('ArrowRight');
    await p.page.keyboard.press('ArrowRight');
    assert.strictEqual(await p.page.getAttribute('.grid-figure.is-focused', 'data-scale'), '2');
    await p.page.keyboard.press('End');
    assert.strictEqual(await p.page.getAttribute('.grid-figure.is-focused', 'data-scale'), '9');
    await p.page.keyboard.press('ArrowLeft');
    assert.strictEqual(await p.page.getAttribute('.grid-figure.is-focused', 'data-scale'), '8');
    // Tab order reaches every visible button, and each has a name.
    await p.page.focus('body');
    const seen = new Set();
    for (let i = 0; i < 40; i++) {
      await p.page.keyboard.press('Tab');
      const d = await p.page.evaluate(() => {
        const a = document.activeElement;
        return a && a.tagName === 'BUTTON' ? a.id || a.textContent : null;
      });
      if (d) seen.add(d);
    }
    const buttons = await p.page.$$eval('button:not([hidden])', (bs) =>
      bs.filter((b) => b.offsetParent && b.tabIndex >= 0).map((b) => b.id || b.textContent),
    );
    for (const b of buttons) assert.ok(seen.has(b), `Tab never reached ${b}`);
    const unnamed = await p.page.$$eval(
      'button, input, select',
      (els) => els.filter((e) => !(e.getAttribute('aria-label') || e.textContent.trim())).length,
    );
    assert.strictEqual(unnamed, 0);
  });

  test('ten grids share one row in a wide panel and wrap in a narrow one', async ({ open }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    const tops = async () => p.page.$$eval('#panel-pyramid .grid-figure', (fs) => fs.map((f) => Math.round(f.getBoundingClientRect().top)));
    assert.strictEqual(new Set(await tops()).size, 1);
    await p.page.setViewportSize({ width: 700, height: 900 });
    await p.page.waitForFunction(
      () =>
        new Set([...document.querySelectorAll('#panel-pyramid .grid-figure')].map((f) => Math.round(f.getBoundingClientRect().top))).size >
        1,
    );
    // The strip re-renders from its ResizeObserver after the wrap: wait for that frame, then check the size.
    await p.page
      .waitForFunction(() => +document.querySelector('#panel-pyramid .pyramid-strip .token-grid').getAttribute('width') < 100)
      .catch(() => {});
    const w = +(await p.page.getAttribute('#panel-pyramid .pyramid-strip .token-grid', 'width'));
    assert.ok(w >= 64 && w < 100, `grid size ${w}`);
    await p.shot('pyramid-narrow');
  });

  test('light and high-contrast themes restyle the panel chrome', async ({ open }) => {
    const p = await open({ theme: 'vscode-light' });
    await p.page.waitForSelector('.token-grid');
    assert.strictEqual(await p.page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(255, 255, 255)');
    assert.strictEqual(
      await p.page.evaluate(() => getComputedStyle(document.querySelector('.tab.is-active')).borderBottomColor),
      'rgb(0, 144, 241)',
    );
    await p.shot('pyramid-light');
    await setTheme(p.page, 'vscode-high-contrast');
    assert.strictEqual(await p.page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(0, 0, 0)');
    await p.shot('pyramid-high-contrast');
  });

  void path;
};
