/**
 * ONNX graphs written straight as protobuf, for graphs the engine builds in memory (the matrix products that measure
 * the machine's rate, matmulRate.ts) and tests that need a graph no exporter would make.
 *
 * Wire format (onnx.proto): ModelProto ir_version = 1, graph = 7, opset_import = 8 (version = 2); GraphProto node = 1,
 * name = 2, initializer = 5, input = 11, output = 12; NodeProto input = 1, output = 2, op_type = 4, attribute = 5;
 * AttributeProto name = 1, g = 6, ints = 8, type = 20; ValueInfoProto name = 1, type = 2; TypeProto tensor_type = 1
 * (elem_type = 1, shape = 2); TensorShapeProto dim = 1 (dim_value = 1, dim_param = 2); TensorProto dims = 1,
 * data_type = 2, name = 8, raw_data = 9.
 */

import { floatBitsToHalf } from '../../node/template/convert';

/** ONNX element types. */
export const FLOAT = 1;
export const INT64 = 7;
export const FLOAT16 = 10;
export const BOOL = 9;

function varint(v: number): number[] {
  const out: number[] = [];
  for (; v > 0x7f; v = Math.floor(v / 128)) out.push((v & 0x7f) | 0x80);
  out.push(v);
  return out;
}

/** A varint field. */
export const int = (num: number, v: number): Buffer => Buffer.from([...varint(num << 3), ...varint(v)]);

/** A length-delimited field (bytes, text or a sub-message). */
export function bytes(num: number, data: Buffer | string): Buffer {
  const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return Buffer.concat([Buffer.from([...varint((num << 3) | 2), ...varint(b.length)]), b]);
}

/** Fields joined into one message. */
export const msg = (...parts: Buffer[]): Buffer => Buffer.concat(parts);

/** A graph input or output of a tensor type; `dims` null: no shape; a string: a named dynamic axis. */
export function valueInfo(name: string, elemType: number, dims: Array<number | string> | null): Buffer {
  const shape = dims && msg(...dims.map((d) => bytes(1, typeof d === 'number' ? int(1, d) : bytes(2, d))));
  const tensorType = msg(int(1, elemType), ...(shape ? [bytes(2, shape)] : []));
  return msg(bytes(1, name), bytes(2, bytes(1, tensorType)));
}

/** A node (its attributes already encoded). */
export function node(op: string, inputs: string[], outputs: string[], attributes: Buffer[] = []): Buffer {
  return msg(...inputs.map((i) => bytes(1, i)), ...outputs.map((o) => bytes(2, o)), bytes(4, op), ...attributes.map((a) => bytes(5, a)));
}

/** An attribute holding integers. */
export const intsAttr = (name: string, values: number[]): Buffer => msg(bytes(1, name), ...values.map((v) => int(8, v)), int(20, 7));

/** An attribute holding a subgraph. */
export const graphAttr = (name: string, g: Buffer): Buffer => msg(bytes(1, name), bytes(6, g), int(20, 5));

/** A weight stored in the graph. */
export function initializer(name: string, dataType: number, dims: number[], raw: Buffer): Buffer {
  return msg(...dims.map((d) => int(1, d)), int(2, dataType), bytes(8, name), bytes(9, raw));
}

/** A model of one graph (its fields already encoded) at an opset. */
export const model = (graph: Buffer, opset: number): Buffer => msg(int(1, 8), bytes(7, graph), bytes(8, msg(bytes(1, ''), int(2, opset))));

/**
 * Matrix products of one activation per width: for each [k, n] of `shapes`, y_i = x_k [m, k] × w_i [k, n] with w_i a
 * weight of the graph (random values, or `weights`' values for one i), as a transformer's linear layers are; in float32,
 * or all in float16 (activations, weights and products: float16 compute).
 */
export function matMulModel(
  m: number,
  shapes: Array<[number, number]>,
  elemType: typeof FLOAT | typeof FLOAT16 = FLOAT,
  weights?: (i: number) => Float32Array,
): Buffer {
  const widths = [...new Set(shapes.map(([k]) => k))];
  const weight = (i: number, k: number, n: number): Buffer => {
    const w = weights?.(i) ?? Float32Array.from({ length: k * n }, () => Math.random() - 0.5);
    if (elemType === FLOAT) return Buffer.from(w.buffer, w.byteOffset, w.byteLength);
    const bits = new Uint32Array(w.buffer, w.byteOffset, w.length);
    return Buffer.from(Uint16Array.from(bits, floatBitsToHalf).buffer);
  };
  const graph = msg(
    ...shapes.map(([k], i) => bytes(1, node('MatMul', [`x${k}`, `w${i}`], [`y${i}`]))),
    bytes(2, 'matmuls'),
    ...shapes.map(([k, n], i) => bytes(5, initializer(`w${i}`, elemType, [k, n], weight(i, k, n)))),
    ...widths.map((k) => bytes(11, valueInfo(`x${k}`, elemType, [m, k]))),
    ...shapes.map(([, n], i) => bytes(12, valueInfo(`y${i}`, elemType, [m, n]))),
  );
  return model(graph, 17);
}
