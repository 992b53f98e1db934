/**
 * Image bytes -> RGBA8 pixels, upright (EXIF orientation applied), first frame of animations.
 * sharp decodes PNG, JPEG, WebP, GIF, TIFF, AVIF; bmp-ts decodes BMP (sharp has no BMP input).
 * The pixel count is checked from the header before any pixels are decoded (decompression bombs).
 */
import * as bmp from 'bmp-ts';
import sharp from 'sharp';
import { allocationFailure, VarScopeError } from '../../shared/errors';

// NOTE: libvips keeps up to 50 MB of recent operations (decoded inputs) in its cache; the engine decodes each
// image once, so the cache only grows the process (measured: RSS creeping over 100 inspections).
sharp.cache(false);

/** Default of varscope.maxImagePixels. */
export const DEFAULT_MAX_IMAGE_PIXELS = 100_000_000;
/**
 * The most pixels an image may have whatever varscope.maxImagePixels / --max-pixels say: libvips' own default
 * limit (0x3FFF²), which its other operations (the resize in preprocess) keep. An image costs about 8 bytes a pixel
 * while it is prepared (RGBA, then RGB composited): ~2 GB at this limit.
 */
export const MAX_IMAGE_PIXELS_CEILING = 0x3fff * 0x3fff;

/** The one pixel limit in force: the setting, never above MAX_IMAGE_PIXELS_CEILING. */
export function pixelLimit(maxPixels: number): number {
  return Math.min(maxPixels, MAX_IMAGE_PIXELS_CEILING);
}

/** A decoded image: RGBA8, row-major. */
export interface DecodedImage {
  width: number;
  height: number;
  /** width*height*4 bytes */
  data: Uint8Array;
  format: string;
  /** Whether any pixel is not fully opaque. */
  hadAlpha: boolean;
}

/** Decode image bytes; every failure is a BadImage error saying what is wrong. */
export async function decodeImage(bytes: Uint8Array, maxPixels = DEFAULT_MAX_IMAGE_PIXELS, name = 'image'): Promise<DecodedImage> {
  maxPixels = pixelLimit(maxPixels);
  if (bytes.length === 0) throw new VarScopeError('BadImage', `${name} is empty (0 bytes)`);
  if (bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d) return decodeBmp(bytes, maxPixels, name);
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let meta: sharp.Metadata;
  try {
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw (
      outOfMemory(e, name) ??
      new VarScopeError('BadImage', `${name} is not an image VARScope can read (PNG, JPEG, WebP, GIF, BMP): ${short(e)}`)
    );
  }
  const w = meta.autoOrient?.width ?? meta.width ?? 0;
  const h = meta.autoOrient?.height ?? meta.height ?? 0;
  checkSize(w, h, maxPixels, name);
  try {
    // NOTE: pages: 1 keeps only the first frame of an animated GIF/WebP; failOn 'truncated' rejects cut-off files
    // that libvips would otherwise pad with grey.
    const { data, info } = await sharp(input, { limitInputPixels: maxPixels, pages: 1, failOn: 'truncated' })
      .rotate()
      .toColourspace('srgb')
      .ensureAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 4) throw new Error(`unexpected ${info.channels} channels after conversion`);
    const rgba = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return {
      width: info.width,
      height: info.height,
      data: rgba,
      format: meta.format ?? 'unknown',
      hadAlpha: !!meta.hasAlpha && anyTransparent(rgba),
    };
  } catch (e) {
    throw (
      outOfMemory(e, name) ??
      new VarScopeError('BadImage', `${name} could not be decoded (truncated or corrupt ${meta.format ?? 'image'}): ${short(e)}`)
    );
  }
}

function decodeBmp(bytes: Uint8Array, maxPixels: number, name: string): DecodedImage {
  if (bytes.length < 26) throw new VarScopeError('BadImage', `${name} is a truncated BMP (${bytes.length} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerSize = dv.getUint32(14, true);
  const w = headerSize === 12 ? dv.getUint16(18, true) : Math.abs(dv.getInt32(18, true));
  const h = headerSize === 12 ? dv.getUint16(20, true) : Math.abs(dv.getInt32(22, true));
  checkSize(w, h, maxPixels, name);
  let img: ReturnType<typeof bmp.decode>;
  try {
    img = bmp.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { toRGBA: true });
  } catch (e) {
    throw new VarScopeError('BadImage', `${name} is a corrupt BMP: ${short(e)}`);
  }
  if (img.data.length < w * h * 4 || img.width !== w || img.height !== h) throw new VarScopeError('BadImage', `${name} is a truncated BMP`);
  const data = new Uint8Array(img.data.buffer, img.data.byteOffset, w * h * 4);
  // bmp-ts writes alpha 0 for formats without alpha; a 32-bit BMP whose alpha is all 0 is conventionally opaque too.
  const alphaUsed = img.bitPP === 32 && anyNonZeroAlpha(data);
  if (!alphaUsed) for (let i = 3; i < data.length; i += 4) data[i] = 255;
  if (bytes.length < img.offset + Math.floor((w * img.bitPP + 31) / 32) * 4 * h && img.compression === 0) {
    throw new VarScopeError('BadImage', `${name} is a truncated BMP (${bytes.length} bytes)`);
  }
  return { width: w, height: h, data, format: 'bmp', hadAlpha: alphaUsed && anyTransparent(data) };
}

function checkSize(w: number, h: number, maxPixels: number, name: string): void {
  if (!(w > 0 && h > 0)) throw new VarScopeError('BadImage', `${name} has no pixels (${w}x${h})`);
  if (w * h > maxPixels) {
    const which =
      maxPixels === MAX_IMAGE_PIXELS_CEILING
        ? 'the most VARScope decodes (varscope.maxImagePixels and --max-pixels cannot raise it)'
        : 'varscope.maxImagePixels / --max-pixels';
    throw new VarScopeError('BadImage', `${name} is ${w}x${h} = ${w * h} pixels, more than ${maxPixels}, ${which}`);
  }
}

function anyTransparent(rgba: Uint8Array): boolean {
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) return true;
  return false;
}

function anyNonZeroAlpha(rgba: Uint8Array): boolean {
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 0) return true;
  return false;
}

/** A decoder failure that is an allocation failure (libvips could not start a thread, say), not a bad file. */
function outOfMemory(e: unknown, name: string): VarScopeError | undefined {
  const why = allocationFailure(short(e));
  return why ? new VarScopeError('OutOfMemory', `not enough memory to decode ${name}: ${why}`) : undefined;
}

function short(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}
