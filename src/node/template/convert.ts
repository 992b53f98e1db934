/**
 * Checkpoint tensor bytes to the element types a bundle stores, exactly as the Python exporter converts them: float16
 * and bfloat16 widen to float32 exactly, float64 rounds to float32 and float32 to float16 round-half-to-even (numpy's
 * astype), integers keep their values.
 */
import type { TensorDtype } from '../checkpoint/types';
import { toFloat32 as widenToFloat32 } from '../checkpoint/tensorRead';

/** Element types a bundle's weight files hold. */
export type StoredDtype = 'float32' | 'float16' | 'int64' | 'int32';

const FLOAT_SOURCES: ReadonlySet<TensorDtype> = new Set(['float32', 'float16', 'bfloat16', 'float64']);

/** Bytes per element of a checkpoint or stored dtype. */
export function itemSize(dtype: TensorDtype | StoredDtype): number {
  switch (dtype) {
    case 'float64':
    case 'int64':
      return 8;
    case 'float32':
    case 'int32':
      return 4;
    case 'float16':
    case 'bfloat16':
    case 'int16':
      return 2;
    default:
      return 1;
  }
}

/** Whether a checkpoint dtype holds floating-point values. */
export function isFloatDtype(dtype: TensorDtype): boolean {
  return FLOAT_SOURCES.has(dtype);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float value of IEEE half bits. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** IEEE half bits of a float32 value (given as its bits), rounded half to even; NaN stays NaN (numpy's rules). */
export function floatBitsToHalf(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let m = x & 0x7fffff;
  if (exp === 0xff) {
    if (!m) return sign | 0x7c00;
    const nan = 0x7c00 + (m >>> 13);
    return sign | (nan === 0x7c00 ? nan + 1 : nan);
  }
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflows to infinity
  if (e <= 0) {
    // a half subnormal (or zero): the value in units of 2^-24 is (1.m) shifted right by 14 - e
    if (e < -10) return sign;
    m |= 0x800000;
    const shift = 14 - e;
    const kept = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    return sign | (rest > halfway || (rest === halfway && kept & 1) ? kept + 1 : kept);
  }
  const h = sign | (e << 10) | (m >>> 13);
  const rest = m & 0x1fff;
  // a carry out of the mantissa correctly moves to the next binade (or to infinity)
  return rest > 0x1000 || (rest === 0x1000 && h & 1) ? h + 1 : h;
}

/** A view of `bytes` as `T`, copied first when its offset is not aligned to the element size. */
function aligned(bytes: Buffer, size: number): ArrayBuffer {
  if (bytes.byteOffset % size === 0) return bytes.buffer as ArrayBuffer;
  return new Uint8Array(bytes).buffer;
}

function offsetOf(bytes: Buffer, size: number): number {
  return bytes.byteOffset % size === 0 ? bytes.byteOffset : 0;
}

/** The values of a float tensor's bytes as float32 (float64 rounds to nearest, the others widen exactly); float32 is a view. */
export function toFloat32(bytes: Buffer, dtype: TensorDtype, count: number): Float32Array {
  if (dtype === 'float32') return new Float32Array(aligned(bytes, 4), offsetOf(bytes, 4), count);
  if (dtype !== 'float16' && dtype !== 'bfloat16' && dtype !== 'float64') throw new Error(`toFloat32: ${dtype} is not a float dtype`);
  return widenToFloat32(bytes.subarray(0, count * itemSize(dtype)), dtype);
}

/** float32 values rounded to float16 (half bits), round half to even. */
export function toFloat16Bits(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = floatBitsToHalf(bits[i]);
  return out;
}

/** float32 values rounded to the nearest float16 value, kept as float32. */
export function roundThroughFloat16(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i];
    out[i] = halfToFloat(floatBitsToHalf(u32[0]));
  }
  return out;
}

/** The values of an integer or bool tensor's bytes as BigInt64 (for an int64 store) or numbers. */
export function toIntegers(bytes: Buffer, dtype: TensorDtype, count: number): BigInt64Array {
  const out = new BigInt64Array(count);
  switch (dtype) {
    case 'int64':
      out.set(new BigInt64Array(aligned(bytes, 8), offsetOf(bytes, 8), count));
      return out;
    case 'int32': {
      const a = new Int32Array(aligned(bytes, 4), offsetOf(bytes, 4), count);
      for (let i = 0; i < count; i++) out[i] = BigInt(a[i]);
      return out;
    }
    case 'int16': {
      const a = new Int16Array(aligned(bytes, 2), offsetOf(bytes, 2), count);
      for (let i = 0; i < count; i++) out[i] = BigInt(a[i]);
      return out;
    }
    case 'int8':
      for (let i = 0; i < count; i++) out[i] = BigInt(bytes.readInt8(i));
      return out;
    case 'uint8':
    case 'bool':
      for (let i = 0; i < count; i++) out[i] = BigInt(bytes[i]);
      return out;
    default:
      throw new Error(`toIntegers: ${dtype} is not an integer dtype`);
  }
}

/**
 * Elements of a row-major array picked through a strided view: out[i0, i1, ...] = src[start + Σ ik * strides[k]]
 * (a transpose or any other view torch.onnx folded).
 */
export function gatherView<T extends Float32Array | BigInt64Array>(src: T, shape: number[], strides: number[], start: number): T {
  const count = shape.reduce((a, b) => a * b, 1);
  const out = new (src.constructor as new (n: number) => T)(count);
  if (shape.length === 2) {
    // A folded transpose (torch.onnx stores Linear weights transposed): copied in tiles that stay in the CPU's cache.
    const [rows, cols] = shape;
    const TILE = 64;
    for (let i0 = 0; i0 < rows; i0 += TILE)
      for (let j0 = 0; j0 < cols; j0 += TILE) {
        const i1 = Math.min(i0 + TILE, rows);
        const j1 = Math.min(j0 + TILE, cols);
        for (let i = i0; i < i1; i++) {
          let at = start + i * strides[0] + j0 * strides[1];
          for (let o = i * cols + j0, end = i * cols + j1; o < end; o++, at += strides[1]) out[o] = src[at];
        }
      }
    return out;
  }
  const index = new Array<number>(shape.length).fill(0);
  let at = start;
  for (let i = 0; i < count; i++) {
    out[i] = src[at];
    for (let k = shape.length - 1; k >= 0; k--) {
      if (++index[k] < shape[k]) {
        at += strides[k];
        break;
      }
      at -= (shape[k] - 1) * strides[k];
      index[k] = 0;
    }
  }
  return out;
}
