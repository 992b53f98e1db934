/**
 * Reads a checkpoint without Python and without running code from it: torch.save's zip format or safetensors, the
 * models found as the Python exporter finds them, each tensor read on demand (memory stays at one tensor).
 */
import { quoted } from '../../shared/errors';
import { checkpointError, CheckpointFile } from './checkpointFile';
import { candidates, canonicalVaeKeys, extract, infinityRole, plainData, type LazyStateDict } from './layouts';
import { isSafetensorsStart, readSafetensorsHeader, type SafetensorsTensor } from './safetensors';
import { LazyTensor, readStrided } from './tensorRead';
import { readTorchZip } from './torchZip';
import type { CheckpointContents, CheckpointRole, StateDict } from './types';
import { isZipStart, readZipDirectory } from './zipDirectory';

/** A legacy torch.save file starts with its pickled magic number: PROTO 2..5, then LONG1 of 10 bytes. */
function isLegacyTorch(head: Buffer): boolean {
  return head.length >= 4 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5 && head[2] === 0x8a && head[3] === 0x0a;
}

/** The models and metadata of a checkpoint file; close() the result. Refusals are one-line VarScopeErrors (ModelLoad). */
export async function readCheckpoint(file: string): Promise<CheckpointContents> {
  const f = await CheckpointFile.open(file);
  try {
    if (f.size === 0) throw checkpointError(file, 'empty file (0 bytes), not a checkpoint');
    const head = await f.read(0, Math.min(16, f.size), 'its first bytes');
    let obj: unknown;
    let format: CheckpointContents['format'];
    if (isZipStart(head)) {
      obj = await readTorchZip(f);
      format = 'torch-zip';
    } else if (isSafetensorsStart(head)) {
      const tensors = await readSafetensorsHeader(f);
      obj = new Map(tensors.map((t) => [t.name, safetensorsTensor(f, t)]));
      format = 'safetensors';
    } else if (isLegacyTorch(head)) {
      throw checkpointError(
        file,
        'a legacy torch.save file (the format before torch 1.6, or _use_new_zipfile_serialization=False), which only the Python export path reads',
      );
    } else {
      throw checkpointError(file, 'not a PyTorch checkpoint (neither a torch.save zip file nor safetensors)');
    }
    await f.checkUnchanged();
    const found = candidates(obj);
    if (!found.length) throw checkpointError(file, 'no tensors found (expected a state_dict or a trainer checkpoint)');
    const roles: CheckpointContents['roles'] = {};
    const family = found.some(([, sd]) => infinityRole(sd.keys())) ? 'infinity' : 'var';
    for (const role of ['vae', 'var'] as CheckpointRole[]) {
      const sd = extract(found, role, family);
      if (sd) roles[role] = entries(role === 'vae' && family === 'var' ? canonicalVaeKeys(sd) : sd, f);
    }
    if (!roles.vae && !roles.var) {
      throw checkpointError(file, `neither a VAR nor a VQ-VAE state_dict (keys: ${[...found[0][1].keys()].slice(0, 5).join(', ')} ...)`);
    }
    return { file, format, family, roles, meta: meta(obj), close: () => f.close() };
  } catch (e) {
    await f.close();
    throw e;
  }
}

/** A safetensors tensor: contiguous little-endian bytes at its offsets. */
function safetensorsTensor(f: CheckpointFile, t: SafetensorsTensor): LazyTensor {
  const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const layout = { dtype: t.dtype, shape: t.shape, stride, offset: 0 };
  return new LazyTensor(t.dtype, t.shape, () => readStrided(f, t.begin, layout, false, `safetensors tensor ${quoted(t.name)}`));
}

/** The state_dict's tensors as entries whose read() also checks the file is still the one opened. */
function entries(sd: LazyStateDict, f: CheckpointFile): StateDict {
  const out: StateDict = new Map();
  for (const [key, t] of sd) {
    out.set(key, {
      key,
      dtype: t.dtype,
      shape: [...t.shape],
      byteLength: t.byteLength,
      read: async () => {
        const bytes = await t.read();
        await f.checkUnchanged();
        return bytes;
      },
    });
  }
  return out;
}

/** The trainer's epoch, iter, args and `trainer.config`, where the checkpoint is a dict that has them. */
function meta(obj: unknown): CheckpointContents['meta'] {
  const out: CheckpointContents['meta'] = {};
  if (!(obj instanceof Map)) return out;
  const int = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined);
  const epoch = int(obj.get('epoch'));
  const iter = int(obj.get('iter'));
  if (epoch !== undefined) out.epoch = epoch;
  if (iter !== undefined) out.iter = iter;
  if (obj.has('args')) out.args = plainData(obj.get('args'));
  const trainer = obj.get('trainer');
  if (trainer instanceof Map && trainer.has('config')) out.trainerConfig = plainData(trainer.get('config'));
  return out;
}

/**
 * Whether a checkpoint file is whole, for watching a file torch.save may still be writing: a zip's end records and
 * directory are valid, or a safetensors header and the data it describes are all there. A legacy torch.save file
 * (which has no end record) counts as whole: readCheckpoint then says which reader it needs.
 */
export async function isCheckpointComplete(file: string): Promise<boolean> {
  let f: CheckpointFile;
  try {
    f = await CheckpointFile.open(file);
  } catch {
    return false;
  }
  try {
    if (f.size < 16) return false;
    const head = await f.read(0, 16, 'its first bytes');
    if (isZipStart(head)) await readZipDirectory(f);
    else if (isSafetensorsStart(head)) await readSafetensorsHeader(f);
    else if (!isLegacyTorch(head)) return false;
    await f.checkUnchanged();
    return true;
  } catch {
    return false;
  } finally {
    await f.close();
  }
}
