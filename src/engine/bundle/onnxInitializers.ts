/**
 * The initializers of an ONNX file (name, dims, where their bytes are), read straight from the protobuf without
 * loading any weights: onnxruntime reports a graph's inputs and outputs but not its weights, and the shapes of a
 * few weights state model facts (classes, width) that varscope.json must agree with.
 *
 * Wire format (protobuf): ModelProto.graph = 7; GraphProto.initializer = 5; TensorProto.dims = 1 (int64, packed or
 * not), data_type = 2, name = 8, external_data = 13 (StringStringEntryProto key = 1, value = 2).
 */
import { quoted } from '../../shared/errors';

/** One initializer: its name, dims and, when stored outside the file, the external data entries. */
export interface Initializer {
  name: string;
  dims: number[];
  dataType: number;
  /** location / offset / length when the tensor lives in an external data file. */
  external?: Record<string, string>;
}

/** The initializers of a serialized ModelProto; throws on a malformed message. */
export function readInitializers(bytes: Uint8Array): Initializer[] {
  const out: Initializer[] = [];
  for (const f of fields(bytes)) {
    if (f.num !== 7 || !f.bytes) continue; // graph
    for (const g of fields(f.bytes)) if (g.num === 5 && g.bytes) out.push(tensor(g.bytes));
  }
  return out;
}

function tensor(bytes: Uint8Array): Initializer {
  const t: Initializer = { name: '', dims: [], dataType: 0 };
  const text = new TextDecoder();
  for (const f of fields(bytes)) {
    if (f.num === 1 && f.value !== undefined) t.dims.push(f.value);
    else if (f.num === 1 && f.bytes)
      for (let at = 0; at < f.bytes.length;) {
        const [v, next] = varint(f.bytes, at);
        t.dims.push(v);
        at = next;
      }
    else if (f.num === 2 && f.value !== undefined) t.dataType = f.value;
    else if (f.num === 8 && f.bytes) t.name = text.decode(f.bytes);
    else if (f.num === 13 && f.bytes) {
      let key = '';
      let value = '';
      for (const e of fields(f.bytes)) {
        if (e.num === 1 && e.bytes) key = text.decode(e.bytes);
        if (e.num === 2 && e.bytes) value = text.decode(e.bytes);
      }
      (t.external ??= {})[key] = value;
    }
  }
  return t;
}

interface Field {
  num: number;
  /** varint fields */
  value?: number;
  /** length-delimited fields */
  bytes?: Uint8Array;
}

/** The top-level fields of one message (every loop advances or throws, so a corrupt file cannot spin). */
function* fields(buf: Uint8Array): Generator<Field> {
  let at = 0;
  while (at < buf.length) {
    const [key, next] = varint(buf, at);
    at = next;
    const num = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) {
      const [v, n] = varint(buf, at);
      at = n;
      yield { num, value: v };
    } else if (wire === 2) {
      const [len, n] = varint(buf, at);
      if (n + len > buf.length) throw new Error('protobuf field runs past the end of the file');
      yield { num, bytes: buf.subarray(n, n + len) };
      at = n + len;
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}

/** A varint at `at` (as a number: dims and lengths fit in 2^53) and the offset after it. */
function varint(buf: Uint8Array, at: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (at >= buf.length) throw new Error('protobuf varint runs past the end of the file');
    const b = buf[at++];
    v += (b & 0x7f) * mul;
    if (b < 0x80) return [v, at];
    mul *= 128;
  }
  throw new Error('protobuf varint longer than 10 bytes');
}

/**
 * Bytes per element of each ONNX data type (TensorProto.DataType: FLOAT = 1, UINT8, INT8, UINT16, INT16, INT32, INT64,
 * STRING, BOOL, FLOAT16, DOUBLE, UINT32, UINT64, COMPLEX64, COMPLEX128, BFLOAT16 = 16); 0 where it has none.
 */
const ELEMENT_BYTES = [0, 4, 1, 1, 2, 2, 4, 8, 0, 1, 2, 8, 4, 8, 8, 16, 2];

/** Where an initializer's bytes lie in its external data file. */
export interface ExternalRange {
  /** `location` as written in the graph. */
  location: string;
  offset: number;
  length: number;
}

/**
 * The byte range of an initializer stored as external data, checked: offset and length are byte counts, the range
 * ends by `fileBytes` (the size of the file it names), and the length is what the dims and data type need
 * (onnxruntime reads that many bytes when `length` is absent). Throws an Error naming the initializer and the field.
 */
export function externalRange(t: Initializer, fileBytes: number): ExternalRange {
  const ext = t.external ?? {};
  const field = (key: string): string | undefined => (Object.hasOwn(ext, key) ? ext[key] : undefined);
  const location = field('location') ?? '';
  const what = `initializer ${quoted(t.name)}: external data`;
  const count = (key: string): number | undefined => {
    const v = field(key);
    if (v === undefined) return undefined;
    const n = /^\d{1,16}$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n)) throw new Error(`${what} ${key} ${quoted(v)} is not a byte count`);
    return n;
  };
  const offset = count('offset') ?? 0;
  const size = ELEMENT_BYTES[t.dataType] || undefined;
  const need = size === undefined ? undefined : t.dims.reduce((a, d) => a * d, size);
  const length = count('length') ?? need;
  if (length === undefined) throw new Error(`${what} has no length and data type ${t.dataType}`);
  if (offset + length > fileBytes)
    throw new Error(`${what} offset ${offset} + length ${length} runs past the end of ${quoted(location)} (${fileBytes} bytes)`);
  if (need !== undefined && length !== need)
    throw new Error(`${what} length ${length}, its dims [${t.dims}] of data type ${t.dataType} need ${need} bytes`);
  return { location, offset, length };
}
