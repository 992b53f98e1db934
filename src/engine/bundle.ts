/**
 * A model bundle on disk: varscope.json, the graphs it names (paths relative to the bundle folder, so
 * "../other/encoder.onnx" lets two bundles share the VAE) and raw tensors. Graphs open lazily, each
 * checked against the manifest when it opens.
 */
import * as fs from 'fs';
import * as path from 'path';
import { OFFICIAL_SAMPLING, type BundleManifest, type GraphRole, type RawTensorFile } from '../shared/manifest';
import type { ModelInfo, NodePlacement } from '../shared/results';
import { VarScopeError } from '../shared/rpc';
import { codeColors } from './codeColors';
import type { Graph } from './graph';
import { openGraph } from './graphPool';
import { checkGraph, checkManifest, GRAPH_ROLES } from './manifestCheck';
import type { OnnxRuntime } from './onnxRuntime';
import { fromNested } from './tensor';

/** A loaded bundle: manifest, codebook, interpolation matrices and lazily opened graphs. */
export class ModelBundle {
  private readonly sessions = new Map<GraphRole, Promise<Graph>>();
  private readonly placements = new Map<GraphRole, NodePlacement>();
  /** Called once per graph when its node placement is known (after its first run). */
  onPlacement?: (role: GraphRole, graph: Graph, placement: NodePlacement) => void;
  private colors: Uint8Array | undefined;
  private closed = false;
  /** Per scale: up [h, pn] and down [pn, h] as float32, row-major. */
  readonly up: Float32Array[];
  readonly down: Float32Array[];

  private constructor(
    readonly dir: string,
    readonly manifest: BundleManifest,
    /** [V, C] */
    readonly codebook: Float32Array,
    /** [SN, V] or undefined */
    readonly trainingHits: Float32Array | undefined,
    private readonly runtime: OnnxRuntime,
  ) {
    const h = manifest.vae.latentSize;
    this.up = manifest.patchNums.map((pn, k) => fromNested(manifest.interpolation.up[k], [h, pn], `interpolation.up[${k}]`));
    this.down = manifest.patchNums.map((pn, k) => fromNested(manifest.interpolation.down[k], [pn, h], `interpolation.down[${k}]`));
  }

  /** Read and check a bundle folder (or a varscope.json path). Graph files must exist; they open on first use. */
  static load(dirOrFile: string, runtime: OnnxRuntime): ModelBundle {
    const file = dirOrFile.endsWith('.json') ? path.resolve(dirOrFile) : path.resolve(dirOrFile, 'varscope.json');
    const dir = path.dirname(file);
    if (!fs.existsSync(file)) throw new VarScopeError('ModelNotFound', `no model bundle at ${dir} (varscope.json not found)`);
    let manifest: BundleManifest;
    try {
      manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as BundleManifest;
    } catch (e) {
      throw new VarScopeError('ModelLoad', `${file}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
    }
    const problems = checkManifest(manifest);
    if (problems.length) throw new VarScopeError('ModelLoad', `${file}: ${problems[0]}`, problems.join('\n'));
    for (const role of GRAPH_ROLES) {
      const g = path.resolve(dir, manifest.graphs[role].file);
      if (!fs.existsSync(g)) throw new VarScopeError('ModelLoad', `${file}: graph file of "${role}" not found: ${g}`);
    }
    const codebook = readRaw(dir, manifest.codebook, 'codebook') as Float32Array;
    const hits = manifest.trainingHits ? toF32(readRaw(dir, manifest.trainingHits, 'trainingHits')) : undefined;
    return new ModelBundle(dir, manifest, codebook, hits, runtime);
  }

  /** The opened graph of a role (opened and checked on first use); Cancelled once the bundle is closed. */
  graph(role: GraphRole): Promise<Graph> {
    if (this.closed) return Promise.reject(new VarScopeError('Cancelled', `${this.manifest.id}: the model was closed`));
    let s = this.sessions.get(role);
    if (!s) {
      s = this.openGraph(role);
      this.sessions.set(role, s);
      s.catch(() => this.sessions.delete(role)); // a failed open may be retried
    }
    return s;
  }

  /**
   * Open every graph now (surfaces every load problem up front). The first alone, which settles the execution
   * provider; then the others together, so that the decoder pool's worker threads start while this thread opens
   * the rest (default model: open 890 -> 560-640 ms).
   */
  async openAll(): Promise<void> {
    const [first, ...rest] = GRAPH_ROLES;
    await this.graph(first);
    await Promise.all(rest.map((role) => this.graph(role)));
  }

  /** Facts about the model for the views. */
  info(): ModelInfo {
    const m = this.manifest;
    this.colors ??= codeColors(this.codebook, m.vae.vocabSize, m.vae.Cvae, this.trainingHits);
    return {
      id: m.id,
      name: m.name,
      dir: this.dir,
      patchNums: m.patchNums,
      beginEnds: m.beginEnds,
      tokenCount: m.tokenCount,
      vocabSize: m.vae.vocabSize,
      Cvae: m.vae.Cvae,
      imageSize: m.vae.imageSize,
      latentSize: m.vae.latentSize,
      depth: m.var.depth,
      numHeads: m.var.numHeads,
      embedDim: m.var.embedDim,
      numClasses: m.var.numClasses,
      nullClass: m.var.nullClass,
      sampling: m.sampling ?? OFFICIAL_SAMPLING,
      classes: Array.from({ length: m.var.numClasses }, (_, i) => m.classes?.[i] ?? `class ${i}`),
      hasTrainingHits: !!this.trainingHits,
      provider: this.runtime.provider ?? 'not started',
      providerFallbacks: [...this.runtime.fallbacks],
      nodePlacement: Object.fromEntries(this.placements),
      codeColors: this.colors,
    };
  }

  /** Release every opened graph; later uses fail (work still running on the bundle must not open them again). */
  async dispose(): Promise<void> {
    this.closed = true;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await s.then((g) => g.dispose()).catch(() => undefined);
  }

  private async openGraph(role: GraphRole): Promise<Graph> {
    const file = path.resolve(this.dir, this.manifest.graphs[role].file);
    const g = await openGraph(this.runtime, file, role, role === 'decoder' ? decoderRunBytes(this.manifest) : undefined);
    const problems = checkGraph(this.manifest, role, g.inputs, g.outputs);
    if (problems.length) {
      await g.dispose();
      throw new VarScopeError('ModelLoad', `${file} (${role}) does not match varscope.json: ${problems[0]}`, problems.join('\n'));
    }
    void g.placement.then((p) => {
      if (!p || this.closed) return;
      this.placements.set(role, p);
      this.onPlacement?.(role, g, p);
    });
    return g;
  }
}

/**
 * Memory one decode holds in onnxruntime's arena, estimated as 8 float32 activations of the full-resolution stage
 * (image side² × ch × chMult[0]): 4 MB for the default model (64 px, ch 32), 67 MB for the fixture (256 px, ch 32);
 * measured ~4 and ~80 MB.
 */
function decoderRunBytes(m: BundleManifest): number {
  const { imageSize: S, ch, chMult } = m.vae;
  return 8 * 4 * S * S * ch * chMult[0];
}

function readRaw(dir: string, spec: RawTensorFile, what: string): Float32Array | BigInt64Array | Int32Array {
  const file = path.resolve(dir, spec.file);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    throw new VarScopeError('ModelLoad', `${what} file not found: ${file}`);
  }
  const n = spec.dims.reduce((a, b) => a * b, 1);
  const size = spec.dtype === 'int64' ? 8 : 4;
  if (buf.length !== n * size) throw new VarScopeError('ModelLoad', `${file}: ${buf.length} bytes, ${what} ${spec.dtype}[${spec.dims}] needs ${n * size}`);
  // Copy into an aligned buffer: a Buffer's byteOffset may not be a multiple of the element size.
  const ab = new ArrayBuffer(buf.length);
  new Uint8Array(ab).set(buf);
  if (spec.dtype === 'float32') return new Float32Array(ab);
  if (spec.dtype === 'int32') return new Int32Array(ab);
  return new BigInt64Array(ab);
}

function toF32(a: Float32Array | BigInt64Array | Int32Array): Float32Array {
  if (a instanceof Float32Array) return a;
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Number(a[i]);
  return out;
}
