// An Infinity model's Step-through (teacher-forced bits for the caption) and the caption control, from the official
// tensors of fixture B: its bits and its teacher-forced logits for caption 0 (fixtures/infinityEval.js).
/* global document */
'use strict';
const assert = require('assert');
require('./tsRequire');
const { infinityInspect, infinityModel, SCALES, BITS } = require('./fixtures/infinityInspect');
const { infinityEval } = require('./fixtures/infinityEval');

const BESIDE = '/workspace/img2.npy';

/** The panel on fixture B, with the features beside the image unless `beside` says otherwise. */
const openInfinity = (open, { beside = BESIDE, handlers = {} } = {}) =>
  open({
    init: { model: infinityModel(), captionBesideImage: beside },
    handlers: {
      inspect: async () => infinityInspect(),
      trainingUsage: async () => null,
      evaluateBits: async () => infinityEval(),
      ...handlers,
    },
  });

const pct = (v) => `${(v * 100).toFixed(1)}%`;

module.exports = (test) => {
  test('Step-through of an Infinity model: the caption found beside the image, no prompt without an encoder, Evaluate asks with it', async ({
    open,
  }) => {
    const p = await openInfinity(open);
    await p.page.waitForSelector('.view-bit-pyramid .token-grid');
    await p.tab('stepThrough');
    assert.strictEqual(await p.page.isHidden('#panel-stepThrough .segmented[aria-label="Mode"]'), true); // no generation yet
    assert.strictEqual(
      await p.page.textContent('#panel-stepThrough .caption-status'),
      'Caption: T5 features from img2.npy (found beside the image).',
    );
    assert.strictEqual(await p.page.isDisabled('#panel-stepThrough .caption-prompt'), true);
    assert.match(await p.page.textContent('#panel-stepThrough .caption-note'), /no text encoder/);
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
    const p = await openInfinity(open);
    await p.page.waitForSelector('.view-bit-pyramid .token-grid');
    await p.tab('stepThrough');
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
    const p = await openInfinity(open);
    await p.page.waitForSelector('.view-bit-pyramid .token-grid');
    await p.tab('stepThrough');
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

  test('the caption control: another features file replaces the caption and drops the old evaluation; none beside the image says how to give one', async ({
    open,
  }) => {
    const p = await openInfinity(open, { handlers: { chooseTextFeatures: async () => '/data/captions/cat.safetensors' } });
    await p.page.waitForSelector('.view-bit-pyramid .token-grid');
    await p.tab('stepThrough');
    await p.page.click('#panel-stepThrough .evaluate-bits');
    await p.page.waitForSelector('#panel-stepThrough .bit-scale-table tbody tr');
    await p.page.click('#panel-stepThrough .caption-file');
    await p.page.waitForFunction(() => /cat\.safetensors/.test(document.querySelector('#panel-stepThrough .caption-status').textContent));
    assert.strictEqual(await p.page.textContent('#panel-stepThrough .caption-status'), 'Caption: T5 features from cat.safetensors.');
    assert.strictEqual(await p.page.isHidden('#panel-stepThrough .teacher-bits > .section'), true); // the old caption's numbers are gone
    await p.page.click('#panel-stepThrough .evaluate-bits');
    await p.page.waitForSelector('#panel-stepThrough .bit-scale-table tbody tr');
    assert.deepStrictEqual(p.calls.filter((c) => c.method === 'evaluateBits').pop().params, {
      text: { featuresFile: '/data/captions/cat.safetensors' },
    });

    const q = await openInfinity(open, { beside: null });
    await q.page.waitForSelector('.view-bit-pyramid .token-grid');
    await q.tab('stepThrough');
    assert.strictEqual(
      await q.page.textContent('#panel-stepThrough .caption-status'),
      'No caption yet: choose its T5 features (.npy / .safetensors, [N, 256] floats); a file named as the image, beside it, is used by itself.',
    );
    assert.strictEqual(await q.page.isDisabled('#panel-stepThrough .evaluate-bits'), true);
    assert.match(await q.page.textContent('#panel-stepThrough .teacher-bits .placeholder'), /^Choose the caption above/);
  });
};
