/**
 * An Infinity model's bit usage over a folder of images (the Codebook view's folder counts, `varscope stats`): each
 * image tokenized at the schedule of its own aspect ratio (or the request's), its bits counted and dropped; one image
 * at a time, unreadable images (and those of a ratio the bundle has no schedule near) listed, progress every `every` images, cancellation checked between images.
 */
import type { FolderUsageRequest, FolderUsageResult } from '../../shared/engineApi';
import type { BitUsage } from '../../shared/results';
import { MAX_IMAGE_BYTES, readCapped } from '../../node/readCapped';
import { BitUsageCounter } from '../analysis/bitStats';
import type { InfinityBundle } from '../bundle/infinityBundle';
import { decodeImage } from '../image/imageDecode';
import { preprocessToSize } from '../image/preprocess';
import { tokenizeBits } from '../model/infinityModel';
import { listImages } from './folderPass';

/** Hooks of a folder run (as folderPass's, with bit usage). */
export interface BitsFolderHooks {
  maxPixels: number;
  isCancelled(): boolean;
  onProgress(e: { usage: BitUsage; done: number; total: number; finished: boolean; failed: number }): void;
}

/** Bit usage of the images under `req.folder` (or `req.files`), streamed every `req.every` images (default 16). */
export async function bitsFolderUsage(
  bundle: InfinityBundle,
  req: FolderUsageRequest & { hDivW?: number },
  hooks: BitsFolderHooks,
): Promise<FolderUsageResult> {
  const m = bundle.manifest;
  const files = req.files ?? (req.folder ? listImages(req.folder) : []);
  const counter = new BitUsageCounter(m.bits);
  const every = Math.max(1, req.every ?? 16);
  const failed: FolderUsageResult['failed'] = [];
  let cancelled = false;
  for (let i = 0; i < files.length; i++) {
    if (hooks.isCancelled()) {
      cancelled = true;
      break;
    }
    const file = files[i];
    let s;
    let tensor;
    try {
      const decoded = await decodeImage(await readCapped(file, MAX_IMAGE_BYTES, 'BadImage', 'image'), hooks.maxPixels, file);
      s = bundle.schedule(req.hDivW ?? decoded.height / decoded.width); // refuses a ratio the bundle has no schedule near
      ({ tensor } = await preprocessToSize(decoded, m.normalization, s.pixelSize[0], s.pixelSize[1]));
    } catch (e) {
      failed.push({ file, message: e instanceof Error ? e.message : String(e) });
      continue;
    }
    const { bits } = await tokenizeBits(bundle, s, tensor);
    counter.add(
      s.beginEnds.map(([b, e]) => bits.subarray(b * m.bits, e * m.bits)),
      s.id,
    );
    const done = i + 1;
    if (done % every === 0 && done < files.length)
      hooks.onProgress({ usage: counter.usage(), done, total: files.length, finished: false, failed: failed.length });
  }
  const usage = counter.usage();
  hooks.onProgress({ usage, done: counter.images + failed.length, total: files.length, finished: true, failed: failed.length });
  return { usage, failed, cancelled };
}
