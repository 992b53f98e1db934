/**
 * Tiny ONNX graphs written straight as protobuf, for tests that need a graph no exporter would make: an encoder
 * whose `Loop` never ends (no trip count, a condition that stays true).
 *
 * Wire format (onnx.proto): ModelProto ir_version = 1, graph = 7, opset_import = 8 (version = 2); GraphProto node = 1,
 * name = 2, initializer = 5, input = 11, output = 12; NodeProto input = 1, output = 2, op_type = 4, attribute = 5;
 * AttributeProto name = 1, g = 6, ints = 8, type = 20; ValueInfoProto name = 1, type = 2; TypeProto tensor_type = 1
 * (elem_type = 1, shape = 2); TensorShapeProto dim = 1 (dim_value = 1, dim_param = 2); TensorProto dims = 1,
 * data_type = 2, name = 8, raw_data = 9.
 */

const FLOAT = 1;
const INT64 = 7;
const BOOL = 9;

function varint(v: number): number[] {
  const out: number[] = [];
  for (; v > 0x7f; v = Math.floor(v / 128)) out.push((v & 0x7f) | 0x80);
  out.push(v);
  return out;
}

/** A varint field. */
const int = (num: number, v: number): Buffer => Buffer.from([...varint(num << 3), ...varint(v)]);
/** A length-delimited field (bytes, text or a sub-message). */
function bytes(num: number, data: Buffer | string): Buffer {
  const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return Buffer.concat([Buffer.from([...varint((num << 3) | 2), ...varint(b.length)]), b]);
}
const msg = (...parts: Buffer[]): Buffer => Buffer.concat(parts);

/** A tensor type; `dims` null: no shape; a string: a named dynamic axis. */
function valueInfo(name: string, elemType: number, dims: Array<number | string> | null): Buffer {
  const shape = dims && msg(...dims.map((d) => bytes(1, typeof d === 'number' ? int(1, d) : bytes(2, d))));
  const tensorType = msg(int(1, elemType), ...(shape ? [bytes(2, shape)] : []));
  return msg(bytes(1, name), bytes(2, bytes(1, tensorType)));
}

function node(op: string, inputs: string[], outputs: string[], attributes: Buffer[] = []): Buffer {
  return msg(...inputs.map((i) => bytes(1, i)), ...outputs.map((o) => bytes(2, o)), bytes(4, op), ...attributes.map((a) => bytes(5, a)));
}

const intsAttr = (name: string, values: number[]): Buffer => msg(bytes(1, name), ...values.map((v) => int(8, v)), int(20, 7));
const graphAttr = (name: string, g: Buffer): Buffer => msg(bytes(1, name), bytes(6, g), int(20, 5));

function initializer(name: string, dataType: number, dims: number[], raw: Buffer): Buffer {
  return msg(...dims.map((d) => int(1, d)), int(2, dataType), bytes(8, name), bytes(9, raw));
}

function int64s(values: number[]): Buffer {
  const b = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => b.writeBigInt64LE(BigInt(v), 8 * i));
  return b;
}

/**
 * An encoder graph with the fixture bundle's signature (image [B, 3, S, S] -> f [B, C, S/down, S/down]) that never
 * returns: f is computed (mean-pooled, tiled to C channels), then passed through a `Loop` with no trip count whose
 * condition stays true, so the run spins until the process is stopped.
 */
export function endlessEncoder(imageSize: number, downsample: number, channels: number): Buffer {
  const h = imageSize / downsample;
  const body = msg(
    bytes(1, node('Identity', ['condIn'], ['condOut'])),
    bytes(1, node('Identity', ['vIn'], ['vOut'])),
    bytes(2, 'forever'),
    bytes(11, valueInfo('iter', INT64, [])),
    bytes(11, valueInfo('condIn', BOOL, [])),
    bytes(11, valueInfo('vIn', FLOAT, null)),
    bytes(12, valueInfo('condOut', BOOL, [])),
    bytes(12, valueInfo('vOut', FLOAT, null)),
  );
  const graph = msg(
    bytes(
      1,
      node(
        'AveragePool',
        ['image'],
        ['pooled'],
        [intsAttr('kernel_shape', [downsample, downsample]), intsAttr('strides', [downsample, downsample])],
      ),
    ),
    bytes(1, node('ReduceMean', ['pooled'], ['mean'], [intsAttr('axes', [1])])),
    bytes(1, node('Tile', ['mean', 'repeats'], ['f0'])),
    bytes(1, node('Loop', ['', 'alwaysTrue', 'f0'], ['f'], [graphAttr('body', body)])),
    bytes(2, 'endlessEncoder'),
    bytes(5, initializer('repeats', INT64, [4], int64s([1, channels, 1, 1]))),
    bytes(5, initializer('alwaysTrue', BOOL, [], Buffer.from([1]))),
    bytes(11, valueInfo('image', FLOAT, ['B', 3, imageSize, imageSize])),
    bytes(12, valueInfo('f', FLOAT, ['B', channels, h, h])),
  );
  return msg(int(1, 8), bytes(7, graph), bytes(8, msg(bytes(1, ''), int(2, 17))));
}
