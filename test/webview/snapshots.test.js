// Snapshot tests: every view in VIEW_IDS (src/shared/protocol.ts) rendered from the recordings, their DOM written as text (structure, classes, labels, captions,
// axis ticks, chart and bar titles; numbers rounded to 4 significant digits; canvas pixels left to the value tests) and compared with
// test/webview/snapshots/<name>.txt. On a mismatch the new text goes to test-results/webview/snapshots/<name>-changed.txt
// (diff the two); VARSCOPE_UPDATE_SNAPSHOTS=1 writes the snapshot itself. A missing snapshot fails.
'use strict';
/* global document, Node, requestAnimationFrame */
const assert = require('assert');
const fs = require('fs');
const path = require('path');
require('./tsRequire');
const { VIEW_IDS } = require('../../src/shared/protocol.ts');
const { evaluation, withFreeRunning } = require('./fixtures/evaluation');

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

/** Let the page settle: no view waits on the host, and two frames have run. */
async function settle(page) {
  await page.waitForFunction(() => !document.querySelector('.view:not([hidden]) .placeholder.is-loading'));
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

/**
 * What brings a view to a state worth a snapshot once its tab shows (data the host would send, a few user actions).
 * A view not listed here still gets a snapshot, of its tab as it first shows.
 */
const SETUP = {
  async pyramid(p) {
    await p.page.hover('.pyramid-strip .grid-figure[data-scale="3"] rect.cell[data-pos="5"]');
    await p.page.click('.pyramid-strip .grid-figure[data-scale="2"] rect.cell[data-pos="4"]');
    await p.page.waitForSelector('.token-info .occurrences');
  },
  reconstruction: (p) => p.page.waitForSelector('#panel-reconstruction .chart'),
  residual: (p) => p.page.waitForSelector('#panel-residual .chart'),
  codebook: (p) => p.page.waitForSelector('#panel-codebook .chart'),
  attention: (p) => p.page.waitForSelector('#panel-attention .block-mask'),
  async stepThrough(p) {
    // A generation started with the recommended settings and stepped to its third scale.
    await p.page.click('button.start');
    await p.page.waitForSelector('.step-row:not([hidden])');
    await p.page.click('button.step');
    await p.page.click('button.step');
    await p.page.waitForFunction(() => /Scale 3 of 10/.test(document.querySelector('.gen-status').textContent));
  },
  async sampling(p) {
    // The official FID settings, one click: classes 0 and 1, four samples each.
    await p.page.click('button.preset-fid');
    await p.page.waitForSelector('.grid-row');
  },
  async whatIf(p) {
    // Two rows of four tokens at the 8×8 scale set to code 7: the before / after pyramids.
    await p.page.selectOption('.edit-scale', '6');
    const box = await p.page.locator('.edit-grid .token-grid').boundingBox();
    const at = (r, c) => [box.x + ((c + 0.5) / 8) * box.width, box.y + ((r + 0.5) / 8) * box.height];
    await p.page.mouse.move(...at(0, 0));
    await p.page.mouse.down();
    await p.page.mouse.move(...at(1, 3));
    await p.page.mouse.up();
    await p.page.fill('.edit-token', '7');
    await p.page.click('button.set-tokens');
    await p.page.waitForSelector('.pyramid-after');
  },
  async compare(p) {
    await p.emitRecorded('comparison', 'comparison');
    await p.page.waitForSelector('.compare-c');
  },
  async profile(p) {
    await p.page.click('#panel-profile button:text("Measure")');
    await p.page.waitForSelector('.profile-table tbody tr');
  },
  async dataset(p) {
    // Two checkpoints of a run: the newest one's curves and tables (free running too), and the timeline.
    await p.emit('dataset', { evaluations: [evaluation(419, 0.1), withFreeRunning(evaluation(4187, 0.3))], mode: 'replace' });
    await p.page.waitForSelector('.worst-table tbody tr');
    await p.page.waitForSelector('.free-run-worst-table tbody tr');
    await p.page.waitForSelector('.dataset-timeline:not([hidden])');
  },
};

module.exports = (test) => {
  // Every view of the panel, from the one list of views: a new view gets a snapshot without being listed here.
  for (const id of VIEW_IDS) {
    test(`${id} view of the recorded image`, async ({ open }) => {
      const p = await open();
      await p.page.waitForSelector('.token-grid');
      await p.tab(id);
      await SETUP[id]?.(p);
      await settle(p.page);
      await expectSnapshot(p.page, `#panel-${id}`, id);
    });
  }

  test('no setup for a view that is not in VIEW_IDS', () => {
    assert.deepStrictEqual(
      Object.keys(SETUP).filter((id) => !VIEW_IDS.includes(id)),
      [],
    );
  });

  // The step-through view's other mode.
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
};
