/**
 * What a checkpoint's file name tells before Python reads it: whether the picker offers it, which files beside it may
 * hold its partner model, and the id and name of the bundle exported from a pair.
 */
import * as path from 'path';

/** File name extensions offered by the picker and the Explorer menu. */
export const CHECKPOINT_EXTENSIONS = ['pth', 'pt', 'ckpt', 'bin', 'safetensors'];

/** The two checkpoint files of one model: VQ-VAE and VAR transformer (the same file for a trainer checkpoint). */
export interface CheckpointPair {
  vae: string;
  var: string;
}

/** Whether a file name has a checkpoint's extension. */
export function isCheckpointName(name: string): boolean {
  return CHECKPOINT_EXTENSIONS.includes(path.extname(name).slice(1).toLowerCase());
}

/**
 * The files in `names` (of `file`'s folder) that may hold the `need` model for `file`: checkpoints whose names say
 * vae / var (a VAR candidate never says vae), `file` itself left out, in name order, at most four (Python reads each).
 */
export function partnerCandidates(file: string, names: string[], need: 'vae' | 'var', isFile: (p: string) => boolean): string[] {
  const dir = path.dirname(file);
  const looksRight = need === 'vae' ? /vae|vq|tokenizer/i : /var|ar-ckpt|gpt|transformer/i;
  return names
    .filter(isCheckpointName)
    .map((n) => path.join(dir, n))
    .filter((p) => p !== file && looksRight.test(path.basename(p)) && !(need === 'var' && /vae/i.test(path.basename(p))) && isFile(p))
    .sort()
    .slice(0, 4);
}

/** The exported bundle's id: the VAR file's name without its extension, made safe for a folder name. */
export function bundleIdOf(pair: CheckpointPair): string {
  return (
    path
      .basename(pair.var)
      .replace(/\.[^.]+$/, '')
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '') || 'checkpoint'
  );
}

/** The exported bundle's display name: the file's name, or `VAR + VAE` for a pair of files. */
export function bundleNameOf(pair: CheckpointPair): string {
  return pair.vae === pair.var ? path.basename(pair.var) : `${path.basename(pair.var)} + ${path.basename(pair.vae)}`;
}
