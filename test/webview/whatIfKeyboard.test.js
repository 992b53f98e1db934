// What-if grid by keyboard: cursor, Space / Enter toggles, Shift+arrows rectangles, Escape, ARIA, the edit request;
// and the pure cursor logic of src/webview/geometry/gridCursor.ts in Node.
'use strict';
/* global document, getComputedStyle */
const assert = require('assert');
const path = require('path');
require('./tsRequire');

const cursor = require(path.resolve(__dirname, '../../src/webview/geometry/gridCursor.ts'));

const SCALE = 6; // 8×8
const PN = 8;

/** The cursor cell as the page exposes it: aria-activedescendant, the cell's label / selection, the outline box. */
async function cursorState(page) {
  return page.evaluate(() => {
    const g = document.querySelector('.edit-grid .token-grid');
    const cell = document.getElementById(g.getAttribute('aria-activedescendant'));
    const box = g.querySelector('.cursor-box');
    return {
      focused: document.activeElement === g,
      pos: +cell.getAttribute('data-pos'),
      role: cell.getAttribute('role'),
      label: cell.getAttribute('aria-label'),
      selected: cell.getAttribute('aria-selected'),
      box: ['x', 'y', 'width', 'height'].map((a) => +box.getAttribute(a)),
      boxShown: getComputedStyle(box).display !== 'none',
      line: document.querySelector('.edit-cursor').textContent,
    };
  });
}

const chosen = (page) =>
  page.$$eval('.edit-grid .cell.is-chosen', (cs) => cs.map((c) => +c.getAttribute('data-pos')).sort((a, b) => a - b));

module.exports = (test) => {
  test('cursor logic: moves stop at the edges, toggles and rectangles are sorted sets', async () => {
    assert.strictEqual(cursor.moveCursor(8, 0, 'ArrowUp'), 0);
    assert.strictEqual(cursor.moveCursor(8, 0, 'ArrowLeft'), 0);
    assert.strictEqual(cursor.moveCursor(8, 7, 'ArrowRight'), 7);
    assert.strictEqual(cursor.moveCursor(8, 63, 'ArrowDown'), 63);
    assert.strictEqual(cursor.moveCursor(8, 9, 'ArrowDown'), 17);
    assert.strictEqual(cursor.moveCursor(8, 9, 'ArrowUp'), 1);
    assert.strictEqual(cursor.moveCursor(8, 12, 'Home'), 8);
    assert.strictEqual(cursor.moveCursor(8, 12, 'End'), 15);
    assert.strictEqual(cursor.moveCursor(1, 0, 'ArrowRight'), 0);
    assert.ok(cursor.isCursorKey('ArrowLeft') && !cursor.isCursorKey(' ') && !cursor.isCursorKey('Escape'));
    assert.deepStrictEqual(cursor.toggled([5, 1], 3), [1, 3, 5]);
    assert.deepStrictEqual(cursor.toggled([1, 3, 5], 3), [1, 5]);
    assert.deepStrictEqual(cursor.rectPositions(8, 11, 2), [2, 3, 10, 11]);
    assert.deepStrictEqual(cursor.withRect(8, [63, 2], 11, 2), [2, 3, 10, 11, 63]);
    assert.deepStrictEqual(cursor.cursorRect(8, 10, 256, 2), { x: 66, y: 34, w: 28, h: 28 });
    assert.strictEqual(cursor.cellLabel(8, 10, 321, true), 'Row 2, column 3, token 321, chosen');
    assert.ok(cursor.sameCells([1, 2], [1, 2]) && !cursor.sameCells([1, 2], [2, 1]) && !cursor.sameCells([1], [1, 2]));
  });

  test('what-if by keyboard: arrows, Space, Shift+arrows, Enter, Escape; the edit request carries the chosen cells', async ({
    open,
    rec,
  }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.tab('whatIf');
    await p.page.selectOption('.edit-scale', String(SCALE));
    await p.page.waitForSelector(`.edit-grid .token-grid[data-pn="${PN}"]`);
    const tokens = rec.inspect.scales[SCALE].tokens;
    const grid = '.edit-grid .token-grid';

    // ARIA: a focusable grid of 8 rows × 8 gridcells, named with its scale.
    const aria = await p.page.$eval(grid, (g) => ({
      role: g.getAttribute('role'),
      label: g.getAttribute('aria-label'),
      tabindex: g.getAttribute('tabindex'),
      rows: [...g.querySelectorAll('[role=row]')].map((r) => r.querySelectorAll('[role=gridcell]').length),
    }));
    assert.strictEqual(aria.role, 'grid');
    assert.strictEqual(aria.tabindex, '0');
    assert.match(aria.label, /k=7 · 8×8/);
    assert.deepStrictEqual(aria.rows, Array(PN).fill(PN));

    await p.page.focus(grid);
    let c = await cursorState(p.page);
    assert.deepStrictEqual([c.focused, c.pos, c.role, c.boxShown], [true, 0, 'gridcell', true]);
    assert.strictEqual(c.label, `Row 1, column 1, token ${tokens[0]}`);

    // Arrows move the cursor (the panel's own arrow handling does not step scales meanwhile).
    for (const k of ['ArrowRight', 'ArrowRight', 'ArrowDown']) await p.page.keyboard.press(k);
    c = await cursorState(p.page);
    assert.strictEqual(c.pos, 10);
    assert.strictEqual(c.label, `Row 2, column 3, token ${tokens[10]}`);
    assert.deepStrictEqual(c.box, [2 * 32 + 2, 32 + 2, 28, 28]); // cells of 256 / 8 px, inset by 2
    assert.strictEqual(c.line, `Cursor: k=7 · 8×8 · row 2, column 3, token ${tokens[10]}`);
    assert.strictEqual(await p.page.$eval('.edit-scale', (s) => s.value), String(SCALE));
    assert.deepStrictEqual(await chosen(p.page), []);

    // Space toggles the cursor cell.
    await p.page.keyboard.press('Space');
    assert.deepStrictEqual(await chosen(p.page), [10]);
    c = await cursorState(p.page);
    assert.strictEqual(c.selected, 'true');
    assert.strictEqual(c.label, `Row 2, column 3, token ${tokens[10]}, chosen`);
    assert.strictEqual(await p.page.textContent('.edit-status'), '1 cell chosen at k=7 · 8×8.');

    // Shift+arrows grow a rectangle from the cursor, keeping the cells chosen before; it can shrink again.
    await p.page.keyboard.press('ArrowRight');
    await p.page.keyboard.press('Shift+ArrowDown');
    await p.page.keyboard.press('Shift+ArrowDown');
    await p.page.keyboard.press('Shift+ArrowRight');
    assert.deepStrictEqual(await chosen(p.page), [10, 11, 12, 19, 20, 27, 28]);
    await p.page.keyboard.press('Shift+ArrowLeft');
    assert.deepStrictEqual(await chosen(p.page), [10, 11, 19, 27]);
    assert.strictEqual((await cursorState(p.page)).pos, 27);

    // Enter toggles the cursor cell off; Home / End and the edges.
    await p.page.keyboard.press('Enter');
    assert.deepStrictEqual(await chosen(p.page), [10, 11, 19]);
    await p.page.keyboard.press('Home');
    await p.page.keyboard.press('ArrowLeft');
    assert.strictEqual((await cursorState(p.page)).pos, 24);
    await p.page.keyboard.press('End');
    assert.strictEqual((await cursorState(p.page)).pos, 31);
    const ariaSelected = await p.page.$$eval(`${grid} [role=gridcell][aria-selected=true]`, (cs) =>
      cs.map((x) => +x.getAttribute('data-pos')),
    );
    assert.deepStrictEqual(ariaSelected, [10, 11, 19]);
    await p.shot('what-if-keyboard');

    // The edit request carries exactly the chosen cells.
    await p.page.fill('.edit-token', '9');
    await p.page.focus('button.set-tokens');
    await p.page.keyboard.press('Enter');
    await p.page.waitForSelector('.pyramid-after');
    const call = p.calls.find((x) => x.method === 'edit');
    assert.strictEqual(call.params.scaleIndex, SCALE);
    assert.deepStrictEqual(call.params.positions, [10, 11, 19]);
    assert.deepStrictEqual(call.params.tokens, [9, 9, 9]);

    // Escape clears; the cursor stays where it was.
    await p.page.focus(grid);
    await p.page.keyboard.press('Escape');
    assert.deepStrictEqual(await chosen(p.page), []);
    assert.strictEqual((await cursorState(p.page)).pos, 31);

    // A click focuses the grid and puts the cursor on the clicked cell, so the keys go on from there.
    await p.page.focus('.edit-token');
    const box = await p.page.locator(grid).boundingBox();
    await p.page.mouse.click(box.x + ((5 + 0.5) / PN) * box.width, box.y + ((2 + 0.5) / PN) * box.height);
    c = await cursorState(p.page);
    assert.deepStrictEqual([c.focused, c.pos], [true, 21]);
    assert.deepStrictEqual(await chosen(p.page), [21]);
    await p.page.keyboard.press('Shift+ArrowUp');
    assert.deepStrictEqual(await chosen(p.page), [13, 21]);
  });
};
