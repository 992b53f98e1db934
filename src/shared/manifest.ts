/**
 * The model bundle: `varscope.json` beside the ONNX graphs it names.
 *
 * Written by the exporter (`python/varscope/bundle/export.py`), read by the engine. This file is the one
 * definition of the format; the Python side mirrors it. Names follow the VAR paper / official code
 * (patchNums, beginEnds, Cvae, fHat). Shapes use B = batch, C = Cvae, h = w = latent side,
 * H = W = image side, L = total tokens, V = vocab size, D = embed dim, nh = heads, hd = D / nh.
 *
 * Graphs: every graph's inputs and outputs (names, dtypes, dims in terms of the model facts) are listed once, in
 * graphSpec.json beside this file; the engine's checks (src/engine/bundle/manifestCheck.ts) and the exporter
 * (python/varscope/bundle/bundle_spec.py) both read it.
 */

/**
 * Manifest format version this code reads and writes. 2: the block-causal mask is computed inside the transformer
 * graph, attention weights have a graph of their own (`attention`), and `files` records every file's sha256.
 */
export const MANIFEST_VERSION = 2;

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
  dtype: 'float32' | 'float16' | 'int64' | 'uint8';
  dims: Array<number | string>;
}

/** The roles a bundle's graphs play; the engine opens each lazily. */
export type GraphRole = 'encoder' | 'quantizer' | 'decoder' | 'latentStep' | 'transformer' | 'attention' | 'transformerStep';

/** graphSpec.json: each role's inputs, outputs and fact-bearing initializers; dims are numbers, facts or dynamic axes. */
export interface GraphSpecTable {
  facts: Record<string, string>;
  dynamic: Record<string, string>;
  graphs: Record<GraphRole, GraphSpecEntry>;
  /** Graphs of bundles from an earlier exporter that the engine still reads, told apart by their outputs. */
  legacyGraphs: Partial<Record<GraphRole, GraphSpecEntry>>;
}

/** One graph of graphSpec.json: its inputs, outputs and fact-bearing initializers. */
export interface GraphSpecEntry {
  inputs: Record<string, SpecTensor>;
  outputs: Record<string, SpecTensor>;
  initializers?: Record<string, Array<number | string>>;
}

/** One tensor of graphSpec.json. */
export interface SpecTensor {
  dtype: TensorSpec['dtype'];
  dims: Array<number | string>;
}

/** sha256 and size of one bundle file, recorded by the exporter. */
export interface FileHash {
  sha256: string;
  bytes: number;
}

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
  /** Every file the bundle reads (graphs, their external data, raw tensors), by path relative to the bundle folder. */
  files: Record<string, FileHash>;
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

/** The model families this engine opens: `family` absent or "var" (VAR), "infinity" (python -m varscope.infinity.export). */
export type ModelFamily = 'var' | 'infinity';

/** The graphs of each schedule of an Infinity bundle (python/varscope/infinity/graphs.py). */
export type InfinityGraphRole = 'bsqEncoder' | 'bitsToLatent' | 'bsqDecoder' | 'infinityTransformer' | 'infinityStep';

/** The graph roles every schedule of an Infinity bundle has. */
export const INFINITY_GRAPH_ROLES: readonly InfinityGraphRole[] = [
  'bsqEncoder',
  'bitsToLatent',
  'bsqDecoder',
  'infinityTransformer',
  'infinityStep',
];

/** Graphs a schedule may lack (a bundle exported before they were added); a request that needs one says so in one line. */
export type InfinityOptionalGraphRole = 'infinityAttention';

/** The optional graph roles, in the exporter's order after INFINITY_GRAPH_ROLES. */
export const INFINITY_OPTIONAL_GRAPH_ROLES: readonly InfinityOptionalGraphRole[] = ['infinityAttention'];

/** One scale schedule (aspect ratio and pixel budget) of an Infinity bundle, with its own graphs. */
export interface InfinitySchedule {
  /** 'hw1.000-0.06M' */
  id: string;
  /** The template ratio h / w of the official table. */
  hDivW: number;
  /** Pixel budget, '0.06M'. */
  pn: string;
  /** (t, h, w) of every scale, coarse to fine. */
  scales: Array<[number, number, number]>;
  beginEnds: Array<[number, number]>;
  tokenCount: number;
  /** [H, W] of the model input image. */
  pixelSize: [number, number];
  /** [h, w] of the latent (the last scale). */
  latentSize: [number, number];
  graphs: Record<InfinityGraphRole, GraphSpec> & Partial<Record<InfinityOptionalGraphRole, GraphSpec>>;
}

/** The text encoder of an Infinity bundle: textEncoder (input_ids, attention_mask [1, N] -> last_hidden_state
 *  [1, N, featureWidth]) and its tokenizer.json. */
export interface InfinityTextEncoder extends GraphSpec {
  tokenizer: string;
}

/** varscope.json of an Infinity bundle (`"family": "infinity"`, python/varscope/infinity/bundle_spec.py). */
export interface InfinityManifest {
  format: 'varscope-bundle';
  version: number;
  family: 'infinity';
  id: string;
  name: string;
  /** Bits per token (d). */
  bits: number;
  vae: { codebookDim: number; downsample: number; ch: number; chMult: number[] };
  infinity: { depth: number; embedDim: number; numHeads: number; headDim: number };
  /** Caption features: T5 last_hidden_state rows of featureWidth; a caption has at most maxLength tokens. */
  text: { featureWidth: number; maxLength: number };
  /** The caption encoder, when exported (python -m varscope.infinity.text_encoder): the T5 encoder's graph and the
   *  tokenizer.json transformers tokenizes with. */
  textEncoder?: InfinityTextEncoder;
  unconditionalText: RawTensorFile;
  /** model input = (pixel/255 - mean) / std */
  normalization: { mean: number; std: number };
  sampling: { cfg: number; tau: number; topK: number; topP: number; cfgInsertionLayer: number };
  schedules: InfinitySchedule[];
  files: Record<string, FileHash>;
  provenance: { exporter: string; exportedAt: string; sources: Array<{ role: string; file: string; sha256: string; bytes: number }> };
}
