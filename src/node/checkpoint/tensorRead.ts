/**
 * A tensor's bytes from its storage in the file: contiguous tensors in one read, views (transposed, sliced, sharing a
 * storage) gathered from chunks of at most `chunkBytes` of the storage, so memory stays at the tensor plus one chunk
 * whatever the view's stride. Also the exact float16 / bfloat16 / float64 -> float32 conversion torch's .float() does.
 */
import { constants } from 'buffer';
import { checkpointError, type CheckpointFile } from './checkpointFile';
import { ITEM_SIZE, type TensorDtype } from './types';

/** A tensor as torch lays it in its storage (all counts in elements). */
export interface StridedLayout {
  dtype: TensorDtype;
  shape: readonly number[];
  stride: readonly number[];
  offset: number;
}

/** A tensor of a checkpoint before it has a key: its dtype and shape, its bytes read on demand. */
export class LazyTensor {
  constructor(
    readonly dtype: TensorDtype,
    readonly shape: readonly number[],
    readonly read: () => Promise<Buffer>,
  ) {}

  /** The bytes read() gives. */
  get byteLength(): number {
    return numelOf(this.shape) * ITEM_SIZE[this.dtype];
  }
}

const MAX_LENGTH = constants.MAX_LENGTH;

/** The largest piece of a storage read at once for a view that is not contiguous. */
export const GATHER_CHUNK_BYTES = 32 << 20;

interface Dim {
  n: number; // size
  s: number; // stride in the storage
  o: number; // stride in the output (C order)
}

/** The element count of a shape. */
export function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * The tensor's elements, contiguous and little-endian, from its storage at file offset `storageStart` (stored
 * big-endian when `bigEndian`). The layout must already be checked to lie inside the storage.
 */
export async function readStrided(
  f: CheckpointFile,
  storageStart: number,
  t: StridedLayout,
  bigEndian: boolean,
  what: string,
  chunkBytes = GATHER_CHUNK_BYTES,
): Promise<Buffer> {
  const isz = ITEM_SIZE[t.dtype];
  const numel = numelOf(t.shape);
  if (numel * isz > MAX_LENGTH)
    throw checkpointError(f.file, `${what}: a tensor of ${numel * isz} bytes, more than the ${MAX_LENGTH} one read holds`);
  const out = Buffer.allocUnsafeSlow(numel * isz); // own memory (offset 0: aligned for the typed views below), every byte written
  if (numel === 0) return out;
  const dims: Dim[] = [];
  for (let i = t.shape.length - 1, o = 1; i >= 0; o *= t.shape[i], i--)
    if (t.shape[i] > 1) dims.unshift({ n: t.shape[i], s: t.stride[i], o });
  const gather = async (ds: Dim[], elem: number, outElem: number): Promise<void> => {
    const span = 1 + ds.reduce((a, d) => a + (d.n - 1) * d.s, 0);
    const count = ds.reduce((a, d) => a * d.n, 1);
    if (span === count && ds.every((d) => d.s === d.o)) {
      // a dense block laid out as the output: read straight into place
      await f.readInto(out, outElem * isz, count * isz, storageStart + elem * isz, what);
      return;
    }
    if (span * isz <= chunkBytes) {
      const chunk = Buffer.allocUnsafeSlow(span * isz);
      await f.readInto(chunk, 0, span * isz, storageStart + elem * isz, what);
      copyStrided(chunk, out, ds, outElem, isz);
      return;
    }
    // Too far apart to read at once: split along the largest storage stride, whose slices are the narrowest.
    const k = ds.reduce((best, d, i) => (d.s > ds[best].s ? i : best), 0);
    const rest = ds.filter((_, i) => i !== k);
    for (let j = 0; j < ds[k].n; j++) await gather(rest, elem + j * ds[k].s, outElem + j * ds[k].o);
  };
  await gather(dims, t.offset, 0);
  if (bigEndian) {
    if (isz === 2) out.swap16();
    else if (isz === 4) out.swap32();
    else if (isz === 8) out.swap64();
  }
  return out;
}

/** Tile side for copying the two innermost dimensions: a transpose then reads and writes whole cache lines. */
const TILE = 64;

/** Copies the elements `dims` reach from `src` (the storage from the view's first element) to `dst` in C order. */
function copyStrided(src: Buffer, dst: Buffer, dims: Dim[], outElem: number, isz: number): void {
  const w = isz === 8 ? 2 : 1; // 8-byte elements move as two 32-bit words (no float64 NaN canonicalised)
  const S = wordView(src, isz);
  const D = wordView(dst, isz);
  const ds: Dim[] = [{ n: 1, s: 0, o: 0 }, { n: 1, s: 0, o: 0 }, ...dims].slice(-Math.max(dims.length, 2));
  const [A, B] = ds.slice(-2);
  const outer = ds.slice(0, -2);
  const idx = new Array<number>(outer.length).fill(0);
  const rows = outer.reduce((a, d) => a * d.n, 1);
  for (let r = 0; r < rows; r++) {
    let s0 = 0;
    let o0 = outElem;
    for (let d = 0; d < outer.length; d++) {
      s0 += idx[d] * outer[d].s;
      o0 += idx[d] * outer[d].o;
    }
    if (B.s === 1 && B.o === 1) {
      // rows contiguous on both sides
      for (let i = 0; i < A.n; i++) D.set(S.subarray((s0 + i * A.s) * w, (s0 + i * A.s + B.n) * w), (o0 + i * A.o) * w);
    } else {
      for (let i0 = 0; i0 < A.n; i0 += TILE) {
        const iEnd = Math.min(i0 + TILE, A.n);
        for (let j0 = 0; j0 < B.n; j0 += TILE) {
          const jEnd = Math.min(j0 + TILE, B.n);
          for (let i = i0; i < iEnd; i++) {
            const sa = s0 + i * A.s;
            const oa = o0 + i * A.o;
            for (let j = j0; j < jEnd; j++) {
              const a = (sa + j * B.s) * w;
              const b = (oa + j * B.o) * w;
              D[b] = S[a];
              if (w === 2) D[b + 1] = S[a + 1];
            }
          }
        }
      }
    }
    for (let d = outer.length - 1; d >= 0; d--) {
      if (++idx[d] < outer[d].n) break;
      idx[d] = 0;
    }
  }
}

function wordView(b: Buffer, isz: number): Uint8Array | Uint16Array | Uint32Array {
  if (isz === 1) return new Uint8Array(b.buffer, b.byteOffset, b.length);
  if (isz === 2) return new Uint16Array(b.buffer, b.byteOffset, b.length / 2);
  return new Uint32Array(b.buffer, b.byteOffset, b.length / 4);
}

let halfToFloatBits: Uint32Array | undefined;

/** float32 bits of every float16 (subnormals normalised, NaN payloads kept, as torch's conversion does). */
function halfTable(): Uint32Array {
  if (halfToFloatBits) return halfToFloatBits;
  const t = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    let mant = h & 0x3ff;
    if (exp === 0x1f) t[h] = sign | 0x7f800000 | (mant << 13);
    else if (exp !== 0) t[h] = sign | ((exp + 112) << 23) | (mant << 13);
    else if (mant === 0) t[h] = sign;
    else {
      let e = 113;
      while (!(mant & 0x400)) {
        mant <<= 1;
        e--;
      }
      t[h] = sign | (e << 23) | ((mant & 0x3ff) << 13);
    }
  }
  return (halfToFloatBits = t);
}

/** A float tensor's little-endian bytes as float32, as torch's .float() gives them (float64 rounds to nearest even). */
export function toFloat32(bytes: Buffer, dtype: 'float32' | 'float16' | 'bfloat16' | 'float64'): Float32Array {
  const n = bytes.length / ITEM_SIZE[dtype];
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : Buffer.from(bytes); // a copy from the pool is 8-aligned
  if (dtype === 'float32') {
    bits.set(new Uint32Array(aligned.buffer, aligned.byteOffset, n));
  } else if (dtype === 'float16' || dtype === 'bfloat16') {
    const h = new Uint16Array(aligned.buffer, aligned.byteOffset, n);
    if (dtype === 'bfloat16') for (let i = 0; i < n; i++) bits[i] = h[i] << 16;
    else {
      const table = halfTable();
      for (let i = 0; i < n; i++) bits[i] = table[h[i]];
    }
  } else {
    const d = new Float64Array(aligned.buffer, aligned.byteOffset, n);
    const w = new Uint32Array(aligned.buffer, aligned.byteOffset, 2 * n);
    for (let i = 0; i < n; i++) {
      const x = d[i];
      if (x === x) out[i] = x;
      else {
        const hi = w[2 * i + 1]; // NaN: sign, quiet bit and the top of the payload, as the CPU's conversion keeps them
        bits[i] = (hi & 0x80000000) | 0x7fc00000 | ((((hi & 0xfffff) << 3) | (w[2 * i] >>> 29)) & 0x7fffff);
      }
    }
  }
  return out;
}
