/**
 * What a checkpoint reader gives: the tensors of one model (role 'vae' or 'var') by canonical key, each read when
 * asked, so that a caller holds one tensor at a time.
 */

/** Element types a checkpoint tensor may have. */
export type TensorDtype = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** One tensor of a checkpoint: its key, element type, shape and size, and its bytes (little-endian, row-major) on demand. */
export interface TensorEntry {
  key: string;
  dtype: TensorDtype;
  shape: number[];
  byteLength: number;
  read(): Promise<Buffer>;
}

/** A model's tensors by canonical key. */
export type StateDict = Map<string, TensorEntry>;
