// UI benchmarks in headless Chromium (the same harness as the webview tests): draw time of the 680×680 attention mask,
// of a 4096-bin codebook histogram, and hover-to-highlight latency. Prints a table of medians; goal: each within 16 ms.
// Usage: node bench/ui.js [runs]   (builds dist/webview if missing)
'use strict';
/* global document, performance, getComputedStyle, MouseEvent, requestAnimationFrame */
const fs = require('fs');
const path = require('path');
const { execSync } = require('child_process');
const { launch, openPanel, writeRecordingsScript } = require('../test/webview/harness');
const { buildRecordings } = require('../test/webview/fixtures/recorded');

const ROOT = path.resolve(__dirname, '..');
const RUNS = Number(process.argv[2] ?? 30);
const GOAL_MS = 16;

/** A Zipf-like usage over 4096 codes and 10 scales (V of the official 256px tokenizer). */
function usage4096(patchNums) {
  const V = 4096;
  const perScale = patchNums.map((pn, k) => {
    const row = new Float64Array(V);
    for (let v = 0; v < V; v++) row[(v * 2654435761 + k * 97) % V] = Math.floor((pn * pn * 400) / (v + 1) ** 1.1);
    return row;
  });
  const overall = new Float64Array(V);
  for (const row of perScale)
    row.forEach((c, v) => {
      overall[v] += c;
    });
  const ppl = (c) => {
    const t = c.reduce((a, b) => a + b, 0);
    let h = 0;
    for (const x of c) if (x > 0) h -= (x / t) * Math.log(x / t);
    return Math.exp(h);
  };
  return { perScale, overall, used: overall.filter((c) => c > 0).length, perplexity: ppl(overall), perplexityPerScale: perScale.map(ppl) };
}

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (f) => s[Math.min(s.length - 1, Math.floor(f * s.length))];
  return { median: q(0.5), p90: q(0.9), max: s[s.length - 1] };
}

async function main() {
  if (!fs.existsSync(path.join(ROOT, 'dist/webview/main.js'))) {
    execSync('npx webpack --mode development --config-name webview', { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const rec = buildRecordings();
  writeRecordingsScript(rec);
  const browser = await launch();
  const rows = [];
  try {
    // 1. Attention mask: a theme change repaints the 680×680 block-causal mask and the 256×256 raster mask.
    const p = await openPanel(browser, rec, { theme: 'vscode-dark' });
    await p.page.waitForSelector('.token-grid');
    await p.tab('attention');
    const mask = await p.page.evaluate(async (runs) => {
      const out = [];
      const canvas = document.querySelector('.block-mask');
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        document.body.classList.toggle('vscode-light');
        document.body.classList.toggle('vscode-dark');
        await Promise.resolve(); // the MutationObserver callback (theme → store → repaint) runs as a microtask
        await new Promise((r) => setTimeout(r, 0));
        canvas.getContext('2d').getImageData(0, 0, 1, 1); // flush deferred canvas work
        out.push(performance.now() - t0);
      }
      return out;
    }, RUNS);
    rows.push({ name: 'attention masks redraw (680² block-causal + 256² raster, on theme change)', ...stats(mask) });

    // 2. Hover-to-highlight: a pointer move over a pyramid cell until the linked highlight is styled.
    await p.tab('pyramid');
    const hover = await p.page.evaluate(async (runs) => {
      const sync = [];
      const grid = document.querySelector('.token-grid[data-pn="16"]');
      const b = grid.getBoundingClientRect();
      for (let i = 0; i < runs; i++) {
        const cell = i % 256;
        const x = b.left + ((cell % 16) + 0.5) * (b.width / 16);
        const y = b.top + (Math.floor(cell / 16) + 0.5) * (b.height / 16);
        const t0 = performance.now();
        grid.dispatchEvent(new MouseEvent('mousemove', { clientX: x, clientY: y, bubbles: true }));
        const hovered = grid.querySelector('.cell.is-hover');
        void getComputedStyle(hovered).stroke; // style recalculation of the new highlight
        document.querySelector('.token-grid[data-pn="1"] .hover-region').getBBox();
        sync.push(performance.now() - t0);
        await new Promise((r) => requestAnimationFrame(() => r()));
      }
      return { sync };
    }, RUNS);
    rows.push({ name: 'hover → linked highlight in 11 grids + input image (event to styled DOM)', ...stats(hover.sync) });

    // 2b. Hover on the mask: a query row → row mark, visible keys, place in the pyramid.
    await p.tab('attention');
    const maskHover = await p.page.evaluate(async (runs) => {
      const out = [];
      const c = document.querySelector('.block-mask');
      const b = c.getBoundingClientRect();
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        c.dispatchEvent(new MouseEvent('mousemove', { clientX: b.left + 5, clientY: b.top + ((i * 37) % b.height), bubbles: true }));
        void getComputedStyle(document.querySelector('.keys-rect')).fill;
        document.querySelector('.mini-pyramid').getContext('2d').getImageData(0, 0, 1, 1);
        out.push(performance.now() - t0);
      }
      return out;
    }, RUNS);
    rows.push({ name: 'hover a mask row → visible keys + place in pyramid', ...stats(maskHover) });
    await p.close();

    // 3. Codebook histogram with V = 4096: switching to the training counts draws 1 overall + 10 per-scale histograms.
    const model4096 = { ...rec.model, vocabSize: 4096, codeColors: new Uint8Array(4096 * 3).map((_, i) => (i * 37) % 256) };
    const u = usage4096(rec.model.patchNums);
    const q = await openPanel(browser, rec, {
      init: { model: model4096 },
      handlers: { trainingUsage: async () => u, inspect: async () => ({ ...rec.inspect, model: model4096 }) },
    });
    await q.page.waitForSelector('.token-grid');
    await q.tab('codebook');
    await q.page.click('.view-codebook .segmented button[data-value=training]');
    await q.page.waitForSelector('.overall-histogram canvas[data-bins="4096"]');
    const hist = await q.page.evaluate(async (runs) => {
      const out = [];
      const buttons = [...document.querySelectorAll('.view-codebook .segmented button')];
      const image = buttons.find((b) => b.dataset.value === 'image');
      const training = buttons.find((b) => b.dataset.value === 'training');
      const canvas = document.querySelector('.overall-histogram canvas');
      for (let i = 0; i < runs; i++) {
        image.click();
        await new Promise((r) => setTimeout(r, 0));
        const t0 = performance.now();
        training.click();
        canvas.getContext('2d').getImageData(0, 0, 1, 1);
        out.push(performance.now() - t0);
      }
      return out;
    }, RUNS);
    rows.push({ name: 'codebook view: 4096-bin overall + 10 per-scale histograms', ...stats(hist) });
    const one = await q.page.evaluate(async (runs) => {
      // Selecting a code redraws every histogram with the code marked.
      const out = [];
      const c = document.querySelector('.overall-histogram canvas');
      const b = c.getBoundingClientRect();
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        c.dispatchEvent(new MouseEvent('click', { clientX: b.left + (i % 50) + 0.5, clientY: b.bottom - 2, bubbles: true }));
        c.getContext('2d').getImageData(0, 0, 1, 1);
        out.push(performance.now() - t0);
      }
      return out;
    }, RUNS);
    rows.push({ name: 'click a 4096-bin histogram bar → code marked in all 11 histograms', ...stats(one) });
    await q.close();
  } finally {
    await browser.close();
  }
  const w = Math.max(...rows.map((r) => r.name.length));
  console.log(`${'benchmark'.padEnd(w)}  median ms   p90 ms   max ms   ≤${GOAL_MS} ms`);
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(w)}  ${r.median.toFixed(2).padStart(9)}  ${r.p90.toFixed(2).padStart(7)}  ${r.max.toFixed(2).padStart(7)}   ${r.median <= GOAL_MS ? 'yes' : 'NO'}`,
    );
  }
  console.log(`(${RUNS} runs each, headless Chromium ${browser.version()}, software rendering, devicePixelRatio 1)`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
