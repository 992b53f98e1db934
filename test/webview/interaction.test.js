// Step-through, teacher-forced, what-if, compare, export and the links between views.
'use strict';
/* global window, document */
const assert = require('assert');
const { canvasData, hexRgb } = require('./util');
const { THEMES } = require('./harness');

const rgb = (colors, id) => `rgb(${colors[id * 3]}, ${colors[id * 3 + 1]}, ${colors[id * 3 + 2]})`;

module.exports = (test) => {
  test('step-through: start with the chosen settings, step, back, jump, play to the end', async ({ open, rec }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.tab('stepThrough');
    await p.page.selectOption('.class-select', '3');
    await p.page.fill('.view-step input[aria-label=Seed]', '42');
    await p.page.fill('.view-step input[aria-label=CFG]', '2');
    await p.page.click('button.start');
    await p.page.waitForSelector('.step-row:not([hidden])');
    const start = p.calls.find((c) => c.method === 'generationStart');
    assert.deepStrictEqual(start.params.settings, { classId: 3, seed: 42, cfg: 2, topK: 900, topP: 0.96 });
    await p.page.click('button.step');
    await p.page.click('button.step');
    await p.page.waitForFunction(() => /Scale 3 of 10/.test(document.querySelector('.gen-status').textContent));
    const fills = await p.page.$$eval('.sampled .cell', (cs) => cs.map((c) => c.getAttribute('fill')));
    assert.deepStrictEqual(
      fills,
      Array.from(rec.generation[2].tokens, (t) => rgb(rec.model.codeColors, t)),
    );
    await p.page.click('button.back');
    await p.page.waitForFunction(() => /Scale 2 of 10/.test(document.querySelector('.gen-status').textContent));
    assert.strictEqual(await p.page.locator('.sampled .cell').count(), 4);
    await p.page.click('.jump >> text="16"');
    await p.page.waitForFunction(() => /Scale 10 of 10/.test(document.querySelector('.gen-status').textContent));
    assert.strictEqual(await p.page.locator('.sampled .cell').count(), 256);
    assert.strictEqual(await p.page.locator('.history-figure:not([hidden])').count(), 10);
    assert.match(
      await p.page.textContent('.top1-figure figcaption'),
      new RegExp(`mean ${(rec.generation[9].top1Prob.reduce((a, b) => a + b, 0) / 256).toFixed(3)}`),
    );
    await p.shot('step-through');
    // A step of a run that is no longer current is dropped.
    await p.emit('generationStep', { ...rec.generation[0], runId: 'stale-run', tokens: new Int32Array([0]) });
    assert.strictEqual(await p.page.locator('.sampled .cell').count(), 256);
    // Arrow keys move through the computed scales.
    await p.page.focus('.view-step .transport button.back');
    await p.page.keyboard.press('ArrowLeft');
    await p.page.waitForFunction(() => /Scale 9 of 10/.test(document.querySelector('.gen-status').textContent));
    assert.strictEqual(await p.page.locator('.sampled .cell').count(), 169);
    // Play from a fresh run reaches the last scale by itself.
    await p.page.click('button.start');
    await p.page.waitForFunction(() => /Scale 1 of 10/.test(document.querySelector('.gen-status').textContent));
    await p.page.click('button.play');
    await p.page.waitForFunction(() => /Scale 10 of 10/.test(document.querySelector('.gen-status').textContent), null, { timeout: 20000 });
    assert.strictEqual(await p.page.textContent('button.play'), 'Play');
  });

  test('teacher-forced: accuracy / NLL bars and correctness maps from the fixture logits', async ({ open, rec }) => {
    const p = await open({ theme: 'vscode-dark' });
    await p.page.waitForSelector('.token-grid');
    await p.tab('stepThrough');
    await p.page.click('.view-step .segmented button[data-value=teacher]');
    await p.page.selectOption('.eval-class', '3');
    await p.page.click('text=Evaluate');
    await p.page.waitForSelector('.correct-row');
    assert.strictEqual(p.calls.find((c) => c.method === 'evaluate').params.classId, 3);
    const caps = await p.page.$$eval('.correct-row figcaption', (cs) => cs.map((c) => c.textContent));
    rec.evaluate.scales.forEach((s, k) => assert.ok(caps[k].endsWith(`${(s.accuracy * 100).toFixed(1)}%`)));
    const good = hexRgb(THEMES['vscode-dark']['--vscode-charts-green']);
    const bad = hexRgb(THEMES['vscode-dark']['--vscode-errorForeground']);
    for (const k of [7, 9]) {
      const s = rec.evaluate.scales[k];
      const d = await canvasData(p.page, `.correct-row .scale-figure[data-scale="${k}"] canvas`);
      for (let pos = 0; pos < s.pn * s.pn; pos++) {
        const x = Math.floor((((pos % s.pn) + 0.5) / s.pn) * d.width),
          y = Math.floor(((Math.floor(pos / s.pn) + 0.5) / s.pn) * d.height);
        const o = (y * d.width + x) * 4;
        assert.deepStrictEqual(Array.from(d.data.slice(o, o + 3)), s.correct[pos] ? good : bad, `scale ${k} pos ${pos}`);
      }
    }
    assert.strictEqual(await p.page.locator('.view-step .teacher .chart .bar').count(), 30 + 2);
    // −log p(true token) maps on one scale shared by all scales: each cell matches the legend at its value.
    const nlls = rec.evaluate.scales.map((sc) => Array.from(sc.trueProb, (q) => -Math.log(q)));
    const lo = Math.min(...nlls.flat()),
      hi = Math.max(...nlls.flat());
    const legend = await canvasData(p.page, '.view-step .teacher .legend-bar');
    for (const k of [4, 9]) {
      const sc = rec.evaluate.scales[k];
      const d = await canvasData(p.page, `.tf-value-row .scale-figure[data-scale="${k}"] canvas`);
      for (const pos of [0, sc.pn + 1, sc.pn * sc.pn - 1]) {
        const x = Math.floor((((pos % sc.pn) + 0.5) / sc.pn) * d.width),
          y = Math.floor(((Math.floor(pos / sc.pn) + 0.5) / sc.pn) * d.height);
        const lx = Math.round(((nlls[k][pos] - lo) / (hi - lo)) * (legend.width - 1));
        const want = Array.from(legend.data.slice(lx * 4, lx * 4 + 3));
        const got = Array.from(d.data.slice((y * d.width + x) * 4, (y * d.width + x) * 4 + 3));
        assert.ok(
          got.every((v, i) => Math.abs(v - want[i]) <= 6),
          `scale ${k} pos ${pos}: ${got} vs ${want}`,
        );
      }
    }
    await p.shot('teacher-forced');
  });

  test('what-if: drag a region, set tokens, before / after pyramids mark the changed cells', async ({ open, rec }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.tab('whatIf');
    await p.page.selectOption('.edit-scale', '6');
    const box = await p.page.locator('.edit-grid .token-grid').boundingBox();
    const at = (r, c) => [box.x + ((c + 0.5) / 8) * box.width, box.y + ((r + 0.5) / 8) * box.height];
    await p.page.mouse.move(...at(0, 0));
    await p.page.mouse.down();
    await p.page.mouse.move(...at(1, 3));
    await p.page.mouse.up();
    assert.strictEqual(await p.page.locator('.edit-grid .cell.is-chosen').count(), 8);
    await p.page.fill('.edit-token', '7');
    await p.page.click('button.set-tokens');
    await p.page.waitForSelector('.pyramid-after');
    const call = p.calls.find((c) => c.method === 'edit');
    assert.deepStrictEqual(call.params.positions, [0, 1, 2, 3, 8, 9, 10, 11]);
    assert.deepStrictEqual(call.params.tokens, Array(8).fill(7));
    assert.strictEqual(call.params.scaleIndex, 6);
    const diffs = await p.page.$$eval('.pyramid-after .token-grid', (gs) => gs.map((g) => g.querySelectorAll('.is-different').length));
    const expected = rec.editResult.tokens.slice(6).map((t, i) => t.filter((v, j) => v !== rec.inspect.scales[6 + i].tokens[j]).length);
    assert.deepStrictEqual(diffs, expected);
    await p.shot('what-if');
  });

  test('compare: any number of models, agreement with A per scale and differing cells from the comparison event', async ({ open, rec }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.tab('compare');
    assert.match(await p.page.textContent('#panel-compare .placeholder'), /No comparison yet/);
    await p.page.click('text=Compare with other models…');
    assert.ok(p.calls.some((c) => c.method === 'runCommand' && c.params.command === 'varscope.compareModels'));
    await p.emitRecorded('comparison', 'comparison');
    await p.page.waitForSelector('.compare-c');
    const [a, ...others] = rec.comparison.models;
    assert.strictEqual(others.length, 2, 'the recording compares three models');
    const rowClasses = await p.page.$$eval('#panel-compare .compare-row', (rs) => rs.map((r) => r.className.match(/compare-[a-z]\b/)[0]));
    assert.deepStrictEqual(rowClasses, ['compare-a', 'compare-b', 'compare-c']);
    const agreementBars = await p.page.$$eval('#panel-compare svg.chart[aria-label="Token agreement with A per scale"] .series', (ss) =>
      ss.map((s) => Array.from(s.querySelectorAll('rect.bar title'), (t) => t.textContent)),
    );
    assert.deepStrictEqual(
      agreementBars.map((s) => s.length),
      [10, 10],
      'one agreement series per model other than A',
    );
    for (const [j, o] of others.entries()) {
      const letter = 'bc'[j];
      const caps = await p.page.$$eval(`.compare-${letter} figcaption`, (cs) => cs.map((c) => c.textContent));
      const diffs = await p.page.$$eval(`.compare-${letter} .token-grid`, (gs) =>
        gs.map((g) => g.querySelectorAll('.is-different').length),
      );
      a.inspect.scales.forEach((s, k) => {
        const n = s.tokens.filter((t, i) => t !== o.inspect.scales[k].tokens[i]).length;
        assert.strictEqual(diffs[k], n);
        const pct = ((1 - n / s.tokens.length) * 100).toFixed(0);
        assert.ok(caps[k].endsWith(`${pct}% same`));
        assert.ok(agreementBars[j][k].endsWith(`: ${pct}`), agreementBars[j][k]);
      });
    }
    const differing = (o) =>
      a.inspect.scales.reduce((n, s, k) => n + s.tokens.filter((t, i) => t !== o.inspect.scales[k].tokens[i]).length, 0);
    assert.ok(differing(others[1]) > differing(others[0]), 'C differs from A in more cells than B');
    // A's row outlines nothing: it is the reference
    assert.strictEqual(await p.page.$$eval('.compare-a .token-grid .is-different', (xs) => xs.length), 0);
    // teacher-forced accuracy per scale, one bar per model and scale, from the event's evaluations
    const bars = await p.page.$$eval('.compare-accuracy .series', (ss) =>
      ss.map((s) => Array.from(s.querySelectorAll('rect.bar title'), (t) => t.textContent)),
    );
    assert.deepStrictEqual(
      bars.map((s) => s.length),
      [10, 10, 10],
    );
    assert.ok(
      a.evaluation.scales.some((s, k) => s.accuracy !== others[0].evaluation.scales[k].accuracy),
      'the stand-in models must differ somewhere',
    );
    rec.comparison.models.forEach((m, side) =>
      m.evaluation.scales.forEach((s, k) => assert.ok(bars[side][k].endsWith(`: ${(s.accuracy * 100).toFixed(1)}`), bars[side][k])),
    );
    assert.deepStrictEqual(await p.page.$$eval('.compare-images figcaption', (cs) => cs.map((c) => c.textContent.split(':')[0])), [
      'A',
      'B',
      'C',
    ]);
    await p.shot('compare');
  });

  test('export: PNG, SVG and JSON of the active view go to saveExport', async ({ open, rec }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.page.click('button.export-json');
    await p.page.click('button.export-svg');
    await p.page.click('button.export-png');
    await p.page.waitForFunction(() => window.__fake.posted.filter((m) => m.method === 'saveExport').length === 3);
    await p.page.waitForTimeout(200);
    const saves = p.calls.filter((c) => c.method === 'saveExport');
    const json = saves.find((s) => s.params.mime === 'application/json');
    assert.strictEqual(json.params.suggestedName, 'varscope-pyramid.json');
    assert.deepStrictEqual(JSON.parse(json.params.data).tokens[3], Array.from(rec.inspect.scales[3].tokens));
    const svg = saves.find((s) => s.params.mime === 'image/svg+xml');
    assert.match(svg.params.data, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    // 680 cells of the pyramid plus the focused scale's large grid (scale 1: one cell).
    assert.strictEqual((svg.params.data.match(/class="cell[ "]/g) || []).length, 680 + 1);
    const png = saves.find((s) => s.params.mime === 'image/png');
    assert.ok(png.params.data instanceof Uint8Array);
    assert.deepStrictEqual(Array.from(png.params.data.slice(0, 8)), [137, 80, 78, 71, 13, 10, 26, 10]);
    // The host can ask for an export too.
    await p.emit('exportView', { format: 'json' });
    await p.page.waitForFunction(() => window.__fake.posted.filter((m) => m.method === 'saveExport').length === 4);
    // the hovered token's details go with the figure (its table, not only its heading); the host asks, so the
    // mouse stays on the token
    await p.page.hover('#panel-pyramid .pyramid-strip .token-grid[data-pn="16"] .cell[data-pos="17"]');
    await p.emit('exportView', { format: 'svg' });
    await p.page.waitForFunction(() => window.__fake.posted.filter((m) => m.method === 'saveExport').length === 5);
    const hoveredSvg = p.calls.filter((c) => c.method === 'saveExport')[4].params.data;
    const s9 = rec.inspect.scales[9];
    assert.ok(hoveredSvg.includes(`Token ${s9.tokens[17]}`), 'token heading in the SVG');
    assert.ok(hoveredSvg.includes('Quantization margin') && hoveredSvg.includes(s9.quantMargin[17].toFixed(4)), 'token details in the SVG');
  });

  test('hovering an image in the reconstruction view highlights the token in the pyramid and residual views', async ({ open, rec }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.tab('reconstruction');
    const box = await p.page.locator('.decoded-row .scale-figure[data-scale="2"] canvas').boundingBox();
    await p.page.mouse.move(box.x + box.width * 0.9, box.y + box.height * 0.1); // 3×3: row 0, col 2
    assert.strictEqual(await p.page.locator('.error-row .region-box:not([hidden])').count(), 10);
    await p.tab('residual');
    const boxStyle = await p.page.$eval('.residual-row .region-box', (b) => [b.hidden, b.style.left, b.style.width]);
    assert.strictEqual(boxStyle[0], false);
    assert.ok(Math.abs(parseFloat(boxStyle[1]) - 200 / 3) < 1e-3 && Math.abs(parseFloat(boxStyle[2]) - 100 / 3) < 1e-3, String(boxStyle));
    await p.tab('pyramid');
    assert.strictEqual(await p.page.getAttribute('.pyramid-strip .token-grid[data-pn="3"] .cell.is-hover', 'data-pos'), '2');
    void rec;
  });

  test('every view exports PNG, SVG and JSON without errors', async ({ open }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    const tabs = await p.page.$$eval('[role=tab]', (ts) => ts.map((t) => t.id.replace('tab-', '')));
    assert.strictEqual(tabs.length, 10);
    let n = 0;
    for (const id of tabs) {
      await p.tab(id);
      for (const fmt of ['png', 'svg', 'json']) {
        await p.page.click(`button.export-${fmt}`);
        n++;
        await p.page.waitForFunction((k) => window.__fake.posted.filter((m) => m.method === 'saveExport').length === k, n);
      }
    }
    await p.page.waitForTimeout(200);
    const saves = p.calls.filter((c) => c.method === 'saveExport');
    assert.strictEqual(saves.length, 30);
    for (const s of saves) {
      if (s.params.mime === 'image/png')
        assert.deepStrictEqual(Array.from(s.params.data.slice(0, 4)), [137, 80, 78, 71], s.params.suggestedName);
      else if (s.params.mime === 'image/svg+xml') assert.match(s.params.data, /^<svg/, s.params.suggestedName);
      else JSON.parse(s.params.data);
    }
    assert.strictEqual(await p.page.locator('.error').count(), 0);
  });
};
