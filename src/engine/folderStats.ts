/**
 * Codebook usage of a folder of images: files are listed up front, read and decoded one batch ahead of the
 * model (so reading overlaps inference), encoded in batches, counted and dropped; progress is reported every
 * few images and cancellation is checked between batches. Memory stays flat for thousands of images.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { FolderUsageRequest, FolderUsageResult } from '../shared/engineApi';
import type { CodebookUsage } from '../shared/results';
import { VarScopeError } from '../shared/errors';
import type { ModelBundle } from './bundle';
import { UsageCounter } from './codebookStats';
import { decodeImage } from './imageDecode';
import { MAX_IMAGE_BYTES, readCapped } from './readCapped';
import { ModelInput, preprocess } from './preprocess';
import { encode, quantize } from './tokenizer';

/** Extensions counted in a folder. */
export const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.bmp']);

/** Hooks of a folder run. */
export interface FolderHooks {
  maxPixels: number;
  isCancelled(): boolean;
  onProgress(e: { usage: CodebookUsage; done: number; total: number; finished: boolean; failed: number }): void;
}

/** Image files under a folder, recursively, in a stable (sorted) order. */
export function listImages(folder: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      throw new VarScopeError('BadRequest', `cannot read folder ${dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && IMAGE_EXTENSIONS.has(path.extname(e.name).toLowerCase())) out.push(p);
    }
  };
  walk(folder);
  return out;
}

/** Count the tokens of every image; unreadable images are listed, not fatal. */
export async function folderUsage(bundle: ModelBundle, req: FolderUsageRequest, hooks: FolderHooks): Promise<FolderUsageResult> {
  const m = bundle.manifest;
  const files = req.files ?? (req.folder ? listImages(req.folder) : []);
  const counter = new UsageCounter(m.patchNums, m.vae.vocabSize);
  const failed: FolderUsageResult['failed'] = [];
  const every = Math.max(1, req.every ?? 16);
  const load = async (file: string): Promise<ModelInput | Error> => {
    try {
      const bytes = await readCapped(file, MAX_IMAGE_BYTES, 'BadImage', 'image');
      return await preprocess(await decodeImage(bytes, hooks.maxPixels, file), m.normalization, m.vae.imageSize, { resizeRatio: req.resizeRatio });
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  };
  // Images go through the encoder `batch` at a time; the next batch is read and decoded while this one runs.
  const batch = Math.max(1, req.batch ?? 4);
  const loadBatch = (start: number) => Promise.all(files.slice(start, start + batch).map(load));
  let cancelled = false;
  let next = files.length ? loadBatch(0) : undefined;
  let reported = 0;
  for (let start = 0; start < files.length; start += batch) {
    if (hooks.isCancelled()) {
      cancelled = true;
      break;
    }
    const inputs = await next!;
    next = start + batch < files.length ? loadBatch(start + batch) : undefined;
    const ok: ModelInput[] = [];
    inputs.forEach((input, j) => (input instanceof Error ? failed.push({ file: files[start + j], message: input.message }) : ok.push(input)));
    if (ok.length) {
      const fs_ = await encode(bundle, ok.map((x) => x.tensor));
      for (const f of fs_) counter.add((await quantize(bundle, f)).tokens);
    }
    const done = Math.min(start + batch, files.length);
    if (Math.floor(done / every) > reported && done < files.length) {
      reported = Math.floor(done / every);
      hooks.onProgress({ usage: counter.usage(), done, total: files.length, finished: false, failed: failed.length });
    }
  }
  if (next) await next; // let a prefetch in flight settle before returning
  const usage = counter.usage();
  hooks.onProgress({ usage, done: counter.images + failed.length, total: files.length, finished: true, failed: failed.length });
  return { usage, failed, cancelled };
}

/** The error of a folder run that counted no image: zero usable images is a failure, listing why each file failed. */
export function noUsableImagesError(folder: string, failed: FolderUsageResult['failed'], shown = 20): VarScopeError {
  if (!failed.length) return new VarScopeError('BadImage', `no image files (${[...IMAGE_EXTENSIONS].join(' ')}) under ${folder}`);
  const lines = failed.slice(0, shown).map((f) => `  ${f.message.includes(f.file) ? f.message : `${f.file}: ${f.message}`}`);
  if (failed.length > shown) lines.push(`  … and ${failed.length - shown} more`);
  return new VarScopeError('BadImage', `no usable image under ${folder}: all ${failed.length} image files failed:\n${lines.join('\n')}`);
}
