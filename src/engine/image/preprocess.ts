/**
 * The official VAR preprocessing of an image: alpha composited over the manifest background, short side
 * resized with Lanczos (torchvision Resize(int) size rule), centre crop (torchvision CenterCrop offsets),
 * then (pixel/255 - mean) / std in float32, i.e. [-1, 1] for VAR. No resampling when the size already matches.
 */
import sharp from 'sharp';
import type { BundleManifest } from '../../shared/manifest';
import type { PreparedImage, SizedImage } from '../../shared/results';
import type { DecodedImage } from './imageDecode';

/** The model input and how it was made. */
export interface ModelInput {
  /** [1, 3, S, S] normalised. */
  tensor: Float32Array;
  prepared: PreparedImage;
}

/** Options of the preprocessing. */
export interface PreprocessOptions {
  /** Short side before the crop = round(ratio × imageSize); the official validation transform uses 1.125, 1 keeps the most. */
  resizeRatio?: number;
}

/** Turn a decoded image into the model input of a bundle. */
export async function preprocess(
  img: DecodedImage,
  norm: BundleManifest['normalization'],
  imageSize: number,
  opts: PreprocessOptions = {},
): Promise<ModelInput> {
  const { width: w, height: h } = img;
  const rgb = composite(img, norm.background); // [h, w, 3]
  const shortSide = Math.round((opts.resizeRatio ?? 1) * imageSize);
  // torchvision Resize(int): the short side becomes `shortSide`, the long side int(shortSide * long / short).
  const [rw, rh] = w <= h ? [shortSide, Math.floor((shortSide * h) / w)] : [Math.floor((shortSide * w) / h), shortSide];
  const resized = rw === w && rh === h;
  const pixels = resized ? rgb : await resizeLanczos(rgb, w, h, rw, rh);
  // torchvision CenterCrop: offsets int(round((size - crop) / 2)) with Python's round-half-to-even.
  const top = pyRound((rh - imageSize) / 2);
  const left = pyRound((rw - imageSize) / 2);
  const S = imageSize;
  const { tensor, rgba } = cropNormalized(pixels, rw, rh, top, left, S, S, norm);
  const scale = shortSide / Math.min(w, h);
  return {
    tensor,
    prepared: {
      sourceWidth: w,
      sourceHeight: h,
      format: img.format,
      crop: { x: left / scale, y: top / scale, size: S / scale },
      resized: !resized,
      hadAlpha: img.hadAlpha,
      input: { width: S, height: S, data: rgba },
    },
  };
}

/**
 * The official Infinity preprocessing to a schedule's pixel size H × W (tools/run_infinity.py `transform`): resized
 * with Lanczos to cover H × W keeping the aspect ratio (the other side truncated: int()), then the centre crop at
 * floor((size - target) / 2), then (pixel/255 - mean) / std ([-1, 1]). RGB, as the official model input.
 */
export async function preprocessToSize(
  img: DecodedImage,
  norm: { mean: number; std: number },
  H: number,
  W: number,
): Promise<{ tensor: Float32Array; prepared: SizedImage }> {
  const { width: w, height: h } = img;
  const rgb = new Uint8Array(w * h * 3); // PIL's convert('RGB') drops the alpha channel, keeping the colours under it
  for (let i = 0; i < w * h; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = img.data[i * 4 + c];
  const [rw, rh] = w / h <= W / H ? [W, Math.trunc(W / (w / h))] : [Math.trunc((w / h) * H), H];
  const pixels = rw === w && rh === h ? rgb : await resizeLanczos(rgb, w, h, rw, rh);
  const top = Math.floor((rh - H) / 2);
  const left = Math.floor((rw - W) / 2);
  const { tensor, rgba } = cropNormalized(pixels, rw, rh, top, left, H, W, norm);
  const scale = rw / w;
  return {
    tensor,
    prepared: {
      sourceWidth: w,
      sourceHeight: h,
      format: img.format,
      crop: { x: left / scale, y: top / scale, width: W / scale, height: H / scale },
      resized: rw !== w || rh !== h,
      hadAlpha: img.hadAlpha,
      input: { width: W, height: H, data: rgba },
    },
  };
}

/** RGB pixels [h, w, 3] resized to [rh, rw, 3] with Lanczos (3 lobes: PIL's LANCZOS). */
async function resizeLanczos(rgb: Uint8Array, w: number, h: number, rw: number, rh: number): Promise<Uint8Array> {
  // NOTE: the image passed the one pixel limit before it was decoded (decodeImage); sharp's own default limit
  // here would be a second one, failing after the decode.
  const input = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  const out = await sharp(input, { raw: { width: w, height: h, channels: 3 }, limitInputPixels: false })
    .resize(rw, rh, { kernel: 'lanczos3', fit: 'fill' })
    .raw()
    .toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** The H × W window at (top, left) of RGB pixels [rh, rw, 3]: the model input [3, H, W] normalised, and as RGBA. */
function cropNormalized(
  pixels: Uint8Array,
  rw: number,
  rh: number,
  top: number,
  left: number,
  H: number,
  W: number,
  norm: { mean: number; std: number },
): { tensor: Float32Array; rgba: Uint8ClampedArray } {
  const tensor = new Float32Array(3 * H * W);
  const rgba = new Uint8ClampedArray(H * W * 4);
  const { mean, std } = norm;
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = Math.fround(Math.fround(Math.fround(v / 255) - mean) / std);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const sy = y + top;
      const sx = x + left;
      const inside = sy >= 0 && sy < rh && sx >= 0 && sx < rw; // (never false when resized to cover)
      for (let c = 0; c < 3; c++) {
        const v = inside ? pixels[(sy * rw + sx) * 3 + c] : 0;
        tensor[c * H * W + y * W + x] = lut[v];
        rgba[(y * W + x) * 4 + c] = v;
      }
      rgba[(y * W + x) * 4 + 3] = 255;
    }
  }
  return { tensor, rgba };
}

/** RGBA over an RGB background, rounded to 8 bits (what a viewer shows). */
function composite(img: DecodedImage, bg: [number, number, number]): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  const d = img.data;
  for (let i = 0; i < n; i++) {
    const a = d[i * 4 + 3];
    for (let c = 0; c < 3; c++) {
      out[i * 3 + c] = a === 255 ? d[i * 4 + c] : Math.round((d[i * 4 + c] * a + bg[c] * (255 - a)) / 255);
    }
  }
  return out;
}

/** Python 3 round(): half to even. */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
