/**
 * The engine's Rng against an independent BigInt implementation of SplitMix64 + xoshiro128**, so its first
 * outputs for a seed are pinned by the published algorithms, not by our own code.
 */
import * as assert from 'assert';
import { Rng } from '../../../../src/engine/model/rng';

const M32 = 0xffffffffn;
const M64 = (1n << 64n) - 1n;

/** Reference: SplitMix64 fills the 128-bit state (low word first), xoshiro128** steps it, all in BigInt. */
function reference(seed: bigint, count: number): number[] {
  const s: bigint[] = [];
  let x = seed;
  for (let i = 0; i < 2; i++) {
    x = (x + 0x9e3779b97f4a7c15n) & M64;
    let z = x;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
    z ^= z >> 31n;
    s.push(z & M32, z >> 32n);
  }
  const rotl = (v: bigint, k: bigint) => ((v << k) | (v >> (32n - k))) & M32;
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(Number((rotl((s[1] * 5n) & M32, 7n) * 9n) & M32));
    const t = (s[1] << 9n) & M32;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11n);
  }
  return out;
}

describe('Rng', () => {
  for (const seed of [0, 1, 42, 2 ** 32 + 7, Number.MAX_SAFE_INTEGER]) {
    it(`seed ${seed}: first 64 outputs equal the reference SplitMix64 + xoshiro128**`, () => {
      const r = new Rng(seed);
      const got = Array.from({ length: 64 }, () => r.nextUint32());
      assert.deepStrictEqual(got, reference(BigInt(seed), 64));
    });
  }

  it('floats use 27 + 26 bits of two outputs and lie in [0, 1)', () => {
    const r = new Rng(7);
    const ref = reference(7n, 2000);
    for (let i = 0; i < 1000; i++) {
      const f = r.nextFloat();
      assert.strictEqual(f, ((ref[2 * i] >>> 5) * 67108864 + (ref[2 * i + 1] >>> 6)) / 2 ** 53);
      assert.ok(f >= 0 && f < 1);
    }
  });

  it('state save / restore replays the stream', () => {
    const r = new Rng(3);
    r.nextUint32();
    const st = r.getState();
    const a = [r.nextFloat(), r.nextFloat()];
    r.setState(st);
    assert.deepStrictEqual([r.nextFloat(), r.nextFloat()], a);
  });

  it('refuses seeds that are not safe non-negative integers', () => {
    assert.throws(() => new Rng(-1), RangeError);
    assert.throws(() => new Rng(1.5), RangeError);
  });
});
