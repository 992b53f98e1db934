/**
 * Tiny ONNX graphs for tests that need a graph no exporter would make: an encoder whose `Loop` never ends (no trip
 * count, a condition that stays true). Written with the engine's protobuf writer (src/engine/runtime/onnxProto.ts).
 */
import {
  BOOL,
  bytes,
  FLOAT,
  graphAttr,
  initializer,
  INT64,
  intsAttr,
  model,
  msg,
  node,
  valueInfo,
} from '../../src/engine/runtime/onnxProto';

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
  return model(graph, 17);
}
