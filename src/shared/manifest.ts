/**
 * The model bundle: `varscope.json` beside the ONNX graphs it names.
 *
 * Written by the exporter (`tools/varscope/export.py`), read by the engine. This file is the one
 * definition of the format; the Python side mirrors it. Names follow the VAR paper / official code
 * (patchNums, beginEnds, Cvae, fHat). Shapes use B = batch, C = Cvae, h = w = latent side,
 * H = W = image side, L = total tokens, V = vocab size, D = embed dim, nh = heads, hd = D / nh.
 *
 * Graphs (all float32 unless said; every graph's input/output names are the keys below):
 *
 * encoder      image [B,3,H,W] in [-1,1]                      -> f [B,C,h,w]  (quant_conv(encoder(x)))
 * quantizer    f [1,C,h,w]                                     -> tokens int64 [1,L]  (scale k = beginEnds[k], row-major pn×pn)
 *                                                                fHat [SN,C,h,w]      (cumulative f̂ after each scale)
 *                                                                varInput [1,L-firstL,C] (teacher-forcing input: area-down f̂ for scales 1..SN-1)
 *                                                                quantDist [L,2]      (squared distance of the quantized vector to its best
 *                                                                                      and second-best code; margin = [1] - [0])
 * decoder      fHat [B,C,h,w]                                  -> image [B,3,H,W] clamped to [-1,1]
 * latentStep   fHat [1,C,h,w], tokens int64 [1,pn*pn],         -> fHatNext [1,C,h,w]  (f̂ + Phi_k(up(embed(tokens))))
 *              up [h,pn], down [pnNext,h], phiIndex int64 []      nextInput [1,pnNext*pnNext,C] (area-down of fHatNext, NLC)
 *              (up / down from `interpolation`; at the last scale up is the identity and down may be any [1,h])
 * transformer  classLabel int64 [B], varInput [B,L-firstL,C],  -> logits [B,L,V]        (teacher-forced, block-causal mask)
 *              attnLayer int64 []                                attn [B,nh,L,L]      (softmax weights of block `attnLayer`)
 * transformerStep classLabel int64 [B], x [B,l,C], scaleIndex int64 [],
 *              pastKey [depth,B,nh,Lp,hd], pastValue [same]   -> logits [B,l,V], presentKey / presentValue [depth,B,nh,Lp+l,hd]
 *              (KV-cached step of scale `scaleIndex`; at scale 0 `x` is ignored (pass [B,1,C] zeros) and the class token
 *               is used; Lp = beginEnds[scaleIndex][0], so scale 0 takes Lp = 0 caches)
 */

/** Manifest format version this code reads and writes. */
export const MANIFEST_VERSION = 1;

/** The official sampler's defaults (VAR at 256 px): what `sampling` means when a bundle does not say. */
export const OFFICIAL_SAMPLING = { cfg: 4, topK: 900, topP: 0.96 };

/** Input and output names of one graph, with their dims (strings for dynamic axes). */
export interface GraphSpec {
  file: string;
  inputs: Record<string, TensorSpec>;
  outputs: Record<string, TensorSpec>;
}

/** dtype and dims of one graph input/output; dynamic dims are named strings ("B", "pn2"). */
export interface TensorSpec {
  dtype: 'float32' | 'float16' | 'int64';
  dims: Array<number | string>;
}

/** The roles a bundle's graphs play; the engine opens each lazily. */
export type GraphRole = 'encoder' | 'quantizer' | 'decoder' | 'latentStep' | 'transformer' | 'transformerStep';

/** A raw little-endian tensor stored beside the manifest (`.bin`). */
export interface RawTensorFile {
  file: string;
  dtype: 'float32' | 'int64' | 'int32';
  dims: number[];
}

/** Everything in varscope.json. */
export interface BundleManifest {
  format: 'varscope-bundle';
  version: number;
  /** Folder-safe id, e.g. "emoji-d8-final". */
  id: string;
  /** Human name shown in the status bar and model picker. */
  name: string;
  description?: string;
  vae: {
    /** Side of the (square) model input image in pixels. */
    imageSize: number;
    /** Latent side h = imageSize / downsample. */
    latentSize: number;
    downsample: number;
    Cvae: number;
    vocabSize: number;
    ch: number;
    chMult: number[];
    /** Phi blend ratio: Phi(x) = (1 - quantResi) x + quantResi conv(x). */
    quantResi: number;
    /** Number of Phi convs (shared over scales by tick). */
    phiCount: number;
  };
  var: {
    depth: number;
    embedDim: number;
    numHeads: number;
    numClasses: number;
    /** Class id meaning "no class" (CFG's unconditional branch) = numClasses. */
    nullClass: number;
    sharedAdaLN: boolean;
    attnL2Norm: boolean;
    mlpRatio: number;
  };
  /** Scale side lengths, coarse to fine, e.g. [1,2,3,4,5,6,8,10,13,16]. */
  patchNums: number[];
  /** [begin, end) of each scale in the flattened token sequence. */
  beginEnds: Array<[number, number]>;
  /** L = sum(pn²). */
  tokenCount: number;
  /** Tokens before the first predicted scale's input (1 in VAR: the class token). */
  firstL: number;
  /** Which Phi conv each scale uses (official tick selection). */
  phiIndexPerScale: number[];
  /** Image normalisation: model input = (pixel/255 - mean) / std (VAR: mean 0.5, std 0.5, so [-1, 1]).
   *  Transparent pixels are composited over `background` (RGB 0-255) first, as the model was trained. */
  normalization: { mean: number; std: number; background: [number, number, number] };
  /** Class names, index = class id (length numClasses). Missing: "class N". */
  classes?: string[];
  /** Fixed interpolation matrices, exact to PyTorch: per scale k, up[k] is [h, pn_k] (bicubic, align_corners=False)
   *  and down[k] is [pn_k, h] (area). Row-major nested arrays. */
  interpolation: { up: number[][][]; down: number[][][] };
  graphs: Record<GraphRole, GraphSpec>;
  /** The codebook [V, C] (for PCA colours, margins, edits). */
  codebook: RawTensorFile;
  /** quantize.ema_vocab_hit_SV from the checkpoint [SN, V], when it carries them. */
  trainingHits?: RawTensorFile;
  /** Default generation settings (official: cfg 4, top-k 900, top-p 0.96 at 256px). */
  sampling?: { cfg: number; topK: number; topP: number };
  provenance: {
    exporter: string;
    exportedAt: string;
    sources: Array<{ role: 'vae' | 'var'; file: string; sha256: string; bytes: number }>;
    /** Max abs difference of each graph output vs the PyTorch reference on the probe image. */
    verification?: Record<string, number>;
    /** Free-form: training run, step, dataset. */
    training?: Record<string, unknown>;
  };
}
