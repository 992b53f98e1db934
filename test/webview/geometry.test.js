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
const bitColors = require(path.join(G, 'bitColors.ts'));

module.exports = (test) => {
  test('bit colours: the ±1 bits through the fixed ±1 projection, scaled by 1/√d and spread 0.5 ± v/5; nearby codes look alike', async () => {
    // The projection is fixed: these signs never change (a change recolours every saved screenshot).
    const p = bitColors.bitProjection(8);
    assert.deepStrictEqual(
      Array.from(p),
      Array.from({ length: 24 }, (_, i) => bitColors.projectionSign(Math.floor(i / 8), i % 8)),
    );
    assert.ok(p.every((x) => x === 1 || x === -1));
    // Bit j's signs do not depend on d; the three rows differ.
    assert.deepStrictEqual(Array.from(bitColors.bitProjection(16).subarray(0, 8)), Array.from(p.subarray(0, 8)));
    const P32 = bitColors.bitProjection(32);
    const rows = [0, 1, 2].map((c) => Array.from(P32.subarray(c * 32, c * 32 + 32)).join());
    assert.strictEqual(new Set(rows).size, 3);
    // All ones: v_c = Σ_j P_cj / √d; by hand for d = 8.
    const ones = new Uint8Array(8).fill(1);
    const want = [0, 1, 2].map((c) => {
      let v = 0;
      for (let j = 0; j < 8; j++) v += p[c * 8 + j];
      return Math.round(255 * Math.max(0, Math.min(1, 0.5 + v / Math.sqrt(8) / 5)));
    });
    assert.deepStrictEqual(bitColors.bitColor(ones, 0, 8, p), want);
    // A code and its complement are mirror images around mid-grey (unclamped at d = 8: |v| ≤ √8 < 2.5).
    const zeros = new Uint8Array(8);
    bitColors.bitColor(zeros, 0, 8, p).forEach((x, c) => assert.ok(Math.abs(x + want[c] - 255) <= 1));
    // Token 1 of a 2-token array reads its own bits.
    const two = new Uint8Array(16);
    two.set(ones, 8);
    assert.deepStrictEqual(bitColors.bitColor(two, 1, 8, p), want);
    // Codes one bit apart are nearer in colour than random codes, on average (d = 32, seeded).
    let seed = 7;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 1;
    const dist = (a, b) => Math.hypot(...a.map((x, i) => x - b[i]));
    let near = 0;
    let far = 0;
    for (let t = 0; t < 200; t++) {
      const a = Uint8Array.from({ length: 32 }, rand);
      const b = Uint8Array.from({ length: 32 }, rand);
      const a1 = a.slice();
      a1[t % 32] ^= 1;
      near += dist(bitColors.bitColor(a, 0, 32, P32), bitColors.bitColor(a1, 0, 32, P32));
      far += dist(bitColors.bitColor(a, 0, 32, P32), bitColors.bitColor(b, 0, 32, P32));
    }
    // Expected ratio √(2·32)/2 = 4: a flip moves each v_c by 2/√d, a random code by √2 in std.
    assert.ok(near * 3 < far, `one bit apart ${near / 200} vs random ${far / 200}`);
    assert.strictEqual(bitColors.bitString(Uint8Array.from([1, 0, 1, 1, 0, 0, 0, 1, 1]), 0, 9), '1011 0001 1');
  });
  test('non-square grids: regions, overlaps, cells and hit tests of an h×w scale', async () => {
    const shape = { h: 3, w: 4 };
    assert.deepStrictEqual(scales.regionOf(shape, 6), { x0: 0.5, y0: 1 / 3, x1: 0.75, y1: 2 / 3 });
    assert.deepStrictEqual(scales.positionsOverlapping({ h: 15, w: 20 }, scales.regionOf(shape, 6)), [
      ...[5, 6, 7, 8, 9].flatMap((r) => [10, 11, 12, 13, 14].map((c) => r * 20 + c)),
    ]);
    assert.deepStrictEqual(scales.cellRect(shape, 6, 80), { x: 40, y: 20, w: 20, h: 20 });
    assert.strictEqual(scales.positionAt(shape, 80, 45, 25), 6);
    assert.strictEqual(scales.positionAt(shape, 80, 45, 61), -1); // the grid is 60 high
    assert.strictEqual(scales.scaleLabel(2, shape), 'k=3 · 3×4');
    assert.strictEqual(scales.scaleLabel(2, 4), 'k=3 · 4×4');
  });
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
