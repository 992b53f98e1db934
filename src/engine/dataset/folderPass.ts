/**
 * The one pass over a folder of images that codebook usage (`stats`, Codebook Usage of a Folder) and the full
 * evaluation (`evaluate`) share: files are listed up front, read and decoded one batch ahead of the model (so
 * reading overlaps inference), encoded in batches, quantized, and (for an evaluation) scored by the transformer
 * in batches and decoded at every scale; each image is handed to a sink and dropped. Progress is reported after
 * every batch and cancellation is checked between batches. Memory stays flat for thousands of images.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { FolderUsageRequest, FolderUsageResult } from '../../shared/engineApi';
import type { CodebookUsage } from '../../shared/results';
import { VarScopeError } from '../../shared/errors';
import type { ModelBundle } from '../bundle/bundle';
import { UsageCounter } from '../analysis/codebookStats';
import { decodeImage } from '../image/imageDecode';
import { MAX_IMAGE_BYTES, readCapped } from '../../node/readCapped';
import { ModelInput, preprocess } from '../image/preprocess';
import { asF32, f32, i64 } from '../runtime/tensor';
import { decodeLatents, encode, quantize, Tokenization } from '../model/tokenizer';

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

/**
 * Orders paths as `listImages` lists them: by their names, folder by folder, so that rows from
 * any number of parts come out in the order of one run.
 */
export function compareListed(a: string, b: string): number {
  const sa = a.split(path.sep);
  const sb = b.split(path.sep);
  for (let i = 0; i < Math.min(sa.length, sb.length); i++) if (sa[i] !== sb[i]) return sa[i] < sb[i] ? -1 : 1;
  return sa.length - sb.length;
}

/** One image through the pass: its tokens always; logits and decoded scales when the pass scores. */
export interface PassImage {
  file: string;
  classId: number;
  /** [3, S, S] model input in [-1, 1]. */
  input: Float32Array;
  /** [L] */
  tokens: Int32Array;
  /** [L, V] teacher-forced logits (score only). */
  logits?: Float32Array;
  /** [SN, 3, S, S] decode(f̂ after every scale) (score only). */
  decoded?: Float32Array;
}

/** Options of a pass. */
export interface PassOptions {
  maxPixels: number;
  resizeRatio?: number;
  /** Images per encoder / transformer batch (default 4). */
  batch?: number;
  /** Run the transformer (teacher-forced) and the decoder too. */
  score: boolean;
  /** The class of a file (teacher forcing; the null class when there are no labels). */
  classOf(file: string): number;
  isCancelled(): boolean;
  onProgress(done: number, failed: number): void;
}

/** Run every file through the model; unreadable images are listed, not fatal. */
export async function folderPass(
  bundle: ModelBundle,
  files: string[],
  opts: PassOptions,
  sink: (x: PassImage) => void | Promise<void>,
): Promise<{ failed: FolderUsageResult['failed']; cancelled: boolean }> {
  const m = bundle.manifest;
  const failed: FolderUsageResult['failed'] = [];
  const load = async (file: string): Promise<ModelInput | Error> => {
    try {
      const bytes = await readCapped(file, MAX_IMAGE_BYTES, 'BadImage', 'image');
      return await preprocess(await decodeImage(bytes, opts.maxPixels, file), m.normalization, m.vae.imageSize, {
        resizeRatio: opts.resizeRatio,
      });
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  };
  const batch = Math.max(1, opts.batch ?? 4);
  const loadBatch = (start: number) => Promise.all(files.slice(start, start + batch).map(load));
  let cancelled = false;
  let next = files.length ? loadBatch(0) : undefined;
  for (let start = 0; start < files.length; start += batch) {
    if (opts.isCancelled()) {
      cancelled = true;
      break;
    }
    const inputs = await next!;
    next = start + batch < files.length ? loadBatch(start + batch) : undefined;
    const ok: Array<{ file: string; input: Float32Array }> = [];
    inputs.forEach((input, j) =>
      input instanceof Error
        ? failed.push({ file: files[start + j], message: input.message })
        : ok.push({ file: files[start + j], input: input.tensor }),
    );
    if (ok.length) {
      const fs_ = await encode(
        bundle,
        ok.map((x) => x.input),
      );
      const toks: Tokenization[] = [];
      for (const f of fs_) toks.push(await quantize(bundle, f));
      const images: PassImage[] = ok.map((x, j) => ({
        file: x.file,
        classId: opts.classOf(x.file),
        input: x.input,
        tokens: toks[j].tokens,
      }));
      if (opts.score)
        await scoreBatch(
          bundle,
          images,
          toks.map((t) => t.varInput),
          toks.map((t) => t.fHat),
        );
      for (const image of images) await sink(image);
    }
    opts.onProgress(Math.min(start + batch, files.length), failed.length);
  }
  if (next) await next; // let a prefetch in flight settle before returning
  return { failed, cancelled };
}

/** Teacher-forced logits of a batch in one transformer run, and every image's every scale decoded. */
async function scoreBatch(bundle: ModelBundle, images: PassImage[], varInputs: Float32Array[], fHats: Float32Array[]): Promise<void> {
  const m = bundle.manifest;
  const { Cvae: C, vocabSize: V, latentSize: h, imageSize: S } = m.vae;
  const B = images.length;
  const Lin = m.tokenCount - m.firstL;
  const L = m.tokenCount;
  const SN = m.patchNums.length;
  const x = new Float32Array(B * Lin * C); // [B, L - firstL, C]
  varInputs.forEach((v, b) => x.set(v, b * Lin * C));
  const fHat = new Float32Array(B * SN * C * h * h); // [B·SN, C, h, w]
  fHats.forEach((f, b) => fHat.set(f, b * SN * C * h * h));
  const g = await bundle.graph('transformer');
  const [out, decoded] = await Promise.all([
    g.run(
      {
        classLabel: i64(
          [B],
          images.map((i) => i.classId),
        ),
        varInput: f32([B, Lin, C], x),
        attnLayer: i64([], [0]),
      },
      ['logits'],
    ),
    decodeLatents(bundle, fHat, B * SN),
  ]);
  const logits = asF32(out.logits, 'transformer.logits'); // [B, L, V]
  images.forEach((img, b) => {
    img.logits = logits.subarray(b * L * V, (b + 1) * L * V);
    img.decoded = decoded.subarray(b * SN * 3 * S * S, (b + 1) * SN * 3 * S * S);
  });
}

/** Codebook usage of a folder (no transformer, no decoder), streamed every `every` images. */
export async function folderUsage(bundle: ModelBundle, req: FolderUsageRequest, hooks: FolderHooks): Promise<FolderUsageResult> {
  const m = bundle.manifest;
  const files = req.files ?? (req.folder ? listImages(req.folder) : []);
  const counter = new UsageCounter(m.patchNums, m.vae.vocabSize);
  const every = Math.max(1, req.every ?? 16);
  let reported = 0;
  const { failed, cancelled } = await folderPass(
    bundle,
    files,
    {
      maxPixels: hooks.maxPixels,
      resizeRatio: req.resizeRatio,
      batch: req.batch,
      score: false,
      classOf: () => m.var.nullClass,
      isCancelled: hooks.isCancelled,
      onProgress: (done, nFailed) => {
        if (Math.floor(done / every) > reported && done < files.length) {
          reported = Math.floor(done / every);
          hooks.onProgress({ usage: counter.usage(), done, total: files.length, finished: false, failed: nFailed });
        }
      },
    },
    (x) => counter.add(x.tokens),
  );
  const usage = counter.usage();
  hooks.onProgress({ usage, done: counter.images + failed.length, total: files.length, finished: true, failed: failed.length });
  return { usage, failed, cancelled };
}

/** Why the first `shown` files failed, one indented line each, and how many more did. */
function failureLines(failed: FolderUsageResult['failed'], shown: number): string[] {
  const lines = failed.slice(0, shown).map((f) => `  ${f.message.includes(f.file) ? f.message : `${f.file}: ${f.message}`}`);
  if (failed.length > shown) lines.push(`  … and ${failed.length - shown} more`);
  return lines;
}

/** The error of a folder run that counted no image: zero usable images is a failure, listing why each file failed. */
export function noUsableImagesError(folder: string, failed: FolderUsageResult['failed'], shown = 20): VarScopeError {
  if (!failed.length) return new VarScopeError('BadImage', `no image files (${[...IMAGE_EXTENSIONS].join(' ')}) under ${folder}`);
  return new VarScopeError(
    'BadImage',
    `no usable image under ${folder}: all ${failed.length} image files failed:\n${failureLines(failed, shown).join('\n')}`,
  );
}

/** A folder run that counted some images but not all: how many failed and why the first few did (a warning). */
export function someImagesFailed(failed: FolderUsageResult['failed'], images: number, shown = 3): string {
  const head = `${failed.length} of ${failed.length + images} image files failed (listed under "failed" in the JSON)`;
  return [head, ...failureLines(failed, shown)].join('\n');
}
