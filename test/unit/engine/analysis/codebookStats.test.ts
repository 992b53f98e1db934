/**
 * Codebook usage: counts of the reference tokens against the fixture's own per-scale unique counts, and
 * perplexity against closed forms.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import { perplexity, trainingUsage, UsageCounter, usageOf } from '../../../../src/engine/analysis/codebookStats';
import { fixture } from '../../fixtures';
import { npyInts, readNpy } from '../../npy';

interface Index {
  self_checks: Record<string, unknown>;
}

describe('codebook statistics', () => {
  const cfg = () =>
    JSON.parse(fs.readFileSync(fixture('config.json'), 'utf8')) as { patch_nums: number[]; build_vae_var_kwargs: { V: number } };

  it('per-scale used codes of each fixture image equal the reference unique counts', () => {
    const { patch_nums, build_vae_var_kwargs } = cfg();
    const index = JSON.parse(fs.readFileSync(fixture('index.json'), 'utf8')) as Index;
    for (const i of [0, 1, 2]) {
      const c = new UsageCounter(patch_nums, build_vae_var_kwargs.V);
      c.add(npyInts(readNpy(fixture(`img${i}_idx.npy`))));
      const u = c.usage();
      const used = u.perScale.map((s) => Array.from(s).filter((n) => n > 0).length);
      assert.deepStrictEqual(used, index.self_checks[`unique_tokens_per_scale_img${i}`]);
      assert.strictEqual(u.images, 1);
      assert.strictEqual(
        Array.from(u.overall).reduce((a, b) => a + b, 0),
        680,
      );
    }
  });

  it('counting images one by one equals counting them together', () => {
    const { patch_nums, build_vae_var_kwargs } = cfg();
    const V = build_vae_var_kwargs.V;
    const all = new UsageCounter(patch_nums, V);
    const toks = [0, 1, 2].map((i) => npyInts(readNpy(fixture(`img${i}_idx.npy`))));
    toks.forEach((t) => all.add(t));
    const u = all.usage();
    const expected = new Float64Array(V);
    for (const t of toks) for (const v of t) expected[v]++;
    assert.deepStrictEqual(u.overall, expected);
    assert.strictEqual(u.used, expected.filter((n) => n > 0).length);
    assert.strictEqual(u.images, 3);
  });

  it('perplexity: uniform over n codes is n, one code is 1, empty is 0', () => {
    assert.ok(Math.abs(perplexity([3, 3, 3, 3, 0]) - 4) < 1e-12);
    assert.strictEqual(perplexity([0, 5, 0]), 1);
    assert.strictEqual(perplexity([0, 0]), 0);
    const p = [1, 2, 3, 4].map((v) => v / 10);
    assert.ok(Math.abs(perplexity([1, 2, 3, 4]) - Math.exp(-p.reduce((s, q) => s + q * Math.log(q), 0))) < 1e-12);
  });

  it('training hits [SN, V] give per-scale and overall usage', () => {
    const hits = Float32Array.from([1, 0, 2, 0, 0, 3]); // SN = 2, V = 3
    const u = trainingUsage(hits, 2, 3);
    assert.deepStrictEqual(Array.from(u.overall), [1, 0, 5]);
    assert.strictEqual(u.used, 2);
    assert.deepStrictEqual(
      u.perScale.map((s) => Array.from(s)),
      [
        [1, 0, 2],
        [0, 0, 3],
      ],
    );
    assert.strictEqual(u.images, undefined);
    assert.strictEqual(usageOf([Int32Array.from([0, 0])]).used, 0);
  });

  it('rejects tokens outside the vocabulary', () => {
    const c = new UsageCounter([1], 4);
    assert.throws(() => c.add(Int32Array.from([4])), RangeError);
  });
});
