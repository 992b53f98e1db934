/**
 * Bit usage of an Infinity model's tokens: per scale, how often each of the d bits is 1 (its balance and binary
 * entropy) and how many different codes occur, exactly for any d (2^d bins would not fit a histogram). Counts
 * accumulate, so a folder is counted one image at a time; only the different codes themselves are kept, at most
 * DISTINCT_CODES_CAP of them per set: past it, the count of different codes is a lower bound.
 */
import type { BitScaleUsage, BitUsage } from '../../shared/results';

/** Binary entropy of a probability, bits (0 at 0 and 1). */
export function binaryEntropy(p: number): number {
  if (p <= 0 || p >= 1) return 0;
  return -(p * Math.log2(p) + (1 - p) * Math.log2(1 - p));
}

/** A token's d bits as a string key, 16 bits a character (exact, any d). */
export function codeKey(bits: Uint8Array, token: number, d: number): string {
  let key = '';
  for (let j = 0; j < d; j += 16) {
    let v = 0;
    for (let i = j; i < Math.min(j + 16, d); i++) v = v * 2 + bits[token * d + i];
    key += String.fromCharCode(v);
  }
  return key;
}

/**
 * The most different codes a set keeps (each scale's, and all scales'). NOTE: V8's Set holds at most 2^24 entries,
 * and a large folder at 32–64 bits has more different codes than that; past the cap the bits and tokens are still
 * counted, new codes are not kept, and the count of different codes is a lower bound.
 */
export const DISTINCT_CODES_CAP = 4_000_000;

/** Different codes, at most `cap` of them; `capped` once a code beyond those was seen (the size is then a lower bound). */
class CappedCodeSet {
  private readonly codes = new Set<string>();
  capped = false;

  constructor(private readonly cap: number) {}

  add(key: string): void {
    if (this.codes.size < this.cap) this.codes.add(key);
    else if (!this.capped && !this.codes.has(key)) this.capped = true;
  }

  get size(): number {
    return this.codes.size;
  }
}

/** Options of a BitUsageCounter: the most different codes each set keeps (DISTINCT_CODES_CAP unless given). */
export interface BitUsageCounterOptions {
  distinctCap?: number;
}

/** Accumulates the bits of images, scale by scale. */
export class BitUsageCounter {
  private readonly ones: Float64Array[] = [];
  private readonly tokens: number[] = [];
  private readonly codes: CappedCodeSet[] = [];
  private readonly allCodes: CappedCodeSet;
  private readonly schedules = new Set<string>();
  private readonly distinctCap: number;
  images = 0;

  constructor(
    readonly d: number,
    { distinctCap = DISTINCT_CODES_CAP }: BitUsageCounterOptions = {},
  ) {
    this.distinctCap = distinctCap;
    this.allCodes = new CappedCodeSet(distinctCap);
  }

  /** Count one image's bits: per scale, [h·w·d] 0/1 (token p's bit j at p·d + j), at schedule `schedule`. */
  add(perScale: readonly Uint8Array[], schedule: string): void {
    const d = this.d;
    perScale.forEach((bits, k) => {
      if (bits.length % d) throw new RangeError(`scale ${k}: ${bits.length} bits is no whole number of ${d}-bit tokens`);
      if (!this.ones[k]) {
        this.ones[k] = new Float64Array(d);
        this.tokens[k] = 0;
        this.codes[k] = new CappedCodeSet(this.distinctCap);
      }
      const ones = this.ones[k];
      const n = bits.length / d;
      for (let t = 0; t < n; t++) {
        for (let j = 0; j < d; j++) ones[j] += bits[t * d + j];
        const key = codeKey(bits, t, d);
        this.codes[k].add(key);
        this.allCodes.add(key);
      }
      this.tokens[k] += n;
    });
    this.schedules.add(schedule);
    this.images++;
  }

  /** The usage so far (copies, so the counter can keep counting). */
  usage(): BitUsage {
    const perScale: BitScaleUsage[] = this.ones.map((ones, k) => {
      const n = this.tokens[k];
      const balance = ones.map((c) => (n > 0 ? c / n : 0));
      return {
        scaleIndex: k,
        tokens: n,
        ones: Float64Array.from(ones),
        balance,
        entropy: balance.map(binaryEntropy),
        distinct: this.codes[k].size,
        distinctCapped: this.codes[k].capped,
      };
    });
    return {
      kind: 'bits',
      bits: this.d,
      schedules: [...this.schedules],
      perScale,
      tokens: this.tokens.reduce((a, b) => a + b, 0),
      distinct: this.allCodes.size,
      distinctCapped: this.allCodes.capped,
      images: this.images,
    };
  }
}
