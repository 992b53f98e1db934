/**
 * An Infinity model (bitwise, text-conditioned VAR) on one image: the counterpart of tokenizer.ts and
 * teacherForcing.ts for InfinityBundle. Bits per scale from bsqEncoder; the reconstruction after each scale (the codes
 * (2 bit - 1) / sqrt(d) of scales 0..k, bilinear-upsampled to the latent and summed, as the official
 * multi-scale BSQ) through bsqDecoder; teacher-forced logits from bitsToLatent's nextInput and infinityTransformer,
 * scored as Infinity's trainer logs them (bit accuracy, token accuracy) beside two baselines that need no model.
 */
import type { InfinitySchedule } from '../../shared/manifest';
import type {
  BitAccuracy,
  BitScale,
  BitScaleEval,
  BitsEvalResult,
  BitsInspectResult,
  BitsModelInfo,
  SizedImage,
} from '../../shared/results';
import { BitUsageCounter } from '../analysis/bitStats';
import type { InfinityBundle } from '../bundle/infinityBundle';
import type { DecodedImage } from '../image/imageDecode';
import { pixelError, toRgba } from '../image/pixels';
import { preprocessToSize } from '../image/preprocess';
import { asF32, asU8, f32, i64, u8 } from '../runtime/tensor';

/** The model input at a schedule: [1, 3, H, W] normalised, and how it was made. */
export interface SizedInput {
  tensor: Float32Array;
  prepared: SizedImage;
}

/**
 * An image as the model input of a bundle's schedule: the schedule of the ratio asked for, else of the template ratio
 * nearest the image's own h / w (as the official code picks it), resized to its pixel size.
 */
export async function sizedInput(
  b: InfinityBundle,
  decoded: DecodedImage,
  hDivW?: number,
): Promise<{ s: InfinitySchedule; input: SizedInput }> {
  const s = b.schedule(hDivW ?? decoded.height / decoded.width);
  const [H, W] = s.pixelSize;
  return { s, input: await preprocessToSize(decoded, b.manifest.normalization, H, W) };
}

/** Teacher-forced evaluation of an image's bits for one caption's features (Engine.evaluateBits, a folder's images). */
export async function evaluateBitsOf(
  b: InfinityBundle,
  s: InfinitySchedule,
  input: SizedInput,
  text: { features: Float32Array; tokens: number },
): Promise<BitsEvalResult> {
  const { bits } = await tokenizeBits(b, s, input.tensor);
  const logits = await teacherForcedBitLogits(b, s, bits, text);
  return scoreBits(s, b.manifest.bits, bits, logits, text.tokens);
}

/** Which execution provider runs the graphs, and why each earlier choice was skipped. */
export interface ProviderUse {
  provider: string;
  providerFallbacks: Array<{ provider: string; reason: string }>;
}

/** The facts about an Infinity model for the views and the CLI. */
export function bitsModelInfo(b: InfinityBundle, use: ProviderUse): BitsModelInfo {
  const m = b.manifest;
  return {
    family: 'infinity',
    id: m.id,
    name: m.name,
    dir: b.dir,
    bits: m.bits,
    depth: m.infinity.depth,
    numHeads: m.infinity.numHeads,
    embedDim: m.infinity.embedDim,
    textFeatureWidth: m.text.featureWidth,
    textEncoder: m.textEncoder !== undefined,
    attentionGraph: m.schedules.every((s) => s.graphs.infinityAttention !== undefined),
    schedules: m.schedules.map((s) => ({
      id: s.id,
      hDivW: s.hDivW,
      pn: s.pn,
      scales: s.scales.map(([, h, w]): [number, number] => [h, w]),
      tokenCount: s.tokenCount,
      pixelSize: s.pixelSize,
    })),
    sampling: m.sampling,
    provider: use.provider,
    providerFallbacks: [...use.providerFallbacks],
  };
}

/** PyTorch's bilinear resize weights (align_corners=False, no antialias) from n_in to n_out: M [n_out, n_in]. */
export function bilinearMatrix(nIn: number, nOut: number): Float32Array {
  const m = new Float32Array(nOut * nIn);
  const scale = nIn / nOut;
  for (let o = 0; o < nOut; o++) {
    const src = Math.max(0, (o + 0.5) * scale - 0.5);
    const i0 = Math.min(Math.floor(src), nIn - 1);
    const i1 = Math.min(i0 + 1, nIn - 1);
    const l1 = src - i0;
    m[o * nIn + i0] += 1 - l1;
    m[o * nIn + i1] += l1;
  }
  return m;
}

/**
 * acc [d, H, W] plus one scale's codes (2 bit - 1) / sqrt(d), bilinear-upsampled from h × w (the official trilinear
 * on one frame); `bits` holds the scale's tokens [h·w, d] from token `begin`.
 */
export function addScaleCodes(
  acc: Float32Array,
  bits: Uint8Array,
  begin: number,
  d: number,
  h: number,
  w: number,
  H: number,
  W: number,
): void {
  const code = 1 / Math.sqrt(d);
  const rows = bilinearMatrix(h, H);
  const cols = bilinearMatrix(w, W);
  const tmp = new Float32Array(H * w);
  for (let c = 0; c < d; c++) {
    // up = rows [H, h] · codes_c [h, w] · cols^T [w, W]
    tmp.fill(0);
    for (let y = 0; y < H; y++)
      for (let i = 0; i < h; i++) {
        const r = rows[y * h + i];
        if (r === 0) continue;
        for (let j = 0; j < w; j++) tmp[y * w + j] += r * (bits[(begin + i * w + j) * d + c] ? code : -code);
      }
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        let v = 0;
        for (let j = 0; j < w; j++) v += tmp[y * w + j] * cols[x * w + j];
        acc[c * H * W + y * W + x] += v;
      }
  }
}

/**
 * The cumulative latent f̂ [K, d, h, w] after each scale, from bits [L, d]: per scale the codes (2 bit - 1) / sqrt(d),
 * bilinear-upsampled to the last scale (the official trilinear on one frame), summed.
 */
export function cumulativeLatents(bits: Uint8Array, d: number, s: InfinitySchedule): Float32Array {
  const [H, W] = s.latentSize;
  const out = new Float32Array(s.scales.length * d * H * W);
  const acc = new Float32Array(d * H * W);
  s.scales.forEach(([, h, w], k) => {
    addScaleCodes(acc, bits, s.beginEnds[k][0], d, h, w, H, W);
    out.set(acc, k * d * H * W);
  });
  return out;
}

/** f̂ [d, H, W] resized (bilinear, no antialias, as the official F.interpolate to the next scale) to tokens [h·w, d]. */
export function nextScaleInput(fHat: Float32Array, d: number, H: number, W: number, h: number, w: number): Float32Array {
  const rows = bilinearMatrix(H, h);
  const cols = bilinearMatrix(W, w);
  const out = new Float32Array(h * w * d);
  for (let c = 0; c < d; c++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        let v = 0;
        for (let i = 0; i < H; i++) {
          const r = rows[y * H + i];
          if (r === 0) continue;
          for (let j = 0; j < W; j++) v += r * cols[x * W + j] * fHat[c * H * W + i * W + j];
        }
        out[(y * w + x) * d + c] = v;
      }
  return out;
}

/** Raw tensors of an image at a schedule. */
export interface BitTokenization {
  /** Encoder latent [d, h, w]. */
  latent: Float32Array;
  /** [L, d] 0/1. */
  bits: Uint8Array;
}

/** Encode an image [1, 3, H, W] to its latent and bits. */
export async function tokenizeBits(b: InfinityBundle, s: InfinitySchedule, image: Float32Array): Promise<BitTokenization> {
  const [H, W] = s.pixelSize;
  const enc = await b.graph(s, 'bsqEncoder');
  const out = await enc.run({ image: f32([1, 3, H, W], image) }, ['latent', 'bits']);
  return { latent: asF32(out.latent, 'bsqEncoder.latent'), bits: asU8(out.bits, 'bsqEncoder.bits') };
}

/** decode(f̂) through bsqDecoder: a latent [d, h, w] of the schedule to the image [3, H, W] in [-1, 1]. */
export async function decodeBitLatent(b: InfinityBundle, s: InfinitySchedule, latent: Float32Array): Promise<Float32Array> {
  const [h, w] = s.latentSize;
  const dec = await b.graph(s, 'bsqDecoder');
  return asF32((await dec.run({ latent: f32([1, b.manifest.bits, h, w], latent) })).image, 'bsqDecoder.image');
}

/** Everything the Infinity inspector shows of an image: bits and reconstruction per scale. */
export async function inspectBits(b: InfinityBundle, s: InfinitySchedule, input: SizedInput, use: ProviderUse): Promise<BitsInspectResult> {
  const d = b.manifest.bits;
  const [H, W] = s.pixelSize;
  const [h, w] = s.latentSize;
  const raw = await tokenizeBits(b, s, input.tensor);
  const fHat = cumulativeLatents(raw.bits, d, s);
  const K = s.scales.length;
  const plane = d * h * w;
  const images = await Promise.all(Array.from({ length: K }, (_, k) => decodeBitLatent(b, s, fHat.slice(k * plane, (k + 1) * plane))));
  let fEnergy = 0;
  for (let i = 0; i < plane; i++) fEnergy += raw.latent[i] * raw.latent[i];
  const scales: BitScale[] = s.scales.map(([, sh, sw], k) => {
    const [begin, end] = s.beginEnds[k];
    const residualNorm = new Float32Array(h * w);
    let energy = 0;
    for (let p = 0; p < h * w; p++) {
      let sum = 0;
      for (let c = 0; c < d; c++) {
        const diff = raw.latent[c * h * w + p] - fHat[k * plane + c * h * w + p];
        sum += diff * diff;
      }
      residualNorm[p] = Math.sqrt(sum);
      energy += sum;
    }
    const { errorMap, psnr } = pixelError(images[k], 0, input.tensor, H, W);
    return {
      scaleIndex: k,
      h: sh,
      w: sw,
      bits: raw.bits.slice(begin * d, end * d),
      residualNorm,
      residualEnergy: fEnergy > 0 ? energy / fEnergy : 0,
      decoded: toRgba(images[k], H, 0, W),
      errorMap,
      psnr,
    };
  });
  const usage = new BitUsageCounter(d);
  usage.add(
    scales.map((x) => x.bits),
    s.id,
  );
  return { model: bitsModelInfo(b, use), schedule: s.id, image: input.prepared, scales, usage: usage.usage() };
}

/**
 * Teacher-forced logits [L, d, 2] of an image's bits [L, d] for one caption's features [N, featureWidth] (index 0:
 * bit value 0, index 1: bit value 1).
 */
export async function teacherForcedBitLogits(
  b: InfinityBundle,
  s: InfinitySchedule,
  bits: Uint8Array,
  text: { features: Float32Array; tokens: number },
): Promise<Float32Array> {
  const d = b.manifest.bits;
  const L = s.tokenCount;
  const toLatent = await b.graph(s, 'bitsToLatent');
  const { nextInput } = await toLatent.run({ bits: u8([1, L, d], bits) }, ['nextInput']);
  const tf = await b.graph(s, 'infinityTransformer');
  const { logits } = await tf.run({
    textFeatures: f32([text.tokens, b.manifest.text.featureWidth], text.features),
    textOffsets: i64([2], [0, text.tokens]),
    nextInput,
  });
  return asF32(logits, 'infinityTransformer.logits');
}

/** Bit and token accuracy of predictions against the truth, [n, d] 0/1 each. */
function accuracy(predicted: (t: number, j: number) => number, truth: Uint8Array, begin: number, end: number, d: number): BitAccuracy {
  let bitsRight = 0;
  let tokensRight = 0;
  for (let t = begin; t < end; t++) {
    let all = true;
    for (let j = 0; j < d; j++) {
      const ok = predicted(t, j) === truth[t * d + j];
      if (ok) bitsRight++;
      else all = false;
    }
    if (all) tokensRight++;
  }
  const n = end - begin;
  return { bitAccuracy: bitsRight / (n * d), tokenAccuracy: tokensRight / n };
}

/**
 * Per scale: bit and token accuracy of the logits' argmax (bit 1 where logit 1 > logit 0, as torch.argmax picks the
 * first of equal values), beside predicting each bit's majority value at that scale (ties: 0) and copying the coarser
 * scale's bits nearest-upsampled (PyTorch 'nearest': source index floor(i · h_coarse / h)).
 */
export function scoreBits(s: InfinitySchedule, d: number, bits: Uint8Array, logits: Float32Array, captionTokens: number): BitsEvalResult {
  const predicted = (t: number, j: number) => (logits[(t * d + j) * 2 + 1] > logits[(t * d + j) * 2] ? 1 : 0);
  const scales: BitScaleEval[] = s.scales.map(([, h, w], k) => {
    const [begin, end] = s.beginEnds[k];
    const ones = new Int32Array(d);
    for (let t = begin; t < end; t++) for (let j = 0; j < d; j++) ones[j] += bits[t * d + j];
    const majority = Array.from(ones, (n) => (2 * n > end - begin ? 1 : 0));
    let copyCoarserBaseline: BitAccuracy | null = null;
    if (k > 0) {
      const [, ch, cw] = s.scales[k - 1];
      const [cBegin] = s.beginEnds[k - 1];
      const source = (t: number) => {
        const p = t - begin;
        const y = Math.floor(((p / w) | 0) * (ch / h));
        const x = Math.floor((p % w) * (cw / w));
        return cBegin + y * cw + x;
      };
      copyCoarserBaseline = accuracy((t, j) => bits[source(t) * d + j], bits, begin, end, d);
    }
    const correct = new Uint8Array((end - begin) * d);
    const wrongBits = new Uint8Array(end - begin);
    for (let t = begin; t < end; t++)
      for (let j = 0; j < d; j++) {
        const ok = predicted(t, j) === bits[t * d + j];
        correct[(t - begin) * d + j] = ok ? 1 : 0;
        if (!ok) wrongBits[t - begin]++;
      }
    return {
      scaleIndex: k,
      h,
      w,
      ...accuracy(predicted, bits, begin, end, d),
      majorityBaseline: accuracy((_t, j) => majority[j], bits, begin, end, d),
      copyCoarserBaseline,
      correct,
      wrongBits,
    };
  });
  return { schedule: s.id, captionTokens, scales, overall: accuracy(predicted, bits, 0, s.tokenCount, d) };
}
