/**
 * What the engine computes and the views draw. Plain data with typed arrays, so it crosses the
 * engine child process (advanced serialization) and the webview boundary without copies to JSON.
 * Every number here traces back to a tensor of a graph compared with the PyTorch reference in tests.
 */
import type { TextCondition } from './textCondition';

/** An RGBA8 image, row-major, width*height*4 bytes. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/** The facts about a loaded model the views need. */
export interface ModelInfo {
  family: 'var';
  id: string;
  name: string;
  /** Absolute folder of the bundle. */
  dir: string;
  patchNums: number[];
  beginEnds: Array<[number, number]>;
  tokenCount: number;
  vocabSize: number;
  Cvae: number;
  imageSize: number;
  latentSize: number;
  /** Channels of the VQ-VAE's full-resolution stage (ch × chMult[0]): what an encode or decode costs grows with it. */
  vaeChannels: number;
  depth: number;
  numHeads: number;
  embedDim: number;
  numClasses: number;
  /** The class id that means "no class" (CFG's unconditional branch). */
  nullClass: number;
  /** Sampling the bundle recommends (varscope.json `sampling`), else the official sampler's cfg 4, top-k 900, top-p 0.96. */
  sampling: { cfg: number; topK: number; topP: number };
  /** Class names, index = class id. */
  classes: string[];
  hasTrainingHits: boolean;
  /** Execution provider actually used, and why each earlier choice was skipped. */
  provider: string;
  providerFallbacks: Array<{ provider: string; reason: string }>;
  /** Per graph role, where onnxruntime placed its nodes (known once the graph has run). */
  nodePlacement?: Record<string, NodePlacement>;
  /** RGB colour per code from a stable PCA of the codebook, V*3 bytes. */
  codeColors: Uint8Array;
}

/**
 * The nodes of one graph per execution provider (cpu, webgpu, cuda, dml, coreml), with their op types: onnxruntime
 * runs nodes a provider has no kernel for on the CPU inside a GPU session, silently. Counts are of the optimized
 * graph that ran, copies between host and device (MemcpyFromHost / MemcpyToHost) included.
 */
export type NodePlacement = Record<string, { nodes: number; ops: Record<string, number> }>;

/** How the input image was turned into the model input. */
export interface PreparedImage {
  /** Original size after EXIF orientation. */
  sourceWidth: number;
  sourceHeight: number;
  format: string;
  /** Square crop in source pixels (official: short side resized, centre crop). */
  crop: { x: number; y: number; size: number };
  resized: boolean;
  hadAlpha: boolean;
  /** The model input as pixels (imageSize²). */
  input: RgbaImage;
}

/** One scale of the tokenizer's pyramid for one image. */
export interface ScaleTokens {
  scaleIndex: number;
  pn: number;
  /** Token ids, row-major pn×pn. */
  tokens: Int32Array;
  /** Squared distance of the quantized vector to its code, pn². */
  quantError: Float32Array;
  /** Second-best minus best squared distance, pn² (small = ambiguous token). */
  quantMargin: Float32Array;
  /** ‖f − f̂_k‖ per latent position after this scale, latentSize². */
  residualNorm: Float32Array;
  /** Σ‖f − f̂_k‖² / Σ‖f‖² after this scale. */
  residualEnergy: number;
  /** decode(f̂_k). */
  decoded: RgbaImage;
  /** Mean absolute pixel error to the input per pixel, in [0,1], imageSize². */
  errorMap: Float32Array;
  /** PSNR of decode(f̂_k) vs the input, dB (images in [0,1]). */
  psnr: number;
}

/** Codebook usage of one image, one folder, or the checkpoint's training counts. */
export interface CodebookUsage {
  /** counts[k][v]: hits of code v at scale k. */
  perScale: Int32Array[] | Float64Array[];
  /** Sum over scales. */
  overall: Float64Array;
  /** Codes with ≥1 hit overall. */
  used: number;
  /** exp(entropy) of the overall distribution. */
  perplexity: number;
  /** Perplexity per scale. */
  perplexityPerScale: number[];
  /** Number of images counted (1 for one image; absent for training counts). */
  images?: number;
}

/** Everything the inspector shows when an image is opened. */
export interface InspectResult {
  model: ModelInfo;
  image: PreparedImage;
  scales: ScaleTokens[];
  codebook: CodebookUsage;
}

/** Teacher-forced prediction quality at one scale. */
export interface ScaleEval {
  scaleIndex: number;
  pn: number;
  /** Fraction of positions whose argmax equals the true token. */
  accuracy: number;
  /** Mean over positions of −log p(true token). */
  nll: number;
  meanEntropy: number;
  /** Per position (pn²): 1 if argmax == truth. */
  correct: Uint8Array;
  /** Per position: p(true token), top-1 probability, entropy (nats). */
  trueProb: Float32Array;
  top1Prob: Float32Array;
  entropy: Float32Array;
  /** Per position, the k best candidates: ids and probabilities, pn²×k row-major. */
  topK: { k: number; ids: Int32Array; probs: Float32Array };
}

/** Teacher-forced evaluation of one image for one class (or the null class). */
export interface EvalResult {
  classId: number;
  scales: ScaleEval[];
}

/** Attention weights of one block for every query (L×L, row = query). */
export interface AttentionResult {
  layer: number;
  /** Head index, or "mean" over heads. */
  head: number | 'mean';
  tokenCount: number;
  weights: Float32Array;
  /** Infinity: the schedule the image ran at (its id in BitsModelInfo.schedules) and the cross-attention to the caption. */
  infinity?: { schedule: string; cross: CaptionAttention };
}

/** Infinity's cross-attention of every image token to the caption's tokens. */
export interface CaptionAttention {
  /** N, the caption's tokens. */
  captionTokens: number;
  /** [tokenCount, N], row = query; each row sums to 1. */
  weights: Float32Array;
  /** The caption tokens' pieces when the caption is a prompt (`▁` starts a word); absent for a features file. */
  tokens?: string[];
}

/** Sampling settings of a VAR generation. */
export interface GenerationSettings {
  family?: 'var';
  classId: number;
  seed: number;
  cfg: number;
  topK: number;
  topP: number;
}

/** One step (scale) of a VAR generation, streamed as it is computed. */
export interface GenerationStep {
  family?: 'var';
  runId: string;
  scaleIndex: number;
  pn: number;
  tokens: Int32Array;
  /** Probability of the sampled token and the top-1 probability per position (after CFG, before top-k/p). */
  sampledProb: Float32Array;
  top1Prob: Float32Array;
  entropy: Float32Array;
  /** decode(f̂ after this scale). */
  image: RgbaImage;
}

/**
 * Sampling settings of an Infinity generation, as the official autoregressive_infer_cfg takes them: per scale a CFG
 * strength and a temperature (the logits are multiplied by 1 / tau), top-k and top-p on each bit's two logits.
 */
export interface BitGenerationSettings {
  family: 'infinity';
  /** The caption. */
  text: TextCondition;
  /** h / w of the schedule (the bundle's nearest template ratio); default the bundle's first schedule. */
  hDivW?: number;
  seed: number;
  /** One value per scale of the schedule (official cfg_list): CFG mixes cfg · cond + (1 − cfg) · uncond; 1 = none. */
  cfgList: number[];
  /** One value per scale (official tau_list). */
  tauList: number[];
  /** 0 = off; 1 = greedy (the larger logit of each bit). */
  topK: number;
  /** 0 = off. */
  topP: number;
  /** Where CFG goes (official cfg_insertion_layer): 0 on the logits, n < 0 after block depth + n; default the bundle's. */
  cfgInsertionLayer?: number;
}

/** An Infinity generation's settings but its caption (the panel's form; the caption control holds the caption). */
export type BitSamplingForm = Omit<BitGenerationSettings, 'family' | 'text'>;

/** Settings of a generation of either family: narrow on `family` (absent: VAR). */
export type AnyGenerationSettings = GenerationSettings | BitGenerationSettings;

/** One scale of an Infinity generation, streamed as it is computed. */
export interface BitGenerationStep {
  family: 'infinity';
  runId: string;
  scaleIndex: number;
  /** Token grid h × w. */
  h: number;
  w: number;
  /** 0/1 [h·w·d], token p's bit j at p·d + j. */
  bits: Uint8Array;
  /** Probability of each sampled bit [h·w·d] (after CFG and tau, before top-k / top-p). */
  sampledProb: Float32Array;
  /** Entropy of each token's bits [h·w], nats: the sum of its d bits' entropies. */
  entropy: Float32Array;
  /** decode(f̂ after this scale), RGB. */
  image: RgbaImage;
}

/** A step of a generation of either family. */
export type AnyGenerationStep = GenerationStep | BitGenerationStep;

/** An image prepared for a model input of H × W pixels (Infinity's schedules): the crop in source pixels. */
export interface SizedImage extends Omit<PreparedImage, 'crop'> {
  crop: { x: number; y: number; width: number; height: number };
}

/** The facts about a loaded Infinity model (bitwise, text-conditioned VAR) the views and the CLI need. */
export interface BitsModelInfo {
  family: 'infinity';
  id: string;
  name: string;
  dir: string;
  /** Bits per token (d). */
  bits: number;
  depth: number;
  numHeads: number;
  embedDim: number;
  /** Width of a caption feature row (the T5 encoder's). */
  textFeatureWidth: number;
  /** The bundle has a text encoder, so a caption may be a prompt; without one it is a features file. */
  textEncoder: boolean;
  /** Every schedule has the infinityAttention graph (a bundle exported before it has none: re-export for attention). */
  attentionGraph: boolean;
  schedules: Array<{
    id: string;
    hDivW: number;
    pn: string;
    scales: Array<[number, number]>;
    tokenCount: number;
    pixelSize: [number, number];
  }>;
  sampling: { cfg: number; tau: number; topK: number; topP: number; cfgInsertionLayer: number };
  provider: string;
  providerFallbacks: Array<{ provider: string; reason: string }>;
}

/** A loaded model of either family: narrow on `family`. */
export type AnyModelInfo = ModelInfo | BitsModelInfo;

/** One scale of an Infinity image: its bits, and the image of the codes summed up to it. */
export interface BitScale {
  scaleIndex: number;
  /** Token grid h × w. */
  h: number;
  w: number;
  /** 0/1, [h·w·d]: token p's bit j at p·d + j (bit j = latent channel j > 0), positions row-major. */
  bits: Uint8Array;
  /** ‖f − f̂_k‖ per latent position after this scale, latent h·w (the last scale's). */
  residualNorm: Float32Array;
  /** Σ‖f − f̂_k‖² / Σ‖f‖² after this scale. */
  residualEnergy: number;
  /** decode(f̂_k), RGB. */
  decoded: RgbaImage;
  /** Mean absolute pixel error to the input per pixel, in [0, 1], H·W. */
  errorMap: Float32Array;
  /** PSNR of decode(f̂_k) vs the input, dB. */
  psnr: number;
}

/** An image tokenized by an Infinity model at one schedule. */
export interface BitsInspectResult {
  model: BitsModelInfo;
  /** The schedule's id ('hw0.750-0.06M'). */
  schedule: string;
  image: SizedImage;
  scales: BitScale[];
  /** This image's per-bit statistics (src/engine/analysis/bitStats.ts). */
  usage: BitUsage;
}

/** One scale of an Infinity model's bit usage: how often each bit is 1, and how many different codes occur. */
export interface BitScaleUsage {
  scaleIndex: number;
  /** Tokens counted at this scale (over every image). */
  tokens: number;
  /** [d]: tokens whose bit j is 1. */
  ones: Float64Array;
  /** [d]: ones / tokens, the bit's balance (0.5 = even). */
  balance: Float64Array;
  /** [d]: binary entropy of the balance, bits (1 = even, 0 = the bit never changes). */
  entropy: Float64Array;
  /** Different d-bit codes among the tokens (exact, any d, up to the counter's cap). */
  distinct: number;
  /** Whether more different codes occurred than the counter keeps: `distinct` is then a lower bound. */
  distinctCapped: boolean;
}

/**
 * Bit usage of an Infinity model's tokens (one image or a folder): the per-bit counterpart of a codebook histogram,
 * which would need 2^d bins. `kind` tells it from a VAR model's CodebookUsage.
 */
export interface BitUsage {
  kind: 'bits';
  /** Bits per token (d). */
  bits: number;
  /** The schedules the images were tokenized at (scale k of each counts as scale k). */
  schedules: string[];
  perScale: BitScaleUsage[];
  /** Tokens over all scales, and the different codes among them (a lower bound when `distinctCapped`). */
  tokens: number;
  distinct: number;
  distinctCapped: boolean;
  /** Images counted (1 for one image). */
  images: number;
}

/** A count of different codes as text: "≥ N" when it is a lower bound. */
export function distinctText(distinct: number, capped: boolean): string {
  return capped ? `≥ ${distinct}` : String(distinct);
}

/** The counts of different codes that are lower bounds, as "perScale[k]: ≥ N" (k as in the JSON) and "all scales: ≥ N". */
export function cappedDistinctCounts(u: BitUsage): string[] {
  const capped = u.perScale.filter((s) => s.distinctCapped).map((s) => `perScale[${s.scaleIndex}]: ${distinctText(s.distinct, true)}`);
  return u.distinctCapped ? [...capped, `all scales: ${distinctText(u.distinct, true)}`] : capped;
}

/** Bit usage as JSON (typed arrays as arrays), as `varscope stats` and the Codebook view's export write it. */
export function bitUsageJson(u: BitUsage) {
  return {
    bits: u.bits,
    schedules: u.schedules,
    images: u.images,
    tokens: u.tokens,
    distinct: u.distinct,
    distinctCapped: u.distinctCapped,
    perScale: u.perScale.map((s) => ({
      tokens: s.tokens,
      distinct: s.distinct,
      distinctCapped: s.distinctCapped,
      ones: Array.from(s.ones),
      balance: Array.from(s.balance),
      entropy: Array.from(s.entropy),
    })),
  };
}

/** Codebook counts of either family: a VAR model's histogram, an Infinity model's bit usage. */
export type AnyUsage = CodebookUsage | BitUsage;

/** Bit accuracy (every bit counted) and token accuracy (a token counts when all its d bits are right). */
export interface BitAccuracy {
  bitAccuracy: number;
  tokenAccuracy: number;
}

/** Teacher-forced prediction of one scale's bits, beside what needs no model. */
export interface BitScaleEval extends BitAccuracy {
  scaleIndex: number;
  h: number;
  w: number;
  /** Predicting, for every bit j, its majority value at this scale (of this image's bits: an upper bound of the rule). */
  majorityBaseline: BitAccuracy;
  /** Copying the coarser scale's bits, nearest-upsampled to this grid (null at the first scale). */
  copyCoarserBaseline: BitAccuracy | null;
  /** 0/1 per bit [h·w·d]: the argmax equals the true bit. */
  correct: Uint8Array;
  /** Wrong bits per token [h·w] (0 … d; 0 = the token is right), positions row-major. */
  wrongBits: Uint8Array;
}

/** Teacher-forced evaluation of an image's bits for one caption. */
export interface BitsEvalResult {
  schedule: string;
  /** Caption tokens given. */
  captionTokens: number;
  scales: BitScaleEval[];
  /** Over every token of the image. */
  overall: BitAccuracy;
}

/** Matrix-product FLOPs (2·m·n·k each) of a pass or a scale, by part of the transformer (src/engine/analysis/flops.ts). */
export interface MatmulFlops {
  /** word_embed of the scale's inputs. */
  embed: number;
  /** q, k, v and output projections of every block. */
  attentionProjections: number;
  /** q·kᵀ and attention·v of every block (grows with the positions attended to). */
  attentionScores: number;
  mlp: number;
  /** The logits: [tokens, D] × [D, V]. */
  head: number;
  /** Per-sequence products on the class condition (adaLN of the blocks and of the head). */
  conditioning: number;
  total: number;
}

/** The machine's measured rate of the model's matrix products (src/engine/runtime/matmulRate.ts). */
export interface MatmulRate {
  /** GFLOP/s of the best run: the limit. */
  gflops: number;
  medianGflops: number;
  /** Rows of each product (the largest scale's tokens of a CFG generation) and each product's [k, n]. */
  m: number;
  shapes: Array<[number, number]>;
  threads: number;
  provider: string;
  runs: number;
}

/** One scale of a profiled generation (each part the best of the repeats). */
export interface GenerationScaleProfile {
  scaleIndex: number;
  pn: number;
  /** Tokens of the scale per sample (pn²; the class token at scale 0); the step runs on batch × tokens rows. */
  tokens: number;
  /** Positions already in the KV cache, which the scale's tokens attend to besides themselves. */
  cachedPositions: number;
  /** ms per part: the graphs that ran (transformerStep, latentStep) and `host` (sampling, CFG mix, copies in JS). */
  ms: Record<string, number>;
  totalMs: number;
  /** FLOPs of the step graph at this scale. */
  flops: MatmulFlops;
  /** Bytes of keys and values the cache holds after this scale. */
  kvBytes: number;
}

/** One scale of a teacher-forced pass: its rows' share of the one transformer run. */
export interface TeacherForcedScaleProfile {
  scaleIndex: number;
  pn: number;
  tokens: number;
  flops: MatmulFlops;
}

/** Where the time of one generation and one teacher-forced pass goes, per scale and per graph. */
export interface ScaleProfile {
  model: string;
  provider: string;
  classId: number;
  repeats: number;
  rate: MatmulRate;
  generation: {
    settings: GenerationSettings;
    /** 2 with CFG. */
    batch: number;
    scales: GenerationScaleProfile[];
    /** The final decode of f̂ to pixels. */
    decodeMs: number;
    /** Sum of every scale's parts and the decode. */
    totalMs: number;
    /** The best time of the whole generation, measured around it. */
    wallMs: number;
    flops: number;
    /** The last two scales' share of the scales' time and of their FLOPs. */
    lastTwoShare: { time: number; flops: number };
  };
  teacherForced: {
    /** The image's file name, or null: the pass ran on the generated sample's own tokens. */
    image: string | null;
    /** ms per graph: encoder and quantizer (with an image), transformer. */
    graphs: Array<{ role: string; ms: number }>;
    /** Sum of the graphs. */
    totalMs: number;
    wallMs: number;
    /** Per scale; the one transformer run computes every scale at once, so time is per graph only. */
    scales: TeacherForcedScaleProfile[];
    /** Per-sequence conditioning products, once per pass. */
    conditioningFlops: number;
    flops: number;
    lastTwoShare: { flops: number };
  };
}
