/**
 * The engine's seeded random numbers: xoshiro128** (Blackman & Vigna) seeded through SplitMix64.
 * Integer arithmetic only (Math.imul, 32-bit shifts), so a seed gives the same stream on every machine.
 */

const MASK64 = (1n << 64n) - 1n;

/** A deterministic generator; its state can be saved and restored (generation snapshots). */
export class Rng {
  private s = new Uint32Array(4);

  /** Seed with any integer in [0, 2^53). */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be an integer in [0, 2^53), got ${seed}`);
    // SplitMix64 expands the seed into 128 bits of state (never all zero).
    let x = BigInt(seed);
    for (let i = 0; i < 2; i++) {
      x = (x + 0x9e3779b97f4a7c15n) & MASK64;
      let z = x;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
      z = z ^ (z >> 31n);
      this.s[2 * i] = Number(z & 0xffffffffn);
      this.s[2 * i + 1] = Number(z >> 32n);
    }
  }

  /** Next 32-bit unsigned integer (xoshiro128**). */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const a = this.nextUint32() >>> 5; // 27 bits
    const b = this.nextUint32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** The state, to restore later. */
  getState(): Uint32Array {
    return Uint32Array.from(this.s);
  }

  /** Restore a state from getState(). */
  setState(state: Uint32Array): void {
    this.s = Uint32Array.from(state);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
