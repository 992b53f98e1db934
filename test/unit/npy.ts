/**
 * A small .npy reader for the reference fixtures (little-endian float32 / float16 / int64 / bool, C order).
 */
import * as fs from 'fs';
import type { StateDict, TensorDtype, TensorEntry } from '../../src/node/checkpoint/types';

/** An array read from .npy. */
export interface NpyArray {
  dtype: string;
  shape: number[];
  /** float16 is widened to float32, int64 to numbers, bool to 0/1. */
  data: Float32Array | Float64Array | Uint8Array | BigInt64Array;
}

/** Read a .npy file. */
export function readNpy(file: string): NpyArray {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file} is not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  if (!descr || fortran) throw new Error(`${file}: unsupported header ${header}`);
  const n = shape.reduce((a, b) => a * b, 1);
  const body = new Uint8Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length));
  switch (descr) {
    case '<f4':
      return { dtype: 'float32', shape, data: new Float32Array(body.buffer, 0, n) };
    case '<f8':
      return { dtype: 'float64', shape, data: new Float64Array(body.buffer, 0, n) };
    case '<i8':
      return { dtype: 'int64', shape, data: new BigInt64Array(body.buffer, 0, n) };
    case '<i4': // widened to int64
      return { dtype: 'int64', shape, data: BigInt64Array.from(new Int32Array(body.buffer, 0, n), (v) => BigInt(v)) };
    case '|b1':
    case '|u1':
      return { dtype: descr === '|b1' ? 'bool' : 'uint8', shape, data: body.subarray(0, n) };
    case '<f2': {
      const h = new Uint16Array(body.buffer, 0, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(h[i]);
      return { dtype: 'float16', shape, data: out };
    }
    default:
      throw new Error(`${file}: dtype ${descr} not supported`);
  }
}

/** int64 data as numbers. */
export function npyInts(a: NpyArray): Int32Array {
  if (!(a.data instanceof BigInt64Array)) throw new Error(`expected int64, got ${a.dtype}`);
  return Int32Array.from(a.data, (v) => Number(v));
}

/** float data (float32 or widened float16). */
export function npyFloats(a: NpyArray): Float32Array {
  if (!(a.data instanceof Float32Array)) throw new Error(`expected float32/float16, got ${a.dtype}`);
  return a.data;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Max |a - b| over two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const NPY_DTYPES: Record<string, TensorDtype> = {
  '<f4': 'float32',
  '<f2': 'float16',
  '<f8': 'float64',
  '<i8': 'int64',
  '<i4': 'int32',
  '|b1': 'bool',
  '|u1': 'uint8',
};

/** A .npy file as a checkpoint tensor: the header is read now, the values when read() is called (each time). */
export function npyTensor(file: string, key: string): TensorEntry {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(12);
    fs.readSync(fd, head, 0, 12, 0);
    if (head.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file} is not a .npy file`);
    const major = head[6];
    const headerLen = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
    const start = (major === 1 ? 10 : 12) + headerLen;
    const header = Buffer.alloc(headerLen);
    fs.readSync(fd, header, 0, headerLen, start - headerLen);
    const text = header.toString('latin1');
    const dtype = NPY_DTYPES[/'descr':\s*'([^']+)'/.exec(text)?.[1] ?? ''];
    if (!dtype || /'fortran_order':\s*True/.test(text)) throw new Error(`${file}: unsupported header ${text}`);
    const shape = (/'shape':\s*\(([^)]*)\)/.exec(text)?.[1] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map(Number);
    const byteLength = fs.fstatSync(fd).size - start;
    return { key, dtype, shape, byteLength, read: async () => (await fs.promises.readFile(file)).subarray(start) };
  } finally {
    fs.closeSync(fd);
  }
}

/** A folder of `<key>.npy` files as a state_dict (python/tests/template_fixtures.py writes them). */
export function npyStateDict(dir: string): StateDict {
  const sd: StateDict = new Map();
  for (const file of fs.readdirSync(dir).sort())
    if (file.endsWith('.npy')) sd.set(file.slice(0, -4), npyTensor(`${dir}/${file}`, file.slice(0, -4)));
  return sd;
}

/** Write float32 values [shape] as a .npy file (version 1.0, C order). */
export function writeNpyFloat32(file: string, shape: number[], data: Float32Array): void {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n'; // the data starts at a multiple of 64
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}
