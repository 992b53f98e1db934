/**
 * Sampling semantics of the official sample_with_top_k_top_p_ on hand-made logits, the CFG ramp against the
 * fixture config, and seeded determinism.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import { Rng } from '../../../../src/engine/model/rng';
import { cfgCombine, cfgRatio, drawIndex, filterTopKTopP, sampleScale, softmax } from '../../../../src/engine/model/sampler';
import { fixture } from '../../fixtures';

const kept = (x: Float64Array) => Array.from(x.keys()).filter((i) => x[i] !== -Infinity);

describe('sampler', () => {
  it('top-k keeps the k largest logits, ties at the k-th value included', () => {
    const row = Float32Array.from([0.5, 3, 1, 2, 2, -1]);
    assert.deepStrictEqual(kept(filterTopKTopP(row, 2, 0)), [1, 3, 4]); // 2nd largest is 2 (twice): both kept
    assert.deepStrictEqual(kept(filterTopKTopP(row, 1, 0)), [1]);
    assert.deepStrictEqual(kept(filterTopKTopP(row, 0, 0)), [0, 1, 2, 3, 4, 5]);
    assert.deepStrictEqual(kept(filterTopKTopP(row, 99, 0)), [0, 1, 2, 3, 4, 5]);
  });

  it('top-p drops the least likely tokens whose cumulative probability is <= 1 - p', () => {
    // probabilities 0.1, 0.2, 0.3, 0.4 (logits are their logs)
    const row = Float32Array.from([0.1, 0.2, 0.3, 0.4].map(Math.log));
    // ascending cumsum: 0.1, 0.3, 0.6, 1.0
    assert.deepStrictEqual(kept(filterTopKTopP(row, 0, 0.75)), [1, 2, 3]); // 1-p = 0.25: only 0.1 <= 0.25
    assert.deepStrictEqual(kept(filterTopKTopP(row, 0, 0.5)), [2, 3]); // 0.5: 0.1, 0.3 dropped
    assert.deepStrictEqual(kept(filterTopKTopP(row, 0, 0.05)), [3]); // the top token always stays
    assert.deepStrictEqual(kept(filterTopKTopP(row, 0, 1)), [0, 1, 2, 3]);
  });

  it('top-p applies to the distribution left by top-k', () => {
    const row = Float32Array.from([0.1, 0.2, 0.3, 0.4].map(Math.log));
    // top-2 leaves 0.3, 0.4 -> renormalised 3/7, 4/7; p = 0.5 drops 3/7 (<= 0.5)
    assert.deepStrictEqual(kept(filterTopKTopP(row, 2, 0.5)), [3]);
    assert.deepStrictEqual(kept(filterTopKTopP(row, 2, 0.6)), [2, 3]); // 3/7 > 0.4 stays
  });

  it('the fast filter equals the official algorithm, written plainly, on rows full of ties', () => {
    // official sample_with_top_k_top_p_: kth = the k-th largest; then sort ascending (stable: by index) and drop
    // the prefix whose cumulative softmax is <= 1 - p, never the last entry
    const official = (row: Float32Array, k: number, p: number): Float64Array => {
      const x = Float64Array.from(row);
      const V = x.length;
      if (k > 0 && k < V) {
        const kth = Float64Array.from(x).sort()[V - k];
        for (let i = 0; i < V; i++) if (x[i] < kth) x[i] = -Infinity;
      }
      if (p > 0) {
        const order = Array.from(x.keys()).filter((i) => x[i] !== -Infinity);
        order.sort((a, b) => x[a] - x[b] || a - b);
        const probs = softmax(x);
        let cum = 0;
        for (let j = 0; j < order.length - 1; j++) {
          cum += probs[order[j]];
          if (cum <= 1 - p) x[order[j]] = -Infinity;
        }
      }
      return x;
    };
    const rng = new Rng(3);
    let rows = 0;
    for (const V of [7, 64, 512]) {
      for (let r = 0; r < 60; r++) {
        // few distinct values (many ties), or a smooth spread
        const distinct = r % 2 ? 4 + (r % 5) : 1000;
        const row = Float32Array.from({ length: V }, () => Math.floor(rng.nextFloat() * distinct) * (6 / distinct));
        for (const [k, p] of [
          [0, 0.9],
          [5, 0.5],
          [V - 1, 0.96],
          [V, 0.3],
          [3, 0],
          [0, 0.999],
          [100, 0.95],
        ]) {
          assert.deepStrictEqual(filterTopKTopP(row, k, p), official(row, k, p), `V ${V} row ${r} k ${k} p ${p}`);
          rows++;
        }
      }
    }
    assert.strictEqual(rows, 3 * 60 * 7);
  });

  it('CFG ramp t = cfg * si / (SN - 1) matches the fixture run', () => {
    const cfg = JSON.parse(fs.readFileSync(fixture('config.json'), 'utf8')) as {
      cfg: number;
      cfg_t_per_step: number[];
      patch_nums: number[];
    };
    cfg.cfg_t_per_step.forEach((t, si) => assert.ok(Math.abs(cfgRatio(cfg.cfg, si, cfg.patch_nums.length) - t) < 1e-12));
    const c = Float32Array.from([1, 2, -3]);
    const u = Float32Array.from([0.5, 2, 1]);
    assert.deepStrictEqual(Array.from(cfgCombine(c, u, 2)), [3 * 1 - 2 * 0.5, 3 * 2 - 2 * 2, 3 * -3 - 2 * 1]);
  });

  it('draws follow the probabilities (chi-square on 20000 draws)', () => {
    const p = softmax(Float64Array.from([0.1, 0.2, 0.3, 0.4].map(Math.log)));
    const rng = new Rng(11);
    const n = 20000;
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) counts[drawIndex(p, rng)]++;
    const chi2 = counts.reduce((s, c, i) => s + (c - n * p[i]) ** 2 / (n * p[i]), 0);
    assert.ok(chi2 < 16.27, `chi2 ${chi2} (3 dof, p = 0.001 critical value 16.27)`); // seeded: fixed outcome
  });

  it('never draws a filtered token', () => {
    const V = 50;
    const rng = new Rng(5);
    const logits = Float32Array.from({ length: 4 * V }, (_, i) => Math.sin(i * 1.7) * 3);
    for (let rep = 0; rep < 50; rep++) {
      const s = sampleScale(logits, V, 5, 0, rng);
      for (let i = 0; i < 4; i++) {
        const row = logits.subarray(i * V, (i + 1) * V);
        assert.ok(kept(filterTopKTopP(row, 5, 0)).includes(s.tokens[i]));
      }
    }
  });

  it('the same seed gives the same tokens; forcing keeps the random stream', () => {
    const V = 30;
    const logits = Float32Array.from({ length: 9 * V }, (_, i) => Math.cos(i * 0.37) * 2);
    const a = sampleScale(logits, V, 10, 0.9, new Rng(99));
    const b = sampleScale(logits, V, 10, 0.9, new Rng(99));
    assert.deepStrictEqual(a.tokens, b.tokens);
    const forced = new Int32Array(9).fill(-1);
    forced[4] = 7;
    const r1 = new Rng(99);
    const f = sampleScale(logits, V, 10, 0.9, r1, forced);
    assert.strictEqual(f.tokens[4], 7);
    f.tokens[4] = a.tokens[4];
    assert.deepStrictEqual(f.tokens, a.tokens);
    const r2 = new Rng(99);
    sampleScale(logits, V, 10, 0.9, r2);
    assert.strictEqual(r1.nextUint32(), r2.nextUint32());
  });

  it('reports the probability of the sampled token, the top-1 probability and the entropy before filtering', () => {
    const row = Float32Array.from([0.1, 0.2, 0.3, 0.4].map(Math.log));
    const s = sampleScale(row, 4, 1, 0, new Rng(1));
    assert.strictEqual(s.tokens[0], 3);
    assert.ok(Math.abs(s.sampledProb[0] - 0.4) < 1e-6 && Math.abs(s.top1Prob[0] - 0.4) < 1e-6);
    const h = -[0.1, 0.2, 0.3, 0.4].reduce((a, p) => a + p * Math.log(p), 0);
    assert.ok(Math.abs(s.entropy[0] - h) < 1e-6);
  });
});
