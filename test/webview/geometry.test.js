// Pure geometry of the views (no browser): scales, regions, masks, histograms, colour maps.
'use strict';
const assert = require('assert');
const path = require('path');
require('./tsRequire');

const G = path.resolve(__dirname, '../../src/webview/geometry');
const scales = require(path.join(G, 'scales.ts'));
const mask = require(path.join(G, 'mask.ts'));
const hist = require(path.join(G, 'histogram.ts'));
const colors = require(path.join(G, 'colorMaps.ts'));
const labels = require(path.join(G, 'labels.ts'));

module.exports = (test) => {
  test('end labels of curves: apart by the gap, order kept, centred on where they wanted to be; apart labels stay', async () => {
    assert.deepStrictEqual(labels.spreadLabels([50, 100, 10], 11), [50, 100, 10]); // already apart: unchanged
    // three labels wanted at 40, 42 and 41 (given out of order): 40, 51, 62 before centring, then up by (62 - 42) / 2
    assert.deepStrictEqual(labels.spreadLabels([40, 42, 41], 11), [30, 52, 41]);
    const ys = labels.spreadLabels([5, 5, 5, 5], 10);
    assert.deepStrictEqual(
      [...ys].sort((a, b) => a - b).map((y, i, a) => (i ? y - a[i - 1] : 0)),
      [0, 10, 10, 10],
    );
    assert.deepStrictEqual(labels.spreadLabels([], 10), []);
  });
  test('beginEnds and scale lookup match the official layout; the block-causal rule reproduces attn_mask.npy', async ({ rec }) => {
    const be = scales.beginEndsOf(rec.model.patchNums);
    assert.deepStrictEqual(be, rec.model.beginEnds);
    const L = 680;
    const scaleOf = mask.scaleIndexArray(be);
    let bad = 0;
    for (let q = 0; q < L; q++) {
      assert.strictEqual(scales.scaleOfIndex(be, q), scaleOf[q]);
      const t = scales.tokenOfIndex(be, q);
      assert.strictEqual(scales.indexOfToken(be, t), q);
      assert.strictEqual(mask.visibleKeyEnd(be, q), be[scaleOf[q]][1]);
      for (let k = 0; k < L; k++) if (mask.blockCausalVisible(scaleOf, q, k) !== (rec.attnMask[q * L + k] === 1)) bad++;
    }
    assert.strictEqual(bad, 0);
    assert.deepStrictEqual(mask.stepCounts(rec.model.patchNums), { var: 10, raster: 256 });
  });

  test('regions: a token covers 1/pn of the image; overlapping positions across scales', async () => {
    assert.deepStrictEqual(scales.regionOf(4, 9), { x0: 0.25, y0: 0.5, x1: 0.5, y1: 0.75 });
    assert.deepStrictEqual(
      scales.positionsOverlapping(16, scales.regionOf(4, 9)),
      [132, 133, 134, 135, 148, 149, 150, 151, 164, 165, 166, 167, 180, 181, 182, 183],
    );
    assert.deepStrictEqual(scales.positionsOverlapping(3, scales.regionOf(4, 9)), [3, 4, 6, 7]);
    assert.deepStrictEqual(scales.positionsOverlapping(1, scales.regionOf(16, 255)), [0]);
    assert.strictEqual(scales.positionAt(13, 104, 103.9, 0), 12);
    assert.strictEqual(scales.positionAt(13, 104, 104, 0), -1);
    assert.deepStrictEqual(scales.cellRect(8, 10, 80), { x: 20, y: 10, w: 10, h: 10 });
  });

  test('rank-frequency: the packed integer sort equals a comparator sort; dead codes and perplexity', async ({ rec }) => {
    const counts = rec.inspect.codebook.overall;
    const rf = hist.rankFrequency(counts);
    const ids = Array.from({ length: counts.length }, (_, i) => i).sort((a, b) => counts[b] - counts[a] || a - b);
    assert.deepStrictEqual(Array.from(rf.ids), ids);
    assert.deepStrictEqual(
      Array.from(rf.counts),
      ids.map((i) => counts[i]),
    );
    // Non-integer counts (EMA hit counts) take the comparator path and agree too.
    const f = Float64Array.from(counts, (c, i) => c + (i % 3) * 0.25);
    const rf2 = hist.rankFrequency(f);
    assert.deepStrictEqual(
      Array.from(rf2.ids),
      Array.from({ length: f.length }, (_, i) => i).sort((a, b) => f[b] - f[a] || a - b),
    );
    assert.strictEqual(hist.deadCodes([0, 3, 0, 1]), 2);
    assert.ok(Math.abs(hist.perplexityOf([1, 1, 1, 1]) - 4) < 1e-12);
    assert.ok(Math.abs(hist.perplexityOf(counts) - rec.inspect.codebook.perplexity) < 1e-9);
    const bars = hist.logBars([99, 9, 0], 30, 100, 99);
    assert.deepStrictEqual(
      bars.map((b) => [b.x, b.w, Math.round(b.h)]),
      [
        [0, 10, 100],
        [10, 10, 50],
        [20, 10, 0],
      ],
    );
  });

  test('colour maps: endpoints of the sequential map, CSS colour parsing, distinct id colours', async () => {
    assert.deepStrictEqual(colors.sequential(0), [68, 1, 84]);
    assert.deepStrictEqual(colors.sequential(1), [253, 231, 37]);
    assert.deepStrictEqual(colors.sequential(NaN), [68, 1, 84]);
    assert.deepStrictEqual(colors.parseCssColor('#1a85ff'), [26, 133, 255]);
    assert.deepStrictEqual(colors.parseCssColor('#fff'), [255, 255, 255]);
    assert.deepStrictEqual(colors.parseCssColor('rgba(1, 2, 3, 0.5)'), [1, 2, 3]);
    assert.strictEqual(colors.parseCssColor('var(--x)'), null);
    const seen = new Set(Array.from({ length: 64 }, (_, i) => colors.idColor(i).join()));
    assert.strictEqual(seen.size, 64);
  });
};
