/**
 * Model output pixels -> what the views draw: RGBA8 images, per-pixel error maps, PSNR.
 */
import type { RgbaImage } from '../../shared/results';

/** One image [3, S, W] in [-1, 1] (at `offset` in a batch; W = S: square) as RGBA8. */
export function toRgba(chw: Float32Array, S: number, offset = 0, W = S): RgbaImage {
  const data = new Uint8ClampedArray(S * W * 4);
  const plane = S * W;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) data[i * 4 + c] = Math.round(((chw[offset + c * plane + i] + 1) / 2) * 255);
    data[i * 4 + 3] = 255;
  }
  return { width: W, height: S, data };
}

/** Mean absolute error over channels per pixel, in [0, 1], and the PSNR (dB) of images [3, S, W] in [-1, 1] (W = S: square). */
export function pixelError(
  decoded: Float32Array,
  offset: number,
  input: Float32Array,
  S: number,
  W = S,
): { errorMap: Float32Array; psnr: number } {
  const plane = S * W;
  const errorMap = new Float32Array(plane);
  let se = 0;
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) {
      const d = (decoded[offset + c * plane + i] - input[c * plane + i]) / 2; // in [0, 1] units
      errorMap[i] += Math.abs(d) / 3;
      se += d * d;
    }
  }
  const mse = se / (3 * plane);
  return { errorMap, psnr: mse > 0 ? 10 * Math.log10(1 / mse) : Infinity };
}
