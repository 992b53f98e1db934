// Snapshot tests: views rendered from the recordings, their DOM written as text (structure, classes, labels, captions,
// axis ticks, chart and bar titles; numbers rounded to 4 significant digits; canvas pixels left to the value tests) and compared with
// test/webview/snapshots/<name>.txt. On a mismatch the new text goes to test-results/webview/snapshots/<name>-changed.txt
// (diff the two); VARSCOPE_UPDATE_SNAPSHOTS=1 writes the snapshot itself. A missing snapshot fails.
'use strict';
/* global document, Node */
const assert = require('assert');
const fs = require('fs');
const path = require('path');

const DIR = path.join(__dirname, 'snapshots');
const CHANGED = path.resolve(__dirname, '../../test-results/webview/snapshots');

/** The DOM under `selector` as indented text (runs in the page). */
function domText(selector) {
  const round = (s) => s.replace(/-?\d+\.\d+(e-?\d+)?/g, (n) => String(Number(Number(n).toPrecision(4))));
  const ATTRS = [
    'class',
    'role',
    'aria-label',
    'aria-pressed',
    'aria-selected',
    'hidden',
    'data-scale',
    'data-pn',
    'data-value',
    'data-max',
    'data-bins',
    'width',
    'height',
  ];
  const lines = [];
  const walk = (el, depth) => {
    // Axis lines are d3's geometry: left out; a tick is its label.
    if (el.matches('path')) return;
    if (el.matches('g.tick')) {
      lines.push(`${'  '.repeat(depth)}tick ${round(el.textContent.trim())}`);
      return;
    }
    const attrs = ATTRS.filter((a) => el.hasAttribute(a)).map((a) => `${a}="${round(el.getAttribute(a))}"`);
    const own = [...el.childNodes]
      .filter((n) => n.nodeType === Node.TEXT_NODE)
      .map((n) => n.textContent.trim())
      .join(' ')
      .trim();
    lines.push(
      `${'  '.repeat(depth)}<${el.tagName.toLowerCase()}${attrs.length ? ' ' + attrs.join(' ') : ''}>${own ? ' ' + round(own) : ''}`,
    );
    // A list of classes is the model's: its size and the choice are what the view decides.
    if (el.matches('select')) {
      lines[lines.length - 1] += ` (${el.options.length} options, value ${el.value})`;
      return;
    }
    // A token grid's cells are data (checked by the value tests): count them instead of listing each.
    if (el.matches('g.cells')) {
      lines.push(`${'  '.repeat(depth + 1)}(${el.querySelectorAll('rect.cell').length} cells)`);
      return;
    }
    for (const c of el.children) walk(c, depth + 1);
  };
  walk(document.querySelector(selector), 0);
  return lines.join('\n') + '\n';
}

async function expectSnapshot(page, selector, name) {
  const text = await page.evaluate(domText, selector);
  const file = path.join(DIR, `${name}.txt`);
  if (process.env.VARSCOPE_UPDATE_SNAPSHOTS === '1') {
    fs.mkdirSync(DIR, { recursive: true });
    fs.writeFileSync(file, text);
    return;
  }
  const want = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
  if (want === text) return;
  fs.mkdirSync(CHANGED, { recursive: true });
  const changed = path.join(CHANGED, `${name}-changed.txt`);
  fs.writeFileSync(changed, text);
  assert.fail(want === null ? `no snapshot ${file}: the view's text is in ${changed}` : `${name} differs from ${file}: see ${changed}`);
}

module.exports = (test) => {
  test('reconstruction, residual and codebook views of the recorded image', async ({ open }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    for (const view of ['reconstruction', 'residual', 'codebook']) {
      await p.tab(view);
      await p.page.waitForSelector(`#panel-${view} .chart`);
      await expectSnapshot(p.page, `#panel-${view}`, view);
    }
  });

  test('teacher-forced view of the recorded evaluation', async ({ open }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.tab('stepThrough');
    await p.page.click('.view-step .segmented button[data-value=teacher]');
    await p.page.selectOption('.eval-class', '3');
    await p.page.click('text=Evaluate');
    await p.page.waitForSelector('.correct-row');
    await expectSnapshot(p.page, '.view-step .teacher', 'teacherForced');
  });

  test('pyramid view with a hovered token and a selected code', async ({ open }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.page.hover('.pyramid-strip .grid-figure[data-scale="3"] rect.cell[data-pos="5"]');
    await p.page.click('.pyramid-strip .grid-figure[data-scale="2"] rect.cell[data-pos="4"]');
    await p.page.waitForSelector('.token-info .occurrences');
    await expectSnapshot(p.page, '#panel-pyramid', 'pyramid');
  });
};
