/**
 * A colour per bit vector (Infinity's tokens: d bits, no codebook to run a PCA on). The ±1 vector s (bit 1 → +1,
 * bit 0 → −1) goes through a fixed projection P (3 × d entries ±1, the same for every model and run):
 *   v_c = (P_c · s) / √d,   channel_c = 255 · clamp(0.5 + v_c / 5, 0, 1)
 * Linear, so codes a few bits apart get nearby colours; v_c has mean 0 and variance 1 over random codes, so ±2.5σ
 * spans the channel. P_c,j comes from a hash of (c, j): bit j's entries do not depend on d.
 */

/** The projection's entry for colour channel c and bit j: +1 or −1 (a 32-bit integer hash, fixed forever). */
export function projectionSign(c: number, j: number): 1 | -1 {
  let x = Math.imul(c + 1, 0x9e3779b1) ^ Math.imul(j + 1, 0x85ebca6b);
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x & 1 ? 1 : -1;
}

/** The projection for d bits: 3 rows of d signs, row-major. */
export function bitProjection(d: number): Int8Array {
  const p = new Int8Array(3 * d);
  for (let c = 0; c < 3; c++) for (let j = 0; j < d; j++) p[c * d + j] = projectionSign(c, j);
  return p;
}

/** RGB of token `position`'s d bits in `bits` (0/1, [n·d], token p's bit j at p·d + j) through `projection`. */
export function bitColor(bits: Uint8Array, position: number, d: number, projection: Int8Array): [number, number, number] {
  const out: [number, number, number] = [0, 0, 0];
  const norm = 1 / Math.sqrt(d);
  for (let c = 0; c < 3; c++) {
    let v = 0;
    for (let j = 0; j < d; j++) v += projection[c * d + j] * (bits[position * d + j] ? 1 : -1);
    out[c] = Math.round(255 * Math.max(0, Math.min(1, 0.5 + (v * norm) / 5)));
  }
  return out;
}

/** A token's bits as a 0/1 string in groups of 4, bit 0 first ("0110 1001 …"). */
export function bitString(bits: Uint8Array, position: number, d: number): string {
  let s = '';
  for (let j = 0; j < d; j++) s += (j && j % 4 === 0 ? ' ' : '') + (bits[position * d + j] ? '1' : '0');
  return s;
}
