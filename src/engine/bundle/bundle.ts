/**
 * A model bundle on disk: varscope.json, the graphs it names (paths relative to the bundle folder, so
 * "../other/encoder.onnx" lets two bundles share the VAE) and raw tensors. Graphs open lazily, each
 * checked against the manifest when it opens.
 */
import * as fs from 'fs';
import * as path from 'path';
import { OFFICIAL_SAMPLING, type BundleManifest, type GraphRole, type RawTensorFile } from '../../shared/manifest';
import type { ModelInfo, NodePlacement } from '../../shared/results';
import { isOneLine, quoted, VarScopeError } from '../../shared/errors';
import { codeColors } from './codeColors';
import type { Graph } from '../runtime/graph';
import { openGraph } from '../runtime/graphPool';
import {
  checkGraph,
  fileHash,
  GRAPH_ROLES,
  INFINITY_NOT_VAR,
  isInfinityManifest,
  parseAnyManifest,
  REEXPORT_HINT,
  type AnyManifest,
} from './manifestCheck';
import { InfinityBundle } from './infinityBundle';
import { WeightHolders } from './weightHolders';
import type { OnnxRuntime } from '../runtime/onnxRuntime';
import { verifyBundleFiles } from './bundleVerify';
import { externalRange, readInitializers, type ExternalRange, type Initializer } from './onnxInitializers';
import { MAX_GRAPH_BYTES, MAX_MANIFEST_BYTES, readCapped } from '../../node/readCapped';
import { fromNested } from '../runtime/tensor';

/** Options of ModelBundle.load. */
export interface LoadOptions {
  /** The verified-hash cache file (default: bundleVerify's defaultCacheFile). */
  cacheFile?: string;
  /** Where load reports what it did (files hashed or taken from the cache). */
  log?: (message: string) => void;
}

/** The graphs that hold the transformer's weights. */
const TRANSFORMER_ROLES: readonly GraphRole[] = ['transformer', 'attention', 'transformerStep'];
/** The teacher-forced and the generation graph: a large bundle never holds both (see WeightHolders). */
const EXCLUSIVE_ROLES: readonly GraphRole[] = ['transformer', 'transformerStep'];

/** A bundle of either family, as its varscope.json says. */
export type AnyBundle = ModelBundle | InfinityBundle;

/** The checked manifest of a bundle folder (or a varscope.json path), of either family. */
async function readBundleManifest(dirOrFile: string): Promise<{ file: string; dir: string; manifest: AnyManifest }> {
  const file = dirOrFile.endsWith('.json') ? path.resolve(dirOrFile) : path.resolve(dirOrFile, 'varscope.json');
  const dir = path.dirname(file);
  if (!fs.existsSync(file)) throw new VarScopeError('ModelNotFound', `no model bundle at ${dir} (varscope.json not found)`);
  const manifest = parseAnyManifest((await readCapped(file, MAX_MANIFEST_BYTES, 'ModelLoad', 'manifest')).toString('utf8'), file);
  return { file, dir, manifest };
}

/** Load a bundle folder as its family's class: ModelBundle (VAR) or InfinityBundle, chosen by its manifest. */
export async function loadBundle(dirOrFile: string, runtime: OnnxRuntime, opts: LoadOptions = {}): Promise<AnyBundle> {
  const { file, dir, manifest } = await readBundleManifest(dirOrFile);
  return isInfinityManifest(manifest)
    ? InfinityBundle.open(dir, manifest, runtime, opts)
    : ModelBundle.open(file, dir, manifest, runtime, opts);
}

/**
 * Makes `g` report each run's wall time, in place (its class and other members stay: a pool is still a GraphPool).
 */
function reportRunTimes(g: Graph, report: (ms: number) => void): Graph {
  const timed =
    <A extends unknown[], R>(f: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const t0 = performance.now();
      const out = await f(...args);
      report(performance.now() - t0);
      return out;
    };
  g.run = timed(g.run.bind(g));
  g.runDevice = timed(g.runDevice.bind(g));
  return g;
}

/** A loaded bundle: manifest, codebook, interpolation matrices and lazily opened graphs. */
export class ModelBundle {
  private readonly sessions = new Map<GraphRole, Promise<Graph>>();
  private readonly placements = new Map<GraphRole, NodePlacement>();
  /** Called once per graph when its node placement is known (after its first run). */
  onPlacement?: (role: GraphRole, graph: Graph, placement: NodePlacement) => void;
  /** Called after every run of a graph of this bundle with its wall time (the profile listens). */
  onGraphRun?: (role: GraphRole, ms: number) => void;
  private colors: Uint8Array | undefined;
  private closed = false;
  /** A large bundle's transformer graphs, opened or released as memory allows. */
  private readonly holders: WeightHolders;
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
    this.holders = new WeightHolders(fileHash(manifest, 'weights.bin')?.bytes ?? 0, () => this.closed, manifest.id);
  }

  /**
   * Read and check a bundle folder (or a varscope.json path): the manifest, every file against its recorded sha256
   * (cached by path, size, mtime, ctime, inode and device), the raw tensors (finite values only). Graphs open on
   * first use.
   */
  static async load(dirOrFile: string, runtime: OnnxRuntime, opts: LoadOptions = {}): Promise<ModelBundle> {
    const { file, dir, manifest } = await readBundleManifest(dirOrFile);
    if (isInfinityManifest(manifest)) throw new VarScopeError('ModelLoad', `${file}: ${INFINITY_NOT_VAR}`);
    return ModelBundle.open(file, dir, manifest, runtime, opts);
  }

  /** ModelBundle.load once its manifest is read. */
  static async open(
    file: string,
    dir: string,
    manifest: BundleManifest,
    runtime: OnnxRuntime,
    opts: LoadOptions = {},
  ): Promise<ModelBundle> {
    const reexport = reexportAdvice(manifest, dir);
    for (const role of GRAPH_ROLES) {
      const g = path.resolve(dir, manifest.graphs[role].file);
      if (!fs.existsSync(g)) throw new VarScopeError('ModelLoad', `${file}: graph file of "${role}" not found: ${g}`);
    }
    const needed = [
      ...GRAPH_ROLES.map((r) => manifest.graphs[r].file),
      manifest.codebook.file,
      ...(manifest.trainingHits ? [manifest.trainingHits.file] : []),
    ];
    const unhashed = needed.filter((f) => !fileHash(manifest, f));
    if (unhashed.length) throw new VarScopeError('ModelLoad', `${file}: ${unhashed[0]} has no sha256 in "files"; ${reexport}`);
    const t0 = Date.now();
    let ranges: Promise<Map<string, WeightRange[]>> | undefined; // read once, when a file is first hashed
    const report = await verifyBundleFiles(dir, manifest, reexport, opts.cacheFile, (rel) =>
      checkWeightsFinite(dir, rel, (ranges ??= floatRanges(dir, manifest))),
    );
    opts.log?.(
      `${manifest.id}: ${report.hashed.length} files hashed, ${report.cached.length} verified earlier (cache), ${Date.now() - t0} ms`,
    );
    const codebook = (await readRaw(dir, manifest.codebook, 'codebook')) as Float32Array;
    const hits = manifest.trainingHits ? toF32(await readRaw(dir, manifest.trainingHits, 'trainingHits')) : undefined;
    return new ModelBundle(dir, manifest, codebook, hits, runtime);
  }

  /** The opened graph of a role (opened and checked on first use); Cancelled once the bundle is closed. */
  graph(role: GraphRole): Promise<Graph> {
    if (this.closed) return Promise.reject(new VarScopeError('Cancelled', `${this.manifest.id}: the model was closed`));
    let s = this.sessions.get(role);
    if (!s) {
      const opened =
        this.large && TRANSFORMER_ROLES.includes(role)
          ? this.holders.open(role, () => this.openGraph(role), EXCLUSIVE_ROLES.includes(role))
          : this.openGraph(role);
      s = opened.then((g) => reportRunTimes(g, (ms) => this.onGraphRun?.(role, ms)));
      this.sessions.set(role, s);
      s.catch(() => this.sessions.delete(role)); // a failed open may be retried
    }
    return s;
  }

  /**
   * Open every graph now (surfaces every load problem up front). The first alone, which settles the execution
   * provider; then the others together, so that the decoder pool's worker threads start while this thread opens
   * the rest (default model: open 890 -> 560-640 ms). A large bundle's transformer graphs are only checked here,
   * through sessions that read their weights in place (under a second each) and are released: the graph that
   * serves a request opens when first used.
   */
  async openAll(): Promise<void> {
    const [first, ...rest] = GRAPH_ROLES;
    await this.graph(first);
    const deferred = this.large ? TRANSFORMER_ROLES : [];
    await Promise.all(rest.map((role) => (deferred.includes(role) ? this.checkOnly(role) : this.graph(role))));
  }

  /** The graphs holding the VAR weights now: transformer roles with a session open (or opening). */
  get weightHolders(): GraphRole[] {
    if (this.large) return this.holders.held() as GraphRole[];
    return TRANSFORMER_ROLES.filter((r) => this.sessions.has(r));
  }

  /** Weights of at least WeightHolders.largeBytes. */
  get large(): boolean {
    return this.holders.large;
  }

  /** Facts about the model for the views. */
  info(): ModelInfo {
    const m = this.manifest;
    this.colors ??= codeColors(this.codebook, m.vae.vocabSize, m.vae.Cvae, this.trainingHits);
    return {
      family: 'var',
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
      vaeChannels: m.vae.ch * m.vae.chMult[0],
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

  /** Open a graph, check it against the manifest and release it (unless a session of it is already open). */
  private async checkOnly(role: GraphRole): Promise<void> {
    if (this.sessions.has(role)) return;
    await (await this.openGraph(role, false)).dispose();
  }

  /**
   * Open the graph of a role and check it against the manifest. `prepack`: false reads the weights in place
   * (OnnxRuntime.open); a large bundle's attention graph always does, as it runs only when its view asks.
   */
  private async openGraph(role: GraphRole, prepack = !(this.large && role === 'attention')): Promise<Graph> {
    const file = path.resolve(this.dir, this.manifest.graphs[role].file);
    const inits = await graphInitializers(this.dir, this.manifest.graphs[role].file);
    externalData(this.dir, this.manifest, this.manifest.graphs[role].file, inits, `${file} (${role})`); // before onnxruntime maps them
    const g = await openGraph(this.runtime, file, role, role === 'decoder' ? decoderRunBytes(this.manifest) : undefined, prepack);
    const problems = checkGraph(this.manifest, role, g.inputs, g.outputs, inits);
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

async function readRaw(dir: string, spec: RawTensorFile, what: string): Promise<Float32Array | BigInt64Array | Int32Array> {
  const file = path.resolve(dir, spec.file);
  const n = spec.dims.reduce((a, b) => a * b, 1);
  const size = spec.dtype === 'int64' ? 8 : 4;
  const buf = await readCapped(file, n * size, 'ModelLoad', `${what} ${spec.dtype}[${spec.dims}]`);
  if (buf.length !== n * size)
    throw new VarScopeError('ModelLoad', `${file}: ${buf.length} bytes, ${what} ${spec.dtype}[${spec.dims}] needs ${n * size}`);
  // Copy into an aligned buffer: a Buffer's byteOffset may not be a multiple of the element size.
  const ab = new ArrayBuffer(buf.length);
  new Uint8Array(ab).set(buf);
  if (spec.dtype === 'float32') {
    const a = new Float32Array(ab);
    const bad = firstNonFinite(a);
    if (bad >= 0)
      throw new VarScopeError(
        'ModelLoad',
        `${file}: ${what} holds a non-finite value (${a[bad]} at element ${bad}); the bundle is damaged or was exported from a broken checkpoint`,
      );
    return a;
  }
  if (spec.dtype === 'int32') return new Int32Array(ab);
  return new BigInt64Array(ab);
}

/** Index of the first NaN or infinity, or -1. */
function firstNonFinite(a: Float32Array | Uint16Array, half = false): number {
  for (let i = 0; i < a.length; i++) {
    if (half ? (a[i] & 0x7c00) === 0x7c00 : !Number.isFinite(a[i])) return i;
  }
  return -1;
}

/** The initializers of a graph file (its protobuf only; weights stay where they are). */
async function graphInitializers(dir: string, rel: string): Promise<Initializer[]> {
  const file = path.resolve(dir, rel);
  const bytes = await readCapped(file, MAX_GRAPH_BYTES, 'ModelLoad', 'graph');
  try {
    return readInitializers(bytes);
  } catch (e) {
    throw new VarScopeError('ModelLoad', `${file} is not a valid ONNX graph: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** An initializer stored in an external data file: the file (bundle-relative) and its checked byte range. */
interface ExternalData {
  t: Initializer;
  rel: string;
  range: ExternalRange;
}

/**
 * The external data of a graph's initializers, each range checked against the recorded size of its file; a ModelLoad
 * error of one line naming the graph (`label`), the initializer and the field when a range is wrong or its file is
 * not hashed in varscope.json.
 */
function externalData(dir: string, m: BundleManifest, graphRel: string, inits: Initializer[], label: string): ExternalData[] {
  const dirRel = path.posix.dirname(graphRel);
  return inits
    .filter((t) => t.external && Object.hasOwn(t.external, 'location'))
    .map((t) => {
      const location = t.external!.location;
      if (!location || path.posix.isAbsolute(location) || /^[A-Za-z]:|\\/.test(location) || !isOneLine(location))
        throw new VarScopeError(
          'ModelLoad',
          `${label}: initializer ${quoted(t.name)}: external data location ${quoted(location)} must be a path relative to the graph`,
        );
      const rel = path.posix.normalize(path.posix.join(dirRel, location));
      const hash = fileHash(m, rel);
      if (!hash)
        throw new VarScopeError('ModelLoad', `${label} reads ${rel}, which varscope.json does not hash; ${reexportAdvice(m, dir)}`);
      try {
        return { t, rel, range: externalRange(t, hash.bytes) };
      } catch (e) {
        throw new VarScopeError('ModelLoad', `${label}: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
}

/** A float32 / float16 weight in an external data file. */
interface WeightRange {
  name: string;
  offset: number;
  length: number;
  half: boolean;
}

/**
 * The float weights of every graph, by the bundle-relative external data file that holds them; a weight the
 * transformer graphs share (the same bytes) is listed once.
 */
async function floatRanges(dir: string, m: BundleManifest): Promise<Map<string, WeightRange[]>> {
  const byFile = new Map<string, Map<string, WeightRange>>();
  const seen = new Set<string>();
  for (const role of GRAPH_ROLES) {
    const g = m.graphs[role].file;
    if (seen.has(g)) continue;
    seen.add(g);
    for (const { t, rel, range } of externalData(dir, m, g, await graphInitializers(dir, g), `${path.resolve(dir, g)} (${role})`)) {
      if (t.dataType !== 1 && t.dataType !== 10) continue; // FLOAT, FLOAT16
      const half = t.dataType === 10;
      const list = byFile.get(rel) ?? new Map<string, WeightRange>();
      const key = `${range.offset}/${range.length}/${half}`;
      if (!list.has(key)) list.set(key, { name: t.name, offset: range.offset, length: range.length, half });
      byFile.set(rel, list);
    }
  }
  return new Map([...byFile].map(([rel, list]) => [rel, [...list.values()]]));
}

/** Bytes of an external data file read at a time by checkWeightsFinite (a multiple of every element size). */
const FINITE_CHUNK = 64 * 2 ** 20;

/**
 * Every float32 / float16 weight stored in `rel` (an external data file) is finite: run when the file is hashed,
 * before its hash is cached, so a bundle exported from a checkpoint holding NaN fails on its first open and after.
 */
async function checkWeightsFinite(dir: string, rel: string, ranges: Promise<Map<string, WeightRange[]>>): Promise<void> {
  const list = (await ranges).get(rel) ?? [];
  if (list.length === 0) return;
  const file = path.resolve(dir, rel);
  const buf = new ArrayBuffer(Math.min(FINITE_CHUNK, Math.max(...list.map((r) => r.length))));
  const fh = await fs.promises.open(file, 'r');
  try {
    for (const r of list) {
      for (let at = 0; at < r.length; at += FINITE_CHUNK) {
        const n = Math.min(FINITE_CHUNK, r.length - at);
        const { bytesRead } = await fh.read(new Uint8Array(buf, 0, n), 0, n, r.offset + at);
        if (bytesRead < n)
          throw new VarScopeError('ModelLoad', `${file}: weight ${r.name} ends past the end of the file (it changed while read)`);
        const a = r.half ? new Uint16Array(buf, 0, n >> 1) : new Float32Array(buf, 0, n >> 2);
        const bad = firstNonFinite(a, r.half);
        if (bad >= 0)
          throw new VarScopeError(
            'ModelLoad',
            `${file}: weight ${r.name} holds a non-finite value at element ${at / (r.half ? 2 : 4) + bad}; the bundle was exported from a broken checkpoint`,
          );
      }
    }
  } finally {
    await fh.close();
  }
}

/** The re-export advice for a bundle, naming its source checkpoints when the manifest records them. */
function reexportAdvice(m: Partial<BundleManifest>, dir: string): string {
  const src = (role: string) => m.provenance?.sources?.find((s) => s.role === role)?.file;
  const vae = src('vae');
  const v = src('var');
  if (!vae || !v) return REEXPORT_HINT;
  return `re-export it from its checkpoints (${vae}, ${v}): \`varscope export --vae ${vae} --var ${v} --out ${dir}\``;
}

function toF32(a: Float32Array | BigInt64Array | Int32Array): Float32Array {
  if (a instanceof Float32Array) return a;
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Number(a[i]);
  return out;
}
