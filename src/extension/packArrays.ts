/**
 * What the host posts to a webview: every typed array of a message packed into one buffer.
 *
 * VS Code sends a message's typed arrays to the webview as the distinct buffers behind them. Engine replies arrive
 * through Node's IPC (`serialization: 'advanced'`), whose deserializer makes typed arrays views into shared memory
 * (small ones into Node's 8 KB Buffer pool, large ones into the whole reply): a comparison of three models carries
 * 402 typed arrays over 60 such buffers, and reached the webview in code-server with most of its token arrays empty;
 * with each array in a buffer of its own (402 buffers) it broke too. Packed into one buffer, every array arrives.
 */

const ALIGN = 8;

/**
 * A deep copy of plain objects and arrays in which every typed array (and DataView) is a view into one new
 * ArrayBuffer holding exactly their bytes; other values are kept as they are. A Node Buffer becomes a Uint8Array.
 */
export function packArrays<T>(value: T): T {
  const views: ArrayBufferView[] = [];
  const collect = (v: unknown): void => {
    if (ArrayBuffer.isView(v)) views.push(v);
    else if (Array.isArray(v)) v.forEach(collect);
    else if (isPlainObject(v)) Object.values(v).forEach(collect);
  };
  collect(value);
  if (views.length === 0) return value;
  let bytes = 0;
  for (const v of views) bytes += Math.ceil(v.byteLength / ALIGN) * ALIGN;
  const buffer = new ArrayBuffer(bytes);
  const bytesOf = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  let offset = 0;
  const place = (v: ArrayBufferView): ArrayBufferView => {
    new Uint8Array(buffer, offset, v.byteLength).set(bytesOf(v));
    const at = offset;
    offset += Math.ceil(v.byteLength / ALIGN) * ALIGN;
    if (v instanceof DataView || Buffer.isBuffer(v))
      return v instanceof DataView ? new DataView(buffer, at, v.byteLength) : new Uint8Array(buffer, at, v.byteLength);
    const Typed = v.constructor as new (b: ArrayBuffer, o: number, n: number) => ArrayBufferView;
    return new Typed(buffer, at, v.byteLength / (v as Uint8Array).BYTES_PER_ELEMENT);
  };
  const copy = (v: unknown): unknown => {
    if (ArrayBuffer.isView(v)) return place(v);
    if (Array.isArray(v)) return v.map(copy);
    if (isPlainObject(v)) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = copy(x);
      return out;
    }
    return v;
  };
  return copy(value) as T;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
}
