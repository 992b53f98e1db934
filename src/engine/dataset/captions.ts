/**
 * The captions of a folder's images (an Infinity model's folder labels). Beside each image: its T5 features
 * (`NAME.npy` or `NAME.safetensors`, [N, featureWidth]) or its prompt (`NAME.txt`), features first. Or one JSONL, a
 * line per image: `{"file": ..., "caption": ..., "features": ...}` (paths relative to the JSONL; features first, as
 * beside). An image without a caption is one failure of the run, not an error of it.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { TextCondition } from '../../shared/engineApi';
import type { LabelSource } from '../../shared/evaluation';
import { VarScopeError } from '../../shared/errors';
import { MAX_IMAGE_BYTES, readCapped } from '../../node/readCapped';
import { featuresBesideImage } from '../../node/textFeatures';
import { TEXT_FEATURE_EXTENSIONS } from '../../shared/textCondition';

/** Largest captions JSONL read (a line per image: a million images of 200 bytes). */
const MAX_JSONL_BYTES = 256 * 2 ** 20;

/** An image's caption, or why it has none (one line). */
export type CaptionOf = (file: string) => Promise<TextCondition | Error>;

/** How a caption is named in results: its features file, or `prompt: TEXT`. */
export function captionText(c: TextCondition): string {
  return 'featuresFile' in c ? c.featuresFile : `prompt: ${c.prompt}`;
}

/** A caption from the files beside an image. */
async function besideImage(file: string): Promise<TextCondition | Error> {
  const featuresFile = featuresBesideImage(file);
  if (featuresFile) return { featuresFile };
  const stem = file.slice(0, file.length - path.extname(file).length);
  if (fs.statSync(`${stem}.txt`, { throwIfNoEntry: false })?.isFile()) {
    const prompt = (await readCapped(`${stem}.txt`, MAX_IMAGE_BYTES, 'BadRequest', 'caption')).toString('utf8').trim();
    return prompt ? { prompt } : new Error(`${file}: its caption ${path.basename(stem)}.txt is empty`);
  }
  return new Error(
    `${file}: no caption (put ${path.basename(stem)}.txt, the prompt, or ${path.basename(stem)}.npy / .safetensors, its T5 features, beside it)`,
  );
}

/** The captions a JSONL gives, by absolute image path; a BadRequest naming the line for a line that is not one. */
export async function readCaptionsJsonl(jsonl: string): Promise<Map<string, TextCondition>> {
  const text = (await readCapped(jsonl, MAX_JSONL_BYTES, 'BadRequest', 'captions')).toString('utf8');
  const dir = path.dirname(path.resolve(jsonl));
  const out = new Map<string, TextCondition>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const bad = (why: string) =>
      new VarScopeError('BadRequest', `${jsonl} line ${i + 1}: ${why} (each line: {"file": ..., "caption": ... or "features": ...})`);
    let row: { file?: unknown; caption?: unknown; features?: unknown };
    try {
      row = JSON.parse(line);
    } catch {
      throw bad('not JSON');
    }
    if (!row || typeof row !== 'object' || typeof row.file !== 'string') throw bad('no "file"');
    const features = typeof row.features === 'string' ? row.features : undefined;
    const caption = typeof row.caption === 'string' ? row.caption.trim() : '';
    if (!features && !caption) throw bad(`${row.file} has neither "caption" nor "features"`);
    if (features && !(TEXT_FEATURE_EXTENSIONS as readonly string[]).includes(path.extname(features).toLowerCase()))
      throw bad(`"features" ${features} is not a ${TEXT_FEATURE_EXTENSIONS.join(' or ')} file`);
    const file = path.resolve(dir, row.file);
    if (out.has(file)) throw bad(`${row.file} has a caption on an earlier line too`);
    out.set(file, features ? { featuresFile: path.resolve(dir, features) } : { prompt: caption });
  });
  return out;
}

/** Each image's caption for a request's labels (`captions`); a VAR label source is refused in one line. */
export async function captionsOf(labels: LabelSource): Promise<CaptionOf> {
  if (labels.kind !== 'captions')
    throw new VarScopeError(
      'BadRequest',
      'an Infinity model is conditioned on captions, not classes: label the images with captions (beside each image, or one JSONL)',
    );
  if (labels.jsonl === undefined) return besideImage;
  const jsonl = labels.jsonl;
  const byFile = await readCaptionsJsonl(jsonl);
  return async (file) => byFile.get(path.resolve(file)) ?? new Error(`${file}: not in ${jsonl}`);
}
