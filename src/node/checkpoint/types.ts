/**
 * What the checkpoint reader gives: tensors as lazy entries (dtype, shape, and a read() of their bytes), grouped by
 * role into the flat state_dicts the Python exporter loads, with the trainer's plain metadata.
 */

/** The tensor dtypes the reader reads (the bundle's and the official checkpoints'; no complex or quantized types). */
export type TensorDtype = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** One tensor of a checkpoint; nothing is read until read() is called. */
export interface TensorEntry {
  /** Its key in the role's canonical state_dict. */
  key: string;
  dtype: TensorDtype;
  /** Sizes, outermost first ([] for a scalar). */
  shape: number[];
  /** The bytes read() returns: numel × itemsize. */
  byteLength: number;
  /** The tensor's elements, contiguous (C order), little-endian, in its own dtype. */
  read(): Promise<Buffer>;
}

/** A flat state_dict: key -> tensor, in the file's order. */
export type StateDict = Map<string, TensorEntry>;

/** The two models a checkpoint may hold. */
export type CheckpointRole = 'vae' | 'var';

/**
 * A checkpoint opened for reading: its state_dicts by role and the trainer's metadata; close() when done. An Infinity
 * checkpoint (`family: 'infinity'`) has its BSQ VAE as the `vae` role and its transformer as the `var` role.
 */
export interface CheckpointContents {
  file: string;
  format: 'torch-zip' | 'safetensors';
  family: 'var' | 'infinity';
  roles: { vae?: StateDict; var?: StateDict };
  /** The official trainer's `epoch`, `iter`, `args` and `trainer.config` (as JSON-able data), where the file has them. */
  meta: { epoch?: number; iter?: number; args?: unknown; trainerConfig?: unknown };
  close(): Promise<void>;
}

/** Bytes per element of each dtype. */
export const ITEM_SIZE: Readonly<Record<TensorDtype, number>> = {
  float64: 8,
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};
