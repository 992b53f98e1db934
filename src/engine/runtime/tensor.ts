/**
 * Host-side tensors: what the engine hands to and gets from a graph, independent of onnxruntime's types.
 */

/** Element types the bundle graphs use. */
export type TensorDType = 'float32' | 'int64' | 'float16' | 'uint8';

/** A dense row-major tensor in host memory. */
export interface HostTensor {
  dtype: TensorDType;
  dims: number[];
  data: Float32Array | BigInt64Array | Uint16Array | Uint8Array;
}

/** Number of elements of a shape. */
export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/**
 * The tensors with data that fill their buffers exactly (copied where they are views), so that posting one to
 * another thread moves or clones that tensor and no more than it.
 */
export function ownBuffers(tensors: Record<string, HostTensor>): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  for (const [name, t] of Object.entries(tensors)) {
    const whole = t.data.byteOffset === 0 && t.data.byteLength === t.data.buffer.byteLength;
    out[name] = whole ? t : { ...t, data: t.data.slice() as HostTensor['data'] };
  }
  return out;
}

/** A float32 tensor; `data` defaults to zeros. */
export function f32(dims: number[], data?: Float32Array): HostTensor {
  const n = numel(dims);
  if (data && data.length !== n) throw new Error(`float32 tensor [${dims}] needs ${n} values, got ${data.length}`);
  return { dtype: 'float32', dims, data: data ?? new Float32Array(n) };
}

/** An int64 tensor from plain numbers (token ids, labels, indices). */
export function i64(dims: number[], values: ArrayLike<number>): HostTensor {
  const n = numel(dims);
  if (values.length !== n) throw new Error(`int64 tensor [${dims}] needs ${n} values, got ${values.length}`);
  const data = new BigInt64Array(n);
  for (let i = 0; i < n; i++) data[i] = BigInt(values[i]);
  return { dtype: 'int64', dims, data };
}

/** A uint8 tensor (Infinity's bits). */
export function u8(dims: number[], data: Uint8Array): HostTensor {
  const n = numel(dims);
  if (data.length !== n) throw new Error(`uint8 tensor [${dims}] needs ${n} values, got ${data.length}`);
  return { dtype: 'uint8', dims, data };
}

/** The uint8 data of a tensor, or an error naming it. */
export function asU8(t: HostTensor, name: string): Uint8Array {
  if (!(t.data instanceof Uint8Array)) throw new Error(`${name}: expected uint8, got ${t.dtype}`);
  return t.data;
}

/** The float32 data of a tensor, or an error naming it. */
export function asF32(t: HostTensor, name: string): Float32Array {
  if (!(t.data instanceof Float32Array)) throw new Error(`${name}: expected float32, got ${t.dtype}`);
  return t.data;
}

/** int64 data as an Int32Array (token ids fit). */
export function asI32(t: HostTensor, name: string): Int32Array {
  if (!(t.data instanceof BigInt64Array)) throw new Error(`${name}: expected int64, got ${t.dtype}`);
  const out = new Int32Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Number(t.data[i]);
  return out;
}

/** A row-major nested number array ([[..],[..]]) flattened to float32, with its dims checked. */
export function fromNested(rows: number[][], dims: [number, number], name: string): Float32Array {
  if (rows.length !== dims[0] || rows.some((r) => r.length !== dims[1])) {
    throw new Error(`${name}: expected a ${dims[0]}x${dims[1]} matrix`);
  }
  const out = new Float32Array(dims[0] * dims[1]);
  rows.forEach((r, i) => out.set(r, i * dims[1]));
  return out;
}
