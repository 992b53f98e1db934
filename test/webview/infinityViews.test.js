// An Infinity model's Step-through (teacher-forced bits for the caption) and the caption control, from the official
// tensors of fixture B: its bits and its teacher-forced logits for caption 0 (fixtures/infinityEval.js).
/* global document */
'use strict';
const assert = require('assert');
const path = require('path');
require('./tsRequire');
const { infinityInspect, infinityModel, SCALES, BITS } = require('./fixtures/infinityInspect');
const { infinityEval } = require('./fixtures/infinityEval');
const { infinitySteps } = require('./fixtures/infinityGeneration');
const { bitColor, bitProjection } = require(path.resolve(__dirname, '../../src/webview/geometry/bitColors.ts'));
const { sequentialLut } = require(path.resolve(__dirname, '../../src/webview/geometry/colorMaps.ts'));
const { BitUsageCounter } = require(path.resolve(__dirname, '../../src/engine/analysis/bitStats.ts'));

const BESIDE = '/workspace/img2.npy';

/** The panel on fixture B (or `model`), with the features beside the image unless `beside` says otherwise. */
const openInfinity = (open, { beside = BESIDE, model = infinityModel(), handlers = {} } = {}) =>
  open({
    init: { model, captionBesideImage: beside },
    handlers: {
      inspect: async () => infinityInspect(),
      trainingUsage: async () => null,
      evaluateBits: async () => infinityEval(),
      ...handlers,
    },
  });

/** The panel (as openInfinity opens it) on Step-through's teacher-forced bits. */
async function openTeacherBits(open, options) {
  const p = await openInfinity(open, options);
  await p.page.waitForSelector('.view-bit-pyramid .token-grid');
  await p.tab('stepThrough');
  await p.page.click('#panel-stepThrough .segmented button[data-value=teacher]');
  return p;
}

/** The bit usage of a folder of two images: the fixture's and its every bit flipped (new codes, mirrored balance). */
function folderUsage(options) {
  const r = infinityInspect();
  const counter = new BitUsageCounter(BITS, options);
  counter.add(
    r.scales.map((s) => s.bits),
    r.schedule,
  );
  counter.add(
    r.scales.map((s) => s.bits.map((b) => 1 - b)),
    r.schedule,
  );
  return counter.usage();
}

/** The Codebook view of the fixture image, then of a folder (the host's dialog, `usage` streamed in); the opened panel. */
async function countFolder(open, usage) {
  let p;
  p = await openInfinity(open, {
    handlers: {
      chooseImageFolder: async () => '/data/images',
      folderUsage: async ({ runId }) => {
        await p.emit('folderUsage', { runId, usage, done: 2, total: 2, finished: true });
        return { images: 2, failed: 0, cancelled: false };
      },
    },
  });
  await p.page.waitForSelector('.view-bit-pyramid .token-grid');
  await p.tab('codebook');
  await p.page.waitForSelector('#panel-codebook .bit-usage-table tbody tr');
  await p.page.click('#panel-codebook .count-folder');
  await p.page.waitForFunction(() => document.querySelector('#panel-codebook .stat-images .stat-value').textContent === '2');
  return p;
}

const pct = (v) => `${(v * 100).toFixed(1)}%`;

module.exports = (test) => {
  test('Step-through of an Infinity model: the caption found beside the image, no prompt without an encoder, Evaluate asks with it', async ({
    open,
  }) => {
    const p = await openTeacherBits(open);
    assert.strictEqual(
      await p.page.textContent('#panel-stepThrough .teacher-bits .caption-status'),
      'Caption: T5 features from img2.npy (found beside the image).',
    );
    assert.strictEqual(await p.page.isDisabled('#panel-stepThrough .teacher-bits .caption-prompt'), true);
    assert.match(await p.page.textContent('#panel-stepThrough .teacher-bits .caption-note'), /no text encoder/);
    assert.match(await p.page.textContent('#panel-stepThrough .teacher-bits .placeholder'), /^Press Evaluate/);
    await p.page.click('#panel-stepThrough .evaluate-bits');
    await p.page.waitForSelector('#panel-stepThrough .bit-scale-table tbody tr');
    assert.deepStrictEqual(
      p.calls.filter((c) => c.method === 'evaluateBits').map((c) => c.params),
      [{ text: { featuresFile: BESIDE } }],
    );
    // The state the host keeps (and restores after a reload) holds the caption.
    const saved = p.calls.filter((c) => c.method === 'saveState').pop();
    assert.deepStrictEqual(saved.params.caption, { featuresFile: BESIDE });
  });

  test('teacher-forced bits: headline, both charts and the table show each accuracy beside its two baselines', async ({ open }) => {
    const p = await openTeacherBits(open);
    await p.page.click('#panel-stepThrough .evaluate-bits');
    await p.page.waitForSelector('#panel-stepThrough .bit-scale-table tbody tr');
    const e = infinityEval();
    const stat = (cls) => p.page.textContent(`#panel-stepThrough .${cls} .stat-value`);
    assert.strictEqual(await stat('stat-bit-accuracy'), pct(e.overall.bitAccuracy));
    assert.strictEqual(await stat('stat-token-accuracy'), pct(e.overall.tokenAccuracy));
    assert.strictEqual(await stat('stat-caption-tokens'), '7');
    assert.strictEqual(await stat('stat-bits'), String(BITS));
    const rows = await p.page.$$eval('#panel-stepThrough .bit-scale-table tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
    );
    const copy = (s, key) => (s.copyCoarserBaseline ? pct(s.copyCoarserBaseline[key]) : '–');
    assert.deepStrictEqual(
      rows,
      e.scales.map((s, k) => [
        `k=${k + 1} · ${s.h}×${s.w}`,
        String(s.h * s.w),
        pct(s.bitAccuracy),
        pct(s.majorityBaseline.bitAccuracy),
        copy(s, 'bitAccuracy'),
        pct(s.tokenAccuracy),
        pct(s.majorityBaseline.tokenAccuracy),
        copy(s, 'tokenAccuracy'),
      ]),
    );
    for (const [chart, key] of [
      ['bit-accuracy-chart', 'bitAccuracy'],
      ['token-accuracy-chart', 'tokenAccuracy'],
    ]) {
      const titles = await p.page.$$eval(`#panel-stepThrough .${chart} rect.bar title`, (ts) => ts.map((t) => t.textContent));
      const want = [];
      for (const [name, value] of [
        ['model (argmax)', (s) => s[key]],
        ['majority per bit', (s) => s.majorityBaseline[key]],
        ['copy coarser', (s) => s.copyCoarserBaseline?.[key]],
      ])
        e.scales.forEach((s) => {
          if (value(s) !== undefined) want.push(`${name} at ${s.h}×${s.w}: ${(value(s) * 100).toFixed(1)}`);
        });
      assert.deepStrictEqual(titles, want, chart);
    }
  });

  test('teacher-forced bits: a map of wrong bits per token per scale (h×w, 0 … 32 on one scale); hover names the count', async ({
    open,
  }) => {
    const p = await openTeacherBits(open);
    await p.page.click('#panel-stepThrough .evaluate-bits');
    await p.page.waitForSelector('#panel-stepThrough .wrong-bits-row canvas');
    const e = infinityEval();
    const maps = await p.page.$$eval('#panel-stepThrough .wrong-bits-row figure', (fs) =>
      fs.map((f) => ({ caption: f.querySelector('figcaption').textContent, max: f.querySelector('canvas').dataset.max })),
    );
    assert.deepStrictEqual(
      maps,
      e.scales.map((s, k) => ({ caption: `k=${k + 1} · ${s.h}×${s.w} · ${pct(s.tokenAccuracy)} right`, max: String(BITS) })),
    );
    // Token (row 4, col 3) of the 6×8 scale.
    const canvas = p.page.locator('#panel-stepThrough .wrong-bits-row figure[data-scale="3"] canvas');
    const box = await canvas.boundingBox();
    await p.page.mouse.move(box.x + box.width * (3.5 / 8), box.y + box.height * (4.5 / 6));
    const pos = 4 * 8 + 3;
    const wrong = e.scales[3].wrongBits[pos];
    let expected = 0;
    for (let j = 0; j < BITS; j++) expected += e.scales[3].correct[pos * BITS + j] ? 0 : 1;
    assert.strictEqual(wrong, expected);
    await p.page.waitForFunction(
      (w) => document.querySelector('#panel-stepThrough .wrong-bits-info').textContent.includes(`${w} of`),
      wrong,
    );
    assert.strictEqual(
      await p.page.textContent('#panel-stepThrough .wrong-bits-info'),
      `k=4 · 6×8, row 4, col 3: ${wrong} of ${BITS} bits wrong`,
    );
    // Two tokens with different counts get different colours; equal counts, equal colours.
    const pixel = (k, pos) =>
      p.page.$eval(
        `#panel-stepThrough .wrong-bits-row figure[data-scale="${k}"] canvas`,
        (c, [pos, w, h]) => {
          const x = Math.floor(((pos % w) + 0.5) * (c.width / w));
          const y = Math.floor((Math.floor(pos / w) + 0.5) * (c.height / h));
          return Array.from(c.getContext('2d').getImageData(x, y, 1, 1).data).join(',');
        },
        [pos, SCALES[k][1], SCALES[k][0]],
      );
    const last = e.scales[6].wrongBits;
    const lo = last.indexOf(Math.min(...last));
    const hi = last.indexOf(Math.max(...last));
    assert.notStrictEqual(await pixel(6, lo), await pixel(6, hi));
    const twin = last.findIndex((v, i) => i !== lo && v === last[lo]);
    if (twin >= 0) assert.strictEqual(await pixel(6, twin), await pixel(6, lo));
    await p.shot('infinity-teacher-forced');
  });

  test('the caption control with a text encoder: a typed prompt becomes the caption, Evaluate sends it', async ({ open }) => {
    const p = await openTeacherBits(open, { beside: null, model: { ...infinityModel(), textEncoder: true } });
    assert.strictEqual(await p.page.isDisabled('#panel-stepThrough .teacher-bits .caption-prompt'), false);
    assert.strictEqual(await p.page.isHidden('#panel-stepThrough .teacher-bits .caption-note'), true);
    await p.page.fill('#panel-stepThrough .teacher-bits .caption-prompt', '  a red circle beside stripes ');
    await p.page.press('#panel-stepThrough .teacher-bits .caption-prompt', 'Enter');
    assert.strictEqual(
      await p.page.textContent('#panel-stepThrough .teacher-bits .caption-status'),
      'Caption: the prompt “a red circle beside stripes”.',
    );
    await p.page.click('#panel-stepThrough .evaluate-bits');
    await p.page.waitForSelector('#panel-stepThrough .bit-scale-table tbody tr');
    assert.deepStrictEqual(p.calls.find((c) => c.method === 'evaluateBits').params, { text: { prompt: 'a red circle beside stripes' } });
  });

  test('the caption control: another features file replaces the caption and drops the old evaluation; none beside the image says how to give one', async ({
    open,
  }) => {
    const p = await openTeacherBits(open, { handlers: { chooseTextFeatures: async () => '/data/captions/cat.safetensors' } });
    await p.page.click('#panel-stepThrough .evaluate-bits');
    await p.page.waitForSelector('#panel-stepThrough .bit-scale-table tbody tr');
    await p.page.click('#panel-stepThrough .teacher-bits .caption-file');
    await p.page.waitForFunction(() =>
      /cat\.safetensors/.test(document.querySelector('#panel-stepThrough .teacher-bits .caption-status').textContent),
    );
    assert.strictEqual(
      await p.page.textContent('#panel-stepThrough .teacher-bits .caption-status'),
      'Caption: T5 features from cat.safetensors.',
    );
    assert.strictEqual(await p.page.isHidden('#panel-stepThrough .teacher-bits > .section'), true); // the old caption's numbers are gone
    await p.page.click('#panel-stepThrough .evaluate-bits');
    await p.page.waitForSelector('#panel-stepThrough .bit-scale-table tbody tr');
    assert.deepStrictEqual(p.calls.filter((c) => c.method === 'evaluateBits').pop().params, {
      text: { featuresFile: '/data/captions/cat.safetensors' },
    });

    const q = await openTeacherBits(open, { beside: null });
    assert.strictEqual(
      await q.page.textContent('#panel-stepThrough .teacher-bits .caption-status'),
      'No caption yet: choose its T5 features (.npy / .safetensors, [N, 256] floats); a file named as the image, beside it, is used by itself.',
    );
    assert.strictEqual(await q.page.isDisabled('#panel-stepThrough .evaluate-bits'), true);
    assert.match(await q.page.textContent('#panel-stepThrough .teacher-bits .placeholder'), /^Choose the caption above/);
  });

  test('Infinity generation: the form starts from the model (CFG and tau per scale), Start sends the caption and the lists, steps grow the bit pyramid', async ({
    open,
  }) => {
    const steps = infinitySteps('run-1');
    let reported = -1;
    const p = await openInfinity(open, {
      handlers: {
        generationStart: async () => ({ runId: 'run-1' }),
        // as the engine: every scale computed on the way is also a generationStep event
        generationStep: async ({ scaleIndex }) => {
          for (let k = reported + 1; k < scaleIndex; k++) await p.emit('generationStep', steps[k]);
          reported = Math.max(reported, scaleIndex);
          return steps[scaleIndex];
        },
        cancel: async () => undefined,
      },
    });
    await p.page.waitForSelector('.view-bit-pyramid .token-grid');
    await p.tab('stepThrough');
    const gen = '#panel-stepThrough .generate-bits';
    assert.strictEqual(await p.page.isVisible(`${gen} .cfg-list`), true); // Generate is the first mode
    assert.strictEqual(await p.page.inputValue(`${gen} .cfg-list`), '4, 4, 4, 4, 4, 4, 4');
    assert.strictEqual(await p.page.inputValue(`${gen} .tau-list`), '0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5');
    assert.strictEqual(await p.page.textContent(`${gen} .caption-status`), 'Caption: T5 features from img2.npy (found beside the image).');
    // A malformed list is refused in the panel, in one line, and nothing goes to the host.
    await p.page.fill(`${gen} .cfg-list`, '1, , 2');
    await p.page.click(`${gen} .start`);
    await p.page.waitForSelector(`${gen} .gen-status.is-error`);
    assert.strictEqual(await p.page.textContent(`${gen} .gen-status`), 'BadRequest: cfgList has 3 values, the schedule has 7 scales');
    await p.page.fill(`${gen} .cfg-list`, '1, 1.5, 2, 2.5, 3, 3, 3');
    await p.page.fill(`${gen} .seed`, '7');
    await p.page.click(`${gen} .start`);
    await p.page.waitForSelector(`${gen} .pyramid-strip .token-grid`);
    // The form's settings: what Start sends (with the caption) and what the host keeps for a reload.
    const form = {
      hDivW: 0.75,
      seed: 7,
      cfgList: [1, 1.5, 2, 2.5, 3, 3, 3],
      tauList: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
      topK: 900,
      topP: 0.97,
    };
    assert.deepStrictEqual(
      p.calls.filter((c) => c.method === 'generationStart').map((c) => c.params),
      [{ settings: { family: 'infinity', text: { featuresFile: BESIDE }, ...form } }],
    );
    // the state the host keeps for a reload holds the form
    const savedForm = () => p.calls.filter((c) => c.method === 'saveState' && c.params.bitGeneration).pop()?.params.bitGeneration;
    for (let i = 0; i < 50 && !savedForm(); i++) await p.page.waitForTimeout(100);
    assert.deepStrictEqual(savedForm(), form);
    const grids = () =>
      p.page.$$eval(`${gen} .pyramid-strip .token-grid`, (gs) =>
        gs.map((g) => ({
          h: +g.getAttribute('data-rows'),
          w: +g.getAttribute('data-pn'),
          fills: [...g.querySelectorAll('.cell')].map((c) => c.getAttribute('fill')),
        })),
      );
    assert.deepStrictEqual(
      (await grids()).map((g) => [g.h, g.w]),
      [SCALES[0]],
    );
    await p.page.click(`${gen} .step`);
    await p.page.click(`${gen} .jump[aria-label="Jump to scale 4 (6×8)"]`);
    await p.page.waitForFunction((sel) => document.querySelectorAll(`${sel} .pyramid-strip .token-grid`).length === 4, gen);
    assert.match(await p.page.textContent(`${gen} .gen-status`), /^Scale 4 of 7 · seed 7, CFG 1\/1.5\/2\/2.5\/3\/3\/3, tau 0.5\/0.5/);
    const shown = await grids();
    const projection = bitProjection(BITS);
    shown.forEach((g, k) => {
      assert.deepStrictEqual([g.h, g.w], SCALES[k]);
      g.fills.forEach((f, i) => {
        const [R, G, B] = bitColor(steps[k].bits, i, BITS, projection);
        assert.strictEqual(f, `rgb(${R}, ${G}, ${B})`, `scale ${k} cell ${i}`);
      });
    });
    assert.strictEqual(await p.page.textContent(`${gen} .entropy-figure figcaption`), 'Entropy of each token’s bits · k=4 · 6×8');
    // the image so far at the schedule's aspect (3:4), the entropy map at the scale's (6×8)
    const size = (cls) => p.page.$eval(`${gen} .${cls} .figure-frame`, (f) => [f.clientWidth, f.clientHeight]);
    assert.deepStrictEqual(await size('image-figure'), [200, 150]);
    assert.deepStrictEqual(await size('entropy-figure'), [150, 113]);
    assert.strictEqual(await p.page.isVisible(`${gen} .entropy-figure .legend`), true);
    // back: the pyramid shrinks to the scale on screen, nothing is asked of the host
    const asked = p.calls.filter((c) => c.method === 'generationStep').length;
    await p.page.click(`${gen} .back`);
    await p.page.waitForFunction((sel) => document.querySelectorAll(`${sel} .pyramid-strip .token-grid`).length === 3, gen);
    assert.strictEqual(p.calls.filter((c) => c.method === 'generationStep').length, asked);
    await p.page.click(`${gen} .jump[aria-label="Jump to scale 7 (15×20)"]`);
    await p.page.waitForFunction((sel) => document.querySelectorAll(`${sel} .pyramid-strip .token-grid`).length === 7, gen);
    assert.strictEqual(await p.page.isDisabled(`${gen} .step`), true);
    await p.shot('infinity-generate');
  });

  test('Codebook of an Infinity model, this image: different codes, bit entropy, the table, and each bit’s balance per scale', async ({
    open,
  }) => {
    const p = await openInfinity(open);
    await p.page.waitForSelector('.view-bit-pyramid .token-grid');
    await p.tab('codebook');
    await p.page.waitForSelector('#panel-codebook .bit-usage-table tbody tr');
    const u = infinityInspect().usage;
    const stat = (cls) => p.page.textContent(`#panel-codebook .${cls} .stat-value`);
    assert.strictEqual(await stat('stat-distinct'), '665 of 665 tokens');
    assert.strictEqual(await stat('stat-possible'), '2^32 = 4.29e+9');
    assert.strictEqual(await stat('stat-images'), '1');
    const mean = (a) => Array.from(a).reduce((x, y) => x + y, 0) / a.length;
    assert.strictEqual(await stat('stat-entropy'), mean(u.perScale.map((s) => mean(s.entropy))).toFixed(3));
    const rows = await p.page.$$eval('#panel-codebook .bit-usage-table tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
    );
    assert.deepStrictEqual(
      rows,
      u.perScale.map((s, k) => [
        `k=${k + 1} · ${SCALES[k][0]}×${SCALES[k][1]}`,
        String(s.tokens),
        String(s.distinct),
        `${((100 * s.distinct) / s.tokens).toFixed(1)}%`,
        `${((100 * s.distinct) / 2 ** 32).toExponential(1)}%`,
        mean(s.entropy).toFixed(3),
        Math.min(...s.entropy).toFixed(3),
        String(Array.from(s.entropy).filter((h) => h === 0).length),
      ]),
    );
    // Scale 1 is one token: one code of one, every bit constant (entropy 0); the 15×20 scale: 300 codes of 300.
    assert.deepStrictEqual(rows[0].slice(2, 4).concat(rows[0][7]), ['1', '100.0%', '32']);
    assert.deepStrictEqual(rows[6].slice(1, 4), ['300', '300', '100.0%']);
    const bars = await p.page.$$eval('#panel-codebook .entropy-chart rect.bar title', (ts) => ts.map((t) => t.textContent));
    assert.deepStrictEqual(bars, [
      ...u.perScale.map((s, k) => `mean over the bits at ${SCALES[k][0]}×${SCALES[k][1]}: ${mean(s.entropy).toFixed(2)}`),
      ...u.perScale.map((s, k) => `lowest bit at ${SCALES[k][0]}×${SCALES[k][1]}: ${Math.min(...s.entropy).toFixed(2)}`),
    ]);
    // The balance grid: 7 rows × 32 columns, each cell the colour map at its fraction of ones.
    const grid = await p.page.$eval('#panel-codebook .balance-grid canvas', (c) => [parseFloat(c.style.width), parseFloat(c.style.height)]);
    assert.deepStrictEqual(grid, [12 * 32, 18 * 7]); // 12 px a bit: two 400 px grids share a row
    const labels = await p.page.$$eval('#panel-codebook .balance-grid .bit-grid-labels span', (ss) => ss.map((x) => x.textContent));
    assert.deepStrictEqual(
      labels,
      SCALES.map(([h, w], k) => `k=${k + 1} · ${h}×${w}`),
    );
    const lut = sequentialLut();
    for (const [k, j] of [
      [3, 0],
      [6, 5],
      [6, 31],
    ]) {
      const px = await p.page.$eval(
        '#panel-codebook .balance-grid canvas',
        (c, [k, j]) =>
          Array.from(
            c.getContext('2d').getImageData(Math.floor((j + 0.5) * (c.width / 32)), Math.floor((k + 0.5) * (c.height / 7)), 1, 1).data,
          ),
        [k, j],
      );
      const t = Math.round(u.perScale[k].balance[j] * 255);
      assert.deepStrictEqual(px, [lut[t * 3], lut[t * 3 + 1], lut[t * 3 + 2], 255], `scale ${k} bit ${j}`);
    }
    const box = await p.page.locator('#panel-codebook .balance-grid canvas').boundingBox();
    await p.page.mouse.move(box.x + box.width * (5.5 / 32), box.y + box.height * (6.5 / 7));
    const s6 = u.perScale[6];
    await p.page.waitForFunction(() => /bit 5:/.test(document.querySelector('#panel-codebook .bit-info').textContent));
    assert.strictEqual(
      await p.page.textContent('#panel-codebook .bit-info'),
      `k=7 · 15×20, bit 5: ${((100 * s6.ones[5]) / 300).toFixed(1)}% ones (${s6.ones[5]} of 300 tokens), entropy ${s6.entropy[5].toFixed(3)} bits`,
    );
    await p.shot('infinity-codebook');
  });

  test('Codebook of an Infinity model, a folder: the host’s folder dialog, the counts streamed in, back to the image', async ({ open }) => {
    const folder = folderUsage();
    const p = await countFolder(open, folder);
    const call = p.calls.find((c) => c.method === 'folderUsage');
    assert.strictEqual(call.params.folder, '/data/images');
    assert.match(call.params.runId, /^folder-/);
    assert.strictEqual(await p.page.getAttribute('#panel-codebook .segmented button[data-value="folder"]', 'aria-pressed'), 'true');
    assert.strictEqual(await p.page.textContent('#panel-codebook .folder-status'), 'folder: 2/2 images');
    assert.strictEqual(await p.page.textContent('#panel-codebook .stat-distinct .stat-value'), `${folder.distinct} of 1330 tokens`);
    const rows = await p.page.$$eval('#panel-codebook .bit-usage-table tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent)),
    );
    assert.deepStrictEqual(
      rows,
      folder.perScale.map((s, k) => [`k=${k + 1} · ${SCALES[k][0]}×${SCALES[k][1]}`, String(s.tokens), String(s.distinct)]),
    );
    // Every bit is as often 1 as 0 over an image and its flip: balance 0.5, entropy 1 bit.
    assert.ok(folder.perScale.every((s) => s.balance.every((b) => b === 0.5) && s.entropy.every((h) => h === 1)));
    await p.page.click('#panel-codebook .segmented button[data-value="image"]');
    await p.page.waitForFunction(() => document.querySelector('#panel-codebook .stat-images .stat-value').textContent === '1');
    assert.strictEqual(await p.page.textContent('#panel-codebook .stat-distinct .stat-value'), '665 of 665 tokens');
  });

  test('Codebook of an Infinity model, a folder with more different codes than the counter keeps: "≥ N"', async ({ open }) => {
    const exact = folderUsage();
    const cap = 400;
    const capped = folderUsage({ distinctCap: cap });
    const p = await countFolder(open, capped);
    assert.strictEqual(await p.page.textContent('#panel-codebook .stat-distinct .stat-value'), `≥ ${cap} of 1330 tokens`);
    const rows = await p.page.$$eval('#panel-codebook .bit-usage-table tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].slice(1, 4).map((td) => td.textContent)),
    );
    // Scales with more different codes than the cap say "≥ cap"; the others keep their exact counts.
    assert.deepStrictEqual(
      rows,
      exact.perScale.map((s) =>
        s.distinct > cap
          ? [String(s.tokens), `≥ ${cap}`, `≥ ${((100 * cap) / s.tokens).toFixed(1)}%`]
          : [String(s.tokens), String(s.distinct), `${((100 * s.distinct) / s.tokens).toFixed(1)}%`],
      ),
    );
    assert.ok(exact.perScale.some((s) => s.distinct > cap) && exact.perScale.some((s) => s.distinct <= cap));
  });
};
