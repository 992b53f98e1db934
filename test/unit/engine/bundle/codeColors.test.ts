/**
 * Token colours: the eigensolver against its definition, stability, the hit-weighted fit on a codebook built so that
 * weighting must change the axes, and on the default model the spread of the most used codes and of the tokens of
 * media/sample.png against the previous colouring (an unweighted PCA stretched linearly between its 2% and 98% points).
 */
import * as assert from 'assert';
import * as path from 'path';
import { codeColors, codeWeights, symmetricEigen, weightedPca, weightedRanks } from '../../../../src/engine/bundle/codeColors';
import type { ModelBundle } from '../../../../src/engine/bundle/bundle';
import { Engine } from '../../../../src/engine/engine';
import { tokenize } from '../../../../src/engine/model/tokenizer';
import { ROOT } from '../../fixtures';

/** Deterministic uniform numbers in [0, 1) (a 32-bit LCG). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** The previous colouring, kept here as the baseline: unweighted PCA by power iteration, each axis stretched 2%..98%. */
function previousColors(codebook: Float32Array, V: number, C: number): Uint8Array {
  const mean = new Float64Array(C);
  for (let v = 0; v < V; v++) for (let c = 0; c < C; c++) mean[c] += codebook[v * C + c] / V;
  const cov = new Float64Array(C * C);
  for (let v = 0; v < V; v++)
    for (let a = 0; a < C; a++)
      for (let b = 0; b < C; b++) cov[a * C + b] += (codebook[v * C + a] - mean[a]) * (codebook[v * C + b] - mean[b]);
  const axes: Float64Array[] = [];
  for (let k = 0; k < 3; k++) {
    let x = new Float64Array(C).map((_, i) => 1 + 0.1 * i);
    for (let it = 0; it < 200; it++) {
      const y = new Float64Array(C);
      for (let a = 0; a < C; a++) for (let b = 0; b < C; b++) y[a] += cov[a * C + b] * x[b];
      for (const u of axes) {
        let d = 0;
        for (let a = 0; a < C; a++) d += y[a] * u[a];
        for (let a = 0; a < C; a++) y[a] -= d * u[a];
      }
      const n = Math.hypot(...y);
      x = y.map((e) => e / n);
    }
    let big = 0;
    for (let a = 0; a < C; a++) if (Math.abs(x[a]) > Math.abs(x[big])) big = a;
    axes.push(x[big] < 0 ? x.map((e) => -e) : x);
  }
  const out = new Uint8Array(V * 3);
  axes.forEach((u, k) => {
    const proj = Float64Array.from({ length: V }, (_, v) => u.reduce((s, e, c) => s + (codebook[v * C + c] - mean[c]) * e, 0));
    const sorted = Float64Array.from(proj).sort();
    const lo = sorted[Math.floor(0.02 * (V - 1))],
      hi = sorted[Math.ceil(0.98 * (V - 1))];
    for (let v = 0; v < V; v++) out[v * 3 + k] = Math.round(255 * Math.min(1, Math.max(0, (proj[v] - lo) / (hi - lo))));
  });
  return out;
}

/** CIE L*a*b* (D65) of an sRGB byte triple. */
function lab(r: number, g: number, b: number): [number, number, number] {
  const lin = (x: number): number => ((x /= 255) > 0.04045 ? ((x + 0.055) / 1.055) ** 2.4 : x / 12.92);
  const [R, G, B] = [lin(r), lin(g), lin(b)];
  const X = (0.4124 * R + 0.3576 * G + 0.1805 * B) / 0.95047,
    Y = 0.2126 * R + 0.7152 * G + 0.0722 * B,
    Z = (0.0193 * R + 0.1192 * G + 0.9505 * B) / 1.08883;
  const f = (t: number): number => (t > 0.008856 ? Math.cbrt(t) : 7.787 * t + 16 / 116);
  return [116 * f(Y) - 16, 500 * (f(X) - f(Y)), 200 * (f(Y) - f(Z))];
}

/** Colour of each code in `ids` as RGB or Lab points. */
function points(colors: Uint8Array, ids: number[], space: 'rgb' | 'lab'): number[][] {
  return ids.map((i) => {
    const c: [number, number, number] = [colors[i * 3], colors[i * 3 + 1], colors[i * 3 + 2]];
    return space === 'rgb' ? c : lab(...c);
  });
}

/** Distances between all pairs of points. */
function pairDistances(p: number[][]): number[] {
  const out: number[] = [];
  for (let i = 0; i < p.length; i++)
    for (let j = i + 1; j < p.length; j++) out.push(Math.hypot(p[i][0] - p[j][0], p[i][1] - p[j][1], p[i][2] - p[j][2]));
  return out;
}

const mean = (a: number[]): number => a.reduce((s, x) => s + x, 0) / a.length;

describe('token colours (codeColors)', function () {
  this.timeout(120000);

  it('the Jacobi eigensolver returns orthonormal eigenvectors with descending eigenvalues (A u = λ u)', () => {
    const n = 12,
      rnd = lcg(7);
    const m = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) m[i * n + j] = m[j * n + i] = rnd() * 2 - 1;
    const { values, vectors } = symmetricEigen(m, n);
    for (let k = 0; k < n; k++) {
      if (k > 0) assert.ok(values[k] <= values[k - 1]);
      for (let i = 0; i < n; i++) {
        let au = 0;
        for (let j = 0; j < n; j++) au += m[i * n + j] * vectors[k][j];
        assert.ok(Math.abs(au - values[k] * vectors[k][i]) < 1e-10, `eigenpair ${k} row ${i}`);
      }
      for (let l = 0; l < n; l++) {
        const d = vectors[k].reduce((s, e, i) => s + e * vectors[l][i], 0);
        assert.ok(Math.abs(d - (k === l ? 1 : 0)) < 1e-10);
      }
    }
    // The trace is the sum of the eigenvalues.
    let tr = 0;
    for (let i = 0; i < n; i++) tr += m[i * n + i];
    assert.ok(Math.abs(values.reduce((a, b) => a + b, 0) - tr) < 1e-10);
  });

  it('weighted ranks: the weight below plus half the own weight; equal values share a rank', () => {
    const r = weightedRanks(Float64Array.from([3, 1, 2, 2]), Float64Array.from([1, 2, 3, 4]));
    // sorted: 1 (w2), 2,2 (w3+4 = 7), 3 (w1); total 10
    assert.deepStrictEqual(Array.from(r), [9.5 / 10, 1 / 10, 5.5 / 10, 5.5 / 10]);
  });

  it('is stable: same input, same bytes; a doubled codebook gives the same colours; each axis has its largest loading positive', () => {
    const V = 200,
      C = 8,
      rnd = lcg(3);
    const cb = Float32Array.from({ length: V * C }, () => rnd() * 2 - 1);
    const hits = Float32Array.from({ length: 3 * V }, () => (rnd() < 0.3 ? rnd() * 100 : 0));
    const a = codeColors(cb, V, C, hits);
    assert.deepStrictEqual(codeColors(Float32Array.from(cb), V, C, Float32Array.from(hits)), a);
    assert.deepStrictEqual(
      codeColors(
        cb.map((x) => 2 * x),
        V,
        C,
        hits,
      ),
      a,
    );
    const { axes } = weightedPca(cb, V, C, codeWeights(V, hits), 3);
    for (const u of axes) {
      const big = u.reduce((bi, e, i) => (Math.abs(e) > Math.abs(u[bi]) ? i : bi), 0);
      assert.ok(u[big] > 0);
    }
    // Negating the codebook keeps the axes (sign fixed by convention), so every channel mirrors.
    const neg = codeColors(
      cb.map((x) => -x),
      V,
      C,
      hits,
    );
    for (let i = 0; i < V * 3; i++) assert.ok(Math.abs(neg[i] - (255 - a[i])) <= 1, `byte ${i}: ${neg[i]} vs 255-${a[i]}`);
  });

  it('falls back to the unweighted fit without hits (or with equal hits); uses the whole range', () => {
    const V = 300,
      C = 6,
      rnd = lcg(11);
    const cb = Float32Array.from({ length: V * C }, () => rnd() ** 3);
    const none = codeColors(cb, V, C);
    assert.deepStrictEqual(codeColors(cb, V, C, new Float32Array(2 * V).fill(5)), none);
    assert.deepStrictEqual(codeColors(cb, V, C, new Float32Array(V)), none); // all-zero hits carry no information
    for (let k = 0; k < 3; k++) {
      const ch = Array.from({ length: V }, (_, v) => none[v * 3 + k]);
      assert.ok(Math.min(...ch) <= 1 && Math.max(...ch) >= 254, `channel ${k}: ${Math.min(...ch)}..${Math.max(...ch)}`);
      assert.ok(Math.abs(mean(ch) - 127.5) <= 1, `channel ${k} mean ${mean(ch)}`);
    }
  });

  it('the hit-weighted fit differs from the unweighted one when the weights differ', () => {
    // Codes 0..31 vary widely along dimension 0 but are never used; codes 32..63 vary along dimension 1 and are used.
    const V = 64,
      C = 4,
      rnd = lcg(5);
    const cb = new Float32Array(V * C);
    for (let v = 0; v < V; v++) {
      for (let c = 0; c < C; c++) cb[v * C + c] = 0.01 * (rnd() - 0.5);
      if (v < 32) cb[v * C] = 20 * (rnd() - 0.5);
      else cb[v * C + 1] = 2 * (rnd() - 0.5);
    }
    const hits = Float32Array.from({ length: V }, (_, v) => (v < 32 ? 0 : 1000));
    const plain = weightedPca(cb, V, C, codeWeights(V), 1).axes[0];
    const weighted = weightedPca(cb, V, C, codeWeights(V, hits), 1).axes[0];
    assert.ok(Math.abs(plain[0]) > 0.99, `unweighted first axis ${Array.from(plain)}`);
    assert.ok(Math.abs(weighted[1]) > 0.99, `weighted first axis ${Array.from(weighted)}`);
    const redRange = (cols: Uint8Array): number => {
      const used = Array.from({ length: 32 }, (_, i) => cols[(32 + i) * 3]);
      return Math.max(...used) - Math.min(...used);
    };
    const withHits = codeColors(cb, V, C, hits),
      without = codeColors(cb, V, C);
    assert.notDeepStrictEqual(withHits, without);
    assert.ok(redRange(withHits) >= 240, `used codes' red spans ${redRange(withHits)}`);
    assert.ok(redRange(withHits) > redRange(without) + 50, `${redRange(withHits)} vs ${redRange(without)} without hits`);
  });

  describe('on the default model (models/emoji64-d4)', () => {
    let engine: Engine;
    let bundle: ModelBundle;
    let V: number, C: number;
    let now: Uint8Array, previous: Uint8Array;
    let hits: Float32Array;

    before(async () => {
      engine = new Engine();
      await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
      bundle = await engine.bundle(path.join(ROOT, 'models', 'emoji64-d4'));
      ({ vocabSize: V, Cvae: C } = bundle.manifest.vae);
      assert.ok(bundle.trainingHits, 'the default model carries training hits');
      hits = bundle.trainingHits!;
      now = bundle.info().codeColors;
      previous = previousColors(bundle.codebook, V, C);
    });
    after(async () => engine?.dispose());

    it('ModelInfo.codeColors is the hit-weighted colouring, different from the unweighted one', () => {
      assert.deepStrictEqual(now, codeColors(bundle.codebook, V, C, hits));
      const plain = codeColors(bundle.codebook, V, C);
      let differ = 0;
      for (let i = 0; i < V * 3; i++) if (plain[i] !== now[i]) differ++;
      assert.ok(differ > V, `${differ} bytes differ`);
      // Hit-weighted mean of every channel is the middle of the range (the weighted ranks are uniform).
      const w = codeWeights(V, hits);
      const W = w.reduce((a, b) => a + b, 0);
      for (let k = 0; k < 3; k++) {
        let m = 0;
        for (let v = 0; v < V; v++) m += (w[v] * now[v * 3 + k]) / W;
        assert.ok(Math.abs(m - 127.5) <= 1, `channel ${k}: weighted mean ${m}`);
      }
    });

    it('the 50 most used codes lie at least twice as far apart as with the previous colouring (RGB and Lab)', () => {
      const total = Array.from({ length: V }, (_, v) => hits.reduce((s, _h, i) => (i % V === v ? s + hits[i] : s), 0));
      const top = Array.from({ length: V }, (_, v) => v)
        .sort((a, b) => total[b] - total[a] || a - b)
        .slice(0, 50);
      const r = {
        rgbBefore: mean(pairDistances(points(previous, top, 'rgb'))),
        rgbNow: mean(pairDistances(points(now, top, 'rgb'))),
        labBefore: mean(pairDistances(points(previous, top, 'lab'))),
        labNow: mean(pairDistances(points(now, top, 'lab'))),
      };
      console.log(
        `      top-50 mean pairwise distance: RGB ${r.rgbBefore.toFixed(1)} -> ${r.rgbNow.toFixed(1)}, Lab ${r.labBefore.toFixed(1)} -> ${r.labNow.toFixed(1)}`,
      );
      assert.ok(r.rgbNow > 2 * r.rgbBefore && r.labNow > 2 * r.labBefore, JSON.stringify(r));
    });

    it('media/sample.png: more distinguishable colours among its 680 tokens than before', async () => {
      const t = await tokenize(bundle, (await engine.modelInput(bundle, { path: path.join(ROOT, 'media', 'sample.png') })).tensor);
      const tokens = Array.from(t.tokens, Number);
      assert.strictEqual(tokens.length, 680);
      const codes = [...new Set(tokens)].sort((a, b) => a - b);
      const distinct = (cols: Uint8Array, shift: number): number =>
        new Set(tokens.map((v) => `${cols[v * 3] >> shift},${cols[v * 3 + 1] >> shift},${cols[v * 3 + 2] >> shift}`)).size;
      // Pairs of different codes whose colours are hard to tell apart (ΔE*ab < 10).
      const confusable = (cols: Uint8Array): number => pairDistances(points(cols, codes, 'lab')).filter((d) => d < 10).length;
      const r = {
        codes: codes.length,
        exactBefore: distinct(previous, 0),
        exactNow: distinct(now, 0),
        binsBefore: distinct(previous, 5),
        binsNow: distinct(now, 5),
        confusableBefore: confusable(previous),
        confusableNow: confusable(now),
      };
      console.log(
        `      sample.png: ${r.codes} codes; distinct colours ${r.exactBefore} -> ${r.exactNow}; in 8x8x8 bins ${r.binsBefore} -> ${r.binsNow}; pairs with ΔE < 10 ${r.confusableBefore} -> ${r.confusableNow}`,
      );
      assert.strictEqual(r.exactNow, r.codes, 'every code of the image has its own colour');
      assert.ok(r.binsNow > r.binsBefore, JSON.stringify(r));
      assert.ok(r.confusableNow < r.confusableBefore, JSON.stringify(r));
    });
  });
});
