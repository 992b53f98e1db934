// The What-if view of an Infinity model (fixture B): Generate original asks for an edit of nothing with the caption
// and Step-through's settings; clicked tokens and the bits to flip go into the request; the edited pyramid outlines
// the tokens that differ, the chart draws the per-scale disagreement of the result; a bad edit is refused in place.
'use strict';
const assert = require('assert');
const { infinityInspect, infinityModel, SCALES } = require('./fixtures/infinityInspect');
const { infinityEdit } = require('./fixtures/infinityEdit');

const BESIDE = '/workspace/img2.npy';
const K = SCALES.length;

const openInfinity = (open) =>
  open({
    init: { model: infinityModel(), captionBesideImage: BESIDE },
    handlers: { inspect: async () => infinityInspect(), trainingUsage: async () => null, edit: async (req) => infinityEdit(req) },
  });

const edits = (p) => p.calls.filter((c) => c.method === 'edit').map((c) => c.params);

module.exports = (test) => {
  test('Infinity what-if: generate the original, choose tokens, flip bits; both pyramids, the differing tokens and the chart as the result', async ({
    open,
  }) => {
    const p = await openInfinity(open);
    await p.page.waitForSelector('.view-bit-pyramid .token-grid');
    await p.tab('whatIf');
    await p.page.fill('#panel-whatIf .edit-seed', '3');
    await p.page.click('#panel-whatIf .edit-generate');
    await p.page.waitForSelector('#panel-whatIf .edit-original svg.token-grid');
    const settings = {
      hDivW: 0.75,
      seed: 3,
      cfgList: new Array(K).fill(4),
      tauList: new Array(K).fill(0.5),
      topK: 900,
      topP: 0.97,
      family: 'infinity',
      text: { featuresFile: BESIDE },
    };
    assert.deepStrictEqual(edits(p), [{ family: 'infinity', settings, scaleIndex: 0, positions: [], change: { flip: [0] } }]);
    assert.strictEqual(
      await p.page.textContent('#panel-whatIf .edit-status'),
      'The original generation: choose tokens at a scale, then flip bits or resample.',
    );

    // scale 3 (6×8): tokens 0 and 13, bits 1 and 4
    await p.page.selectOption('#panel-whatIf .edit-scale', '3');
    await p.page.click('#panel-whatIf .edit-grid rect.cell[data-pos="0"]');
    await p.page.click('#panel-whatIf .edit-grid rect.cell[data-pos="13"]');
    assert.deepStrictEqual(
      await p.page.$$eval('#panel-whatIf .edit-grid rect.cell.is-chosen', (cs) => cs.map((c) => Number(c.dataset.pos))),
      [0, 13],
    );
    await p.page.fill('#panel-whatIf .edit-flip', '1, 4');
    await p.page.click('#panel-whatIf .edit-flip-run');
    await p.page.waitForFunction(() => /^Edited/.test(document.querySelector('#panel-whatIf .edit-status').textContent));
    const req = edits(p)[1];
    assert.deepStrictEqual([req.scaleIndex, req.positions, req.change], [3, [0, 13], { flip: [1, 4] }]);
    const r = infinityEdit(req);
    const last = r.disagreement[K - 1];
    assert.strictEqual(
      await p.page.textContent('#panel-whatIf .edit-status'),
      `Edited 2 tokens at k=4 · 6×8 (flip bits 1, 4): at the finest scale ${(last.tokens * 100).toFixed(1)} % of tokens and ${(last.bits * 100).toFixed(1)} % of bits differ from the original.`,
    );
    // the edited pyramid outlines the tokens that differ: the two edited ones at scale 3, every third one below
    const differing = (k) =>
      p.page.$$eval(`#panel-whatIf .edit-edited figure[data-scale="${k}"] rect.cell.is-different`, (cs) =>
        cs.map((c) => Number(c.dataset.pos)),
      );
    assert.deepStrictEqual(await differing(3), [0, 13]);
    assert.deepStrictEqual(await differing(2), []);
    const [h, w] = SCALES[4];
    assert.deepStrictEqual(
      await differing(4),
      Array.from({ length: Math.ceil((h * w) / 3) }, (_, i) => 3 * i),
    );
    assert.strictEqual(await p.page.locator('#panel-whatIf .edit-original svg.token-grid').count(), K);
    // the chart: tokens and bits per scale, in percent
    for (const [cls, key] of [
      ['c0', 'tokens'],
      ['c1', 'bits'],
    ]) {
      const titles = await p.page.$$eval(`#panel-whatIf .chart-edit-disagreement .series.${cls} circle.dot title`, (ts) =>
        ts.map((t) => t.textContent),
      );
      assert.strictEqual(titles.length, K);
      titles.forEach((t, k) => assert.ok(Math.abs(Number(t.split(': ')[1]) - r.disagreement[k][key] * 100) <= 0.051, `${key} ${k}: ${t}`));
    }
    assert.deepStrictEqual(p.pageErrors, []);
    await p.shot('infinity-what-if');
  });

  test('Infinity what-if: a bit outside the token, or no bits, is refused in place without asking the host', async ({ open }) => {
    const p = await openInfinity(open);
    await p.page.waitForSelector('.view-bit-pyramid .token-grid');
    await p.tab('whatIf');
    await p.page.click('#panel-whatIf .edit-generate');
    await p.page.waitForSelector('#panel-whatIf .edit-original svg.token-grid');
    await p.page.selectOption('#panel-whatIf .edit-scale', '2');
    await p.page.click('#panel-whatIf .edit-grid rect.cell[data-pos="5"]');
    for (const value of ['32', '', 'x']) {
      await p.page.fill('#panel-whatIf .edit-flip', value);
      await p.page.click('#panel-whatIf .edit-flip-run');
      assert.strictEqual(await p.page.textContent('#panel-whatIf .edit-status'), 'flip must list bits of a token (0..31), at least one');
    }
    assert.strictEqual(edits(p).length, 1);
    assert.deepStrictEqual(p.pageErrors, []);
  });
};
