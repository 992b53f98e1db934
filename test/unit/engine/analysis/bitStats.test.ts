/**
 * Bit usage: each bit's ones, balance and entropy per scale and the different codes, against values worked out by
 * hand on small tokens, and against the official tokenizer's bits of both Infinity fixtures (tok_bits.npy) counted
 * here in the plainest way (a code as its string of 0s and 1s).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { BitUsageCounter, binaryEntropy, codeKey, DISTINCT_CODES_CAP } from '../../../../src/engine/analysis/bitStats';
import { bitUsageJson, cappedDistinctCounts, distinctText } from '../../../../src/shared/results';
import { ROOT } from '../../fixtures';
import { readNpy } from '../../npy';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

describe('bit usage (src/engine/analysis/bitStats.ts)', () => {
  it('binary entropy: 0 at 0 and 1, 1 bit at one half, H(1/3) = log2 3 − 2/3', () => {
    assert.strictEqual(binaryEntropy(0), 0);
    assert.strictEqual(binaryEntropy(1), 0);
    assert.strictEqual(binaryEntropy(0.5), 1);
    close(binaryEntropy(1 / 3), Math.log2(3) - 2 / 3, 'H(1/3)');
    close(binaryEntropy(2 / 3), binaryEntropy(1 / 3), 'symmetric');
  });

  it('counts by hand: 3 bits, scale 1 = 101 100 101, scale 2 = 011', () => {
    const c = new BitUsageCounter(3);
    c.add([Uint8Array.from([1, 0, 1, 1, 0, 0, 1, 0, 1]), Uint8Array.from([0, 1, 1])], 'hw1.000-test');
    const u = c.usage();
    assert.deepStrictEqual(
      { kind: u.kind, bits: u.bits, schedules: u.schedules, tokens: u.tokens, distinct: u.distinct, images: u.images },
      { kind: 'bits', bits: 3, schedules: ['hw1.000-test'], tokens: 4, distinct: 3, images: 1 },
    );
    const [s1, s2] = u.perScale;
    assert.deepStrictEqual([s1.scaleIndex, s1.tokens, s1.distinct, Array.from(s1.ones)], [0, 3, 2, [3, 0, 2]]);
    assert.deepStrictEqual(Array.from(s1.balance.subarray(0, 2)), [1, 0]);
    close(s1.balance[2], 2 / 3, 'balance of bit 2');
    assert.deepStrictEqual(Array.from(s1.entropy.subarray(0, 2)), [0, 0]);
    close(s1.entropy[2], Math.log2(3) - 2 / 3, 'entropy of bit 2');
    assert.deepStrictEqual([s2.tokens, s2.distinct, Array.from(s2.ones), Array.from(s2.entropy)], [1, 1, [0, 1, 1], [0, 0, 0]]);
    // A second image adds its counts; the codes already seen are not counted again.
    c.add([Uint8Array.from([0, 1, 1, 1, 0, 1, 1, 0, 1]), Uint8Array.from([0, 1, 1])], 'hw1.000-test');
    const v = c.usage();
    assert.deepStrictEqual([v.images, v.tokens, v.distinct, v.perScale[0].distinct, v.perScale[1].distinct], [2, 8, 3, 3, 1]);
    assert.deepStrictEqual(Array.from(v.perScale[0].ones), [5, 1, 5]);
    assert.deepStrictEqual(Array.from(u.perScale[0].ones), [3, 0, 2]); // the first usage is a copy
  });

  it('codes are exact at any width: 20 bits apart in bit 17, 64 bits apart only in bit 63', () => {
    for (const d of [20, 64]) {
      const a = new Uint8Array(d).fill(1);
      const b = a.slice();
      b[d === 20 ? 17 : 63] = 0;
      const both = new Uint8Array(2 * d);
      both.set(a, 0);
      both.set(b, d);
      assert.notStrictEqual(codeKey(both, 0, d), codeKey(both, 1, d));
      const c = new BitUsageCounter(d);
      c.add([both, a], 'x');
      assert.deepStrictEqual([c.usage().perScale[0].distinct, c.usage().perScale[1].distinct, c.usage().distinct], [2, 1, 2]);
    }
    assert.throws(() => new BitUsageCounter(4).add([new Uint8Array(6)], 'x'), /6 bits is no whole number of 4-bit tokens/);
  });

  it('a capped counter keeps at most its cap of codes per set, counts every token and bit, and flags its count as a lower bound', () => {
    // 2 bits, cap 3: scale 1 = 00 01 10 11 00 (4 different codes), scale 2 = 11 11 (1); all scales: 4 different.
    const c = new BitUsageCounter(2, { distinctCap: 3 });
    c.add([Uint8Array.from([0, 0, 0, 1, 1, 0, 1, 1, 0, 0]), Uint8Array.from([1, 1, 1, 1])], 'x');
    const u = c.usage();
    const [s1, s2] = u.perScale;
    assert.deepStrictEqual([s1.tokens, s1.distinct, s1.distinctCapped, Array.from(s1.ones)], [5, 3, true, [2, 2]]);
    assert.deepStrictEqual([s2.tokens, s2.distinct, s2.distinctCapped, Array.from(s2.ones)], [2, 1, false, [2, 2]]);
    assert.deepStrictEqual([u.tokens, u.distinct, u.distinctCapped], [7, 3, true]);
    assert.deepStrictEqual([distinctText(s1.distinct, s1.distinctCapped), distinctText(s2.distinct, s2.distinctCapped)], ['≥ 3', '1']);
    assert.deepStrictEqual(cappedDistinctCounts(u), ['perScale[0]: ≥ 3', 'all scales: ≥ 3']); // what `varscope stats` says
    const json = bitUsageJson(u);
    assert.deepStrictEqual(
      [json.distinctCapped, json.perScale.map((s) => [s.distinct, s.distinctCapped])],
      [
        true,
        [
          [3, true],
          [1, false],
        ],
      ],
    );
    // At the cap with only codes already kept: exact, not flagged.
    const exact = new BitUsageCounter(2, { distinctCap: 3 });
    exact.add([Uint8Array.from([0, 0, 0, 1, 1, 0, 0, 1, 0, 0])], 'x');
    assert.deepStrictEqual(
      [exact.usage().perScale[0].distinct, exact.usage().perScale[0].distinctCapped, exact.usage().distinctCapped],
      [3, false, false],
    );
    assert.deepStrictEqual(cappedDistinctCounts(exact.usage()), []);
    // The default cap is far above the fixtures' counts and below V8's 2^24 entries of a Set.
    assert.ok(DISTINCT_CODES_CAP > 1e6 && DISTINCT_CODES_CAP < 2 ** 24, `cap ${DISTINCT_CODES_CAP}`);
  });

  /** Different codes per scale and over all scales, as numpy counts them (`len(set(map(bytes, rows)))`). */
  const DISTINCT: Record<string, { perScale: number[]; all: number }> = {
    'infinity-A': { perScale: [1, 3, 16, 36, 64, 139, 249], all: 505 },
    'infinity-B': { perScale: [1, 4, 12, 48, 108, 192, 300], all: 665 },
  };

  for (const name of ['infinity-A', 'infinity-B']) {
    it(`${name}: the official bits per scale, counted by hand`, () => {
      const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'out', 'bundles', name, 'varscope.json'), 'utf8'));
      const d: number = manifest.bits;
      const schedule = manifest.schedules[0];
      const npy = readNpy(path.join(ROOT, 'test', 'fixtures', 'infinity', name, 'tok_bits.npy'));
      const bits = npy.data as Uint8Array;
      assert.deepStrictEqual(npy.shape, [schedule.tokenCount, d]);
      const perScale: Uint8Array[] = [];
      let begin = 0;
      for (const [, h, w] of schedule.scales as Array<[number, number, number]>) {
        perScale.push(bits.slice(begin * d, (begin + h * w) * d));
        begin += h * w;
      }
      const c = new BitUsageCounter(d);
      c.add(perScale, schedule.id);
      const u = c.usage();
      const all = new Set<string>();
      perScale.forEach((sb, k) => {
        const n = sb.length / d;
        const codes = new Set<string>();
        const ones = new Array(d).fill(0);
        for (let t = 0; t < n; t++) {
          codes.add(Array.from(sb.subarray(t * d, (t + 1) * d)).join(''));
          for (let j = 0; j < d; j++) ones[j] += sb[t * d + j];
        }
        codes.forEach((x) => all.add(x));
        const s = u.perScale[k];
        assert.deepStrictEqual([s.tokens, s.distinct, Array.from(s.ones)], [n, codes.size, ones], `${name} scale ${k}`);
        for (let j = 0; j < d; j++) {
          const p = ones[j] / n;
          close(s.balance[j], p, `${name} scale ${k} bit ${j} balance`);
          const h = p === 0 || p === 1 ? 0 : -p * Math.log2(p) - (1 - p) * Math.log2(1 - p);
          close(s.entropy[j], h, `${name} scale ${k} bit ${j} entropy`);
        }
      });
      assert.deepStrictEqual([u.tokens, u.distinct, u.distinctCapped], [schedule.tokenCount, all.size, false]);
      assert.deepStrictEqual({ perScale: u.perScale.map((x) => x.distinct), all: u.distinct }, DISTINCT[name]);
      // The first scale is one token: one code, every bit constant.
      assert.deepStrictEqual([u.perScale[0].distinct, Array.from(u.perScale[0].entropy)], [1, new Array(d).fill(0)]);
      assert.deepStrictEqual(Array.from(u.perScale[0].balance), Array.from(bits.subarray(0, d)));
    });
  }
});
