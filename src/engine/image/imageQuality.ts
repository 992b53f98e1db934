/**
 * Reconstruction quality of images [3, S, S] in [-1, 1], measured on [0, 1]: PSNR and SSIM. SSIM is the
 * common definition of skimage (gaussian_weights=True, use_sample_covariance=False) and pytorch-msssim:
 * an 11×11 gaussian window with σ = 1.5, valid positions only, C1 = 0.01², C2 = 0.03², the mean of the SSIM
 * map per channel, then over channels.
 */

const WIN = 11;
const SIGMA = 1.5;
const C1 = 0.01 ** 2;
const C2 = 0.03 ** 2;
/** PSNR of an exact reconstruction is reported as this (dB) rather than infinity. */
export const MAX_PSNR = 100;

const KERNEL = (() => {
  const g = Array.from({ length: WIN }, (_, i) => Math.exp(-((i - (WIN - 1) / 2) ** 2) / (2 * SIGMA * SIGMA)));
  const s = g.reduce((a, b) => a + b, 0);
  return Float64Array.from(g, (v) => v / s);
})();

/** How the two measures are defined (saved with every result). */
export const QUALITY_METHOD = {
  ssim: 'gaussian window 11x11, sigma 1.5, on [0,1], valid positions, C1=0.01^2, C2=0.03^2, mean over the map and the 3 channels (skimage gaussian_weights=True / pytorch-msssim)',
  psnr: "10 log10(1/MSE) on [0,1] over the 3 channels, capped at 100 dB; the mean over images of each image's dB",
};

/** PSNR (dB) of image `a` (at offset `ao`) against `b` (at `bo`), both [3, S, S] in [-1, 1]. */
export function psnr(a: Float32Array, ao: number, b: Float32Array, bo: number, S: number): number {
  const n = 3 * S * S;
  let se = 0;
  for (let i = 0; i < n; i++) {
    const d = (a[ao + i] - b[bo + i]) / 2;
    se += d * d;
  }
  const mse = se / n;
  return mse > 0 ? Math.min(MAX_PSNR, 10 * Math.log10(1 / mse)) : MAX_PSNR;
}

/** SSIM of image `a` (at offset `ao`) against `b` (at `bo`), both [3, S, S] in [-1, 1] (S ≥ 11). */
export function ssim(a: Float32Array, ao: number, b: Float32Array, bo: number, S: number): number {
  const V = S - WIN + 1; // valid size
  const plane = S * S;
  // five maps filtered along rows (S rows × V columns), then along columns (V × V)
  const rows = Array.from({ length: 5 }, () => new Float64Array(S * V));
  let total = 0;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < V; x++) {
        let mx = 0,
          my = 0,
          xx = 0,
          yy = 0,
          xy = 0;
        for (let k = 0; k < WIN; k++) {
          const w = KERNEL[k];
          const i = c * plane + y * S + x + k;
          const p = (a[ao + i] + 1) / 2;
          const q = (b[bo + i] + 1) / 2;
          mx += w * p;
          my += w * q;
          xx += w * p * p;
          yy += w * q * q;
          xy += w * p * q;
        }
        const o = y * V + x;
        rows[0][o] = mx;
        rows[1][o] = my;
        rows[2][o] = xx;
        rows[3][o] = yy;
        rows[4][o] = xy;
      }
    }
    let sum = 0;
    for (let y = 0; y < V; y++) {
      for (let x = 0; x < V; x++) {
        let mx = 0,
          my = 0,
          xx = 0,
          yy = 0,
          xy = 0;
        for (let k = 0; k < WIN; k++) {
          const w = KERNEL[k];
          const o = (y + k) * V + x;
          mx += w * rows[0][o];
          my += w * rows[1][o];
          xx += w * rows[2][o];
          yy += w * rows[3][o];
          xy += w * rows[4][o];
        }
        const vx = xx - mx * mx;
        const vy = yy - my * my;
        const cxy = xy - mx * my;
        sum += ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2));
      }
    }
    total += sum / (V * V);
  }
  return total / 3;
}
