/**
 * The official VAR preprocessing of an image: alpha composited over the manifest background, short side
 * resized with Lanczos (torchvision Resize(int) size rule), centre crop (torchvision CenterCrop offsets),
 * then (pixel/255 - mean) / std in float32, i.e. [-1, 1] for VAR. No resampling when the size already matches.
 */
import sharp from 'sharp';
import type { BundleManifest } from '../../shared/manifest';
import type { PreparedImage } from '../../shared/results';
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
  let pixels = rgb;
  if (!resized) {
    // NOTE: the image passed the one pixel limit before it was decoded (decodeImage); sharp's own default limit
    // here would be a second one, failing after the decode.
    const input = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
    const out = await sharp(input, { raw: { width: w, height: h, channels: 3 }, limitInputPixels: false })
      .resize(rw, rh, { kernel: 'lanczos3', fit: 'fill' })
      .raw()
      .toBuffer();
    pixels = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }
  // torchvision CenterCrop: offsets int(round((size - crop) / 2)) with Python's round-half-to-even.
  const top = pyRound((rh - imageSize) / 2);
  const left = pyRound((rw - imageSize) / 2);
  const S = imageSize;
  const tensor = new Float32Array(3 * S * S);
  const rgba = new Uint8ClampedArray(S * S * 4);
  const { mean, std } = norm;
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = Math.fround(Math.fround(Math.fround(v / 255) - mean) / std);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const sy = y + top;
      const sx = x + left;
      const inside = sy >= 0 && sy < rh && sx >= 0 && sx < rw; // (never false when resized to cover)
      for (let c = 0; c < 3; c++) {
        const v = inside ? pixels[(sy * rw + sx) * 3 + c] : 0;
        tensor[c * S * S + y * S + x] = lut[v];
        rgba[(y * S + x) * 4 + c] = v;
      }
      rgba[(y * S + x) * 4 + 3] = 255;
    }
  }
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
