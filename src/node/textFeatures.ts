/**
 * Caption features given as a file (a T5 encoder's last_hidden_state, computed elsewhere): `.npy` (float32, C order)
 * or `.safetensors` (one tensor, float32 / float16 / bfloat16), shaped [N, width] or [1, N, width].
 */
import * as fs from 'fs';
import * as path from 'path';
import { TEXT_FEATURE_EXTENSIONS } from '../shared/textCondition';
import { VarScopeError } from '../shared/errors';
import { CheckpointFile } from './checkpoint/checkpointFile';
import { readSafetensorsHeader } from './checkpoint/safetensors';
import { toFloat32 } from './checkpoint/tensorRead';
import { readCapped } from './readCapped';

/** Largest features file read (a 512-token caption of 4096 floats is 8 MB). */
const MAX_FEATURES_BYTES = 256 * 2 ** 20;

/** One caption's features: `tokens` rows of `width` floats. */
export interface TextFeatures {
  features: Float32Array;
  tokens: number;
  width: number;
}

/** Read a caption's features; a BadRequest of one line when the file is not [N, width] floats. */
export async function readTextFeatures(file: string, width: number): Promise<TextFeatures> {
  const bad = (why: string) =>
    new VarScopeError('BadRequest', `${file}: ${why} (text features: [N, ${width}] float32, .npy or .safetensors)`);
  const ext = path.extname(file).toLowerCase();
  let shape: number[];
  let features: Float32Array;
  if (ext === '.npy') {
    const buf = await readCapped(file, MAX_FEATURES_BYTES, 'BadRequest', 'text features');
    if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw bad('not a .npy file');
    const v1 = buf[6] === 1;
    const headerLength = v1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
    const start = (v1 ? 10 : 12) + headerLength;
    const header = buf.toString('latin1', v1 ? 10 : 12, start);
    const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
    const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
    if (descr !== '<f4') throw bad(`dtype ${descr ?? '?'}, not float32`);
    if (/'fortran_order':\s*True/.test(header)) throw bad('Fortran order');
    shape = (shapeText ?? '')
      .split(',')
      .filter((x) => x.trim())
      .map(Number);
    const n = shape.reduce((a, b) => a * b, 1);
    if (buf.length - start !== n * 4) throw bad(`${buf.length - start} data bytes for shape [${shape}]`);
    features = new Float32Array(n);
    new Uint8Array(features.buffer).set(buf.subarray(start));
  } else if (ext === '.safetensors') {
    const f = await CheckpointFile.open(file);
    try {
      const tensors = await readSafetensorsHeader(f);
      if (tensors.length !== 1) throw bad(`${tensors.length} tensors, expected one`);
      const [t] = tensors;
      if (t.dtype !== 'float32' && t.dtype !== 'float16' && t.dtype !== 'bfloat16') throw bad(`dtype ${t.dtype}`);
      shape = t.shape;
      // the size first: a features file beside an image is found and read unasked
      if (t.end - t.begin > MAX_FEATURES_BYTES) throw bad(`${t.end - t.begin} bytes of features, more than ${MAX_FEATURES_BYTES}`);
      // readSafetensorsHeader checked that the tensors fill the data section, which ends the file: one tensor is all of it
      const bytes = await f.read(f.size - (t.end - t.begin), t.end - t.begin, 'the features');
      features = toFloat32(bytes, t.dtype);
    } finally {
      await f.close();
    }
  } else {
    throw bad(`unknown extension ${ext || '(none)'}`);
  }
  if (shape.length === 3 && shape[0] === 1) shape = shape.slice(1);
  if (shape.length !== 2 || shape[1] !== width) throw bad(`shape [${shape}]`);
  if (shape[0] < 1) throw bad('no caption tokens');
  const firstBad = features.findIndex((v) => !Number.isFinite(v));
  if (firstBad >= 0) throw bad(`a non-finite value at element ${firstBad}`);
  return { features, tokens: shape[0], width };
}

/** The features file beside an image with its basename (`cat.npy`, else `cat.safetensors` for `cat.png`), or null. */
export function featuresBesideImage(imagePath: string): string | null {
  const stem = path.join(path.dirname(imagePath), path.parse(imagePath).name);
  for (const ext of TEXT_FEATURE_EXTENSIONS) if (fs.statSync(stem + ext, { throwIfNoEntry: false })?.isFile()) return stem + ext;
  return null;
}
