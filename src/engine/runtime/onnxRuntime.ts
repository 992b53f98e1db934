/**
 * The one file that imports onnxruntime-node: execution-provider choice, session options and runs.
 *
 * NOTE: onnxruntime-node throws when a provider cannot start instead of falling back, so `auto` tries
 * each provider in its own try/catch and records why it was skipped.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import type { EngineConfig } from '../../shared/engineApi';
import type { NodePlacement } from '../../shared/results';
import { allocationFailure, VarScopeError } from '../../shared/errors';
import { findCudaLibraries, localCudaSearch } from '../../node/cudaLibraries';
import type { DeviceTensor, Graph, GraphIO } from './graph';
import { placementFromProfile } from './nodePlacement';
import type { HostTensor, TensorDType } from './tensor';

/** Which execution provider to use; `auto` tries the platform's chain (providerChain). */
export type ProviderChoice = EngineConfig['provider'];

/**
 * What onnxruntime-node 1.30 ships per platform, read from its binaries (bin/napi-v6/<platform>/<arch>: the
 * execution providers its binding accepts) and README: CUDA 12 on Linux x64 only (the provider libraries come
 * separately, see cudaLibraries.ts), WebGPU on Windows, macOS and Linux x64 (not Linux arm64), DirectML on
 * Windows, CoreML on macOS. No macOS x64 binary ships in 1.30: there is nothing to run there.
 */
const CHAINS: Record<string, string[]> = {
  'linux/x64': ['cuda', 'webgpu', 'cpu'],
  'linux/arm64': ['cpu'],
  'win32/x64': ['dml', 'webgpu', 'cpu'],
  'win32/arm64': ['dml', 'webgpu', 'cpu'],
  'darwin/arm64': ['coreml', 'webgpu', 'cpu'],
};

/** The providers `auto` tries, in order, on a platform and architecture (default: this process's). */
export function providerChain(platform: string = process.platform, arch: string = process.arch): string[] {
  return CHAINS[`${platform}/${arch}`] ?? ['cpu'];
}

/**
 * Intra-op threads per graph when the setting is 0, measured on this 2-core machine while idle, with thread pools
 * that do not spin (median ms, 1 / 2 threads): encoder 259 / 72 (fixture, 256 px), teacher-forced transformer
 * 38 / 27 (default model) and 15 / 12 (fixture), the transformerStep part of a generation 98 / 87 (default model).
 * Only latentStep, a few small matrix products, is as fast on one thread. The decoder gains little from a second
 * thread (12.4 / 10.5 ms, one 64 px image) and runs in POOLED_ROLES instead. (Under heavy load from other
 * processes one thread wins everywhere: set varscope.threads.)
 */
export const DEFAULT_THREADS: Record<string, number> = {
  encoder: 2,
  quantizer: 2,
  decoder: 2,
  latentStep: 1,
  transformer: 2,
  attention: 2,
  transformerStep: 2,
};

/**
 * Graphs that run with onnxruntime's CPU memory arena. Without it every intermediate tensor is a fresh allocation
 * whose pages fault in on first touch, which is slow on this VM: the default model's teacher-forced forward took
 * 169 ms instead of 39 ms (adding the mask to the [1, 4, 680, 680] attention scores alone took 25 ms per block).
 * The arena keeps its peak: the encoder and quantizer, which run once per image, go without it (engine RSS for the
 * default model: 257 MB this way, 189 MB with no arena). Infinity's transformer graphs too: a 2B model's teacher-forced
 * pass at 0.06M held 12.1 GB without it (its 9.3 GB of weights and malloc'd intermediates the process kept), 10.7 GB
 * with it, and generated within the same peak (12.1 GB).
 */
export const ARENA_ROLES = ['transformer', 'attention', 'transformerStep', 'decoder', 'infinityTransformer', 'infinityStep'];

/**
 * Outputs left on the GPU per graph role, on WebGPU (the only provider whose GPU buffers onnxruntime-node hands out):
 * the KV cache, fed back at the next scale instead of copied to the host and up again at every scale.
 */
export const DEVICE_OUTPUTS: Record<string, string[]> = { transformerStep: ['presentKey', 'presentValue'] };

/** Runtime settings of the engine process. */
export interface RuntimeOptions {
  provider: ProviderChoice;
  /** Intra-op threads for the CPU provider; 0 = DEFAULT_THREADS of each graph. */
  threads: number;
  /** Folder holding onnxruntime's CUDA provider libraries (also put on LD_LIBRARY_PATH by the client). */
  cudaLibraryPath?: string;
  /** The Python interpreter VARScope exports with: its nvidia-* wheels may serve the CUDA provider. */
  pythonPath?: string;
  /** onnxruntime's CPU memory arena for every graph (default: ARENA_ROLES only). */
  cpuMemArena?: boolean;
  /** Profile each graph's first run to learn where its nodes ran (Graph.placement); default true. */
  profilePlacement?: boolean;
}

/** One opened ONNX graph. */
export class GraphSession implements Graph {
  readonly inputs: GraphIO[];
  readonly outputs: GraphIO[];
  readonly placement: Promise<NodePlacement | undefined>;
  private placed!: (p: NodePlacement | undefined) => void;

  constructor(
    private readonly session: ort.InferenceSession,
    readonly file: string,
    readonly provider: string,
    /** Folder of the profile onnxruntime writes for this session (profiling on), read and removed after the first run. */
    private profileDir?: string,
    readonly deviceOutputs: readonly string[] = [],
  ) {
    this.inputs = session.inputMetadata.map(toIO);
    this.outputs = session.outputMetadata.map(toIO);
    this.placement = new Promise((resolve) => (this.placed = resolve));
    if (!profileDir) this.placed(undefined);
  }

  /** Run the graph; `fetches` limits the outputs computed. Errors name every input's dtype and dims. */
  async run(feeds: Record<string, HostTensor>, fetches?: string[]): Promise<Record<string, HostTensor>> {
    const result = await this.runOrt(feeds, fetches);
    const out: Record<string, HostTensor> = {};
    for (const [name, t] of Object.entries(result)) {
      if (this.deviceOutputs.includes(name)) t.dispose();
      else out[name] = { dtype: t.type as TensorDType, dims: [...t.dims], data: t.data as HostTensor['data'] };
    }
    return out;
  }

  /** Run with host or device inputs; deviceOutputs come back as DeviceTensor, the others on the host. */
  async runDevice(
    feeds: Record<string, HostTensor | DeviceTensor>,
    fetches?: string[],
  ): Promise<{ host: Record<string, HostTensor>; device: Record<string, DeviceTensor> }> {
    const result = await this.runOrt(feeds, fetches);
    const host: Record<string, HostTensor> = {};
    const device: Record<string, DeviceTensor> = {};
    for (const [name, t] of Object.entries(result)) {
      if (this.deviceOutputs.includes(name)) device[name] = new OrtDeviceTensor(t);
      else host[name] = { dtype: t.type as TensorDType, dims: [...t.dims], data: t.data as HostTensor['data'] };
    }
    return { host, device };
  }

  /** The runs of this session, one after the other (see runOrt). */
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * NOTE: onnxruntime-node runs a session synchronously on this thread, in a setImmediate callback: runs issued
   * together all start in one turn of the event loop and hold it for all of them (a batch's ten decodes per image:
   * over a minute for 32 images of a 256 px model), while requests wait, the watchdog's ping and a cancel among
   * them. Chained, each starts once the one before has returned, and the event loop turns in between.
   */
  private runOrt(feeds: Record<string, HostTensor | DeviceTensor>, fetches?: string[]): Promise<Record<string, ort.Tensor>> {
    const turn = this.queue.then(() => this.runNow(feeds, fetches));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async runNow(feeds: Record<string, HostTensor | DeviceTensor>, fetches?: string[]): Promise<Record<string, ort.Tensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds))
      ortFeeds[name] = t instanceof OrtDeviceTensor ? t.tensor : new ort.Tensor(t.dtype, (t as HostTensor).data, t.dims);
    let result: ort.InferenceSession.ReturnType;
    try {
      result = fetches ? await this.session.run(ortFeeds, fetches) : await this.session.run(ortFeeds);
    } catch (e) {
      const given = Object.entries(feeds)
        .map(([n, t]) => `${n}: ${t.dtype}[${t.dims.join(',')}]`)
        .join('; ');
      const wanted = this.inputs.map((i) => `${i.name}: ${i.dtype}[${i.dims.join(',')}]`).join('; ');
      throw new VarScopeError(
        allocationFailure(firstLine(e)) ? 'OutOfMemory' : 'Inference',
        `${path.basename(this.file)} failed on ${this.provider}: ${firstLine(e)}`,
        `inputs given: ${given}\ninputs declared: ${wanted}\n${e instanceof Error ? e.stack : String(e)}`,
      );
    }
    if (this.profileDir) this.readPlacement();
    return result as Record<string, ort.Tensor>;
  }

  /** Release the native session. */
  async dispose(): Promise<void> {
    await this.session.release();
    if (this.profileDir) fs.rmSync(this.profileDir, { recursive: true, force: true });
    this.profileDir = undefined;
    this.placed(undefined);
  }

  /**
   * Ends profiling (onnxruntime then stops recording: later runs cost nothing) and reads the node placement from the
   * profile it wrote. A profile that cannot be read leaves the placement unknown; the run's result stands.
   */
  private readPlacement(): void {
    const dir = this.profileDir!;
    this.profileDir = undefined;
    try {
      this.session.endProfiling();
      const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
      this.placed(files.length ? placementFromProfile(JSON.parse(fs.readFileSync(path.join(dir, files[0]), 'utf8'))) : undefined);
    } catch {
      this.placed(undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** An onnxruntime tensor in a GPU buffer. */
class OrtDeviceTensor implements DeviceTensor {
  readonly onDevice = true;
  readonly dtype: TensorDType;
  readonly dims: number[];
  constructor(readonly tensor: ort.Tensor) {
    this.dtype = tensor.type as TensorDType;
    this.dims = [...tensor.dims];
  }
  dispose(): void {
    this.tensor.dispose();
  }
}

/** Opens graphs on the chosen provider and remembers which one runs and why others were skipped. */
export class OnnxRuntime {
  /** Provider actually in use (after the first graph opened). */
  provider: string | undefined;
  readonly fallbacks: Array<{ provider: string; reason: string }> = [];

  constructor(readonly options: RuntimeOptions) {
    // Failures surface as our errors with the reason; onnxruntime's own log lines would only repeat them.
    ort.env.logLevel = 'fatal';
  }

  /**
   * Open one ONNX file as one session (`role` picks its default thread count, `threads` overrides it); errors are
   * ModelLoad and name the file. `prepack: false` leaves the weights where onnxruntime reads them, memory-mapped from
   * the bundle's weights file (see the NOTE in sessionOptions). A graph built in memory comes as its bytes and a name.
   */
  async open(source: string | { name: string; bytes: Uint8Array }, role = '', threads?: number, prepack = true): Promise<GraphSession> {
    // NOTE: a bundle's graphs open by path, not from bytes: large graphs keep weights in external data files beside them.
    const file = typeof source === 'string' ? source : source.name;
    if (typeof source === 'string')
      try {
        fs.accessSync(file, fs.constants.R_OK);
      } catch (e) {
        throw new VarScopeError('ModelLoad', `cannot read graph ${file}: ${firstLine(e)}`);
      }
    const order: string[] = this.provider ? [this.provider] : this.options.provider === 'auto' ? providerChain() : [this.options.provider];
    let lastError: unknown;
    for (const p of order) {
      const profileDir = this.options.profilePlacement === false ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-profile-'));
      try {
        const device = p === 'webgpu' ? (DEVICE_OUTPUTS[role] ?? []) : [];
        const options = {
          ...this.sessionOptions(p, role, threads, profileDir, prepack),
          ...(device.length ? { preferredOutputLocation: Object.fromEntries(device.map((n) => [n, 'gpu-buffer' as const])) } : {}),
        };
        const session = await (typeof source === 'string'
          ? ort.InferenceSession.create(source, options)
          : ort.InferenceSession.create(source.bytes, options));
        this.provider = p;
        return new GraphSession(session, file, p, profileDir, device);
      } catch (e) {
        if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
        lastError = e;
        if (isModelError(e)) break; // the file is bad: another provider will not help
        if (!this.provider && order.length > 1) this.fallbacks.push({ provider: p, reason: this.explain(p, e) });
      }
    }
    if (isModelError(lastError)) throw new VarScopeError('ModelLoad', `${file} is not a valid ONNX graph: ${firstLine(lastError)}`);
    const p = order[order.length - 1];
    if (allocationFailure(firstLine(lastError)))
      throw new VarScopeError('OutOfMemory', `not enough memory to open ${file} on ${p}: ${this.explain(p, lastError)}`);
    throw new VarScopeError('ModelLoad', `cannot open ${file} on ${p}: ${this.explain(p, lastError)}`);
  }

  private sessionOptions(
    provider: string,
    role: string,
    threadsOverride?: number,
    profileDir?: string,
    prepack = true,
  ): ort.InferenceSession.SessionOptions {
    const threads = threadsOverride ?? (this.options.threads > 0 ? this.options.threads : (DEFAULT_THREADS[role] ?? 2));
    const ep: ort.InferenceSession.ExecutionProviderConfig = provider === 'cuda' ? { name: 'cuda', deviceId: 0 } : provider;
    return {
      executionProviders: [ep],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      enableCpuMemArena: this.options.cpuMemArena ?? ARENA_ROLES.includes(role),
      logSeverityLevel: 3,
      ...(profileDir ? { enableProfiling: true, profileFilePrefix: path.join(profileDir, 'profile') } : {}),
      // NOTE: each graph has its own thread pool; pools that spin after their run steal the cores from the next
      // graph (open image 128 -> 94 ms without spinning, default model, 2 cores).
      // NOTE: external-data weights are memory-mapped from the file; the CPU provider then packs every matrix product's
      // weights into a private copy of its own (official d16: 17 s and 1.2 GB per transformer graph). Without
      // prepacking a session opens in under a second and its weights stay file pages that only count once read, but
      // a KV-cached step at the coarsest scale ran 2.8x slower (111 -> 311 ms) and the teacher-forced pass 13 % slower.
      extra: { session: { intra_op: { allow_spinning: '0' }, ...(prepack ? {} : { disable_prepacking: '1' }) } },
    };
  }

  private explain(provider: string, e: unknown): string {
    // NOTE: onnxruntime prefixes many messages with its source location and the failed check; keep the sentence.
    const msg = firstLine(e)
      .replace(/^\/onnxruntime_src\/\S+ .*? (was false|failed)\. /, '')
      .replace(/^\/onnxruntime_src\/\S+ \S+::.*?\) (?=\w)/, ''); // a source location and a C++ signature
    if (provider === 'cuda' && /shared library|cannot open shared object|libcu|CUDA/i.test(msg)) {
      // Say which library is missing or does not match, from the same search that set the engine's LD_LIBRARY_PATH.
      const { problems } = findCudaLibraries(localCudaSearch(this.options.cudaLibraryPath, this.options.pythonPath));
      const where = this.options.cudaLibraryPath
        ? ` (varscope.cudaLibraryPath = ${this.options.cudaLibraryPath})`
        : ' (varscope.cudaLibraryPath is not set)';
      return problems.length ? `CUDA provider unavailable${where}: ${problems.join('; ')} (onnxruntime: ${msg})` : msg;
    }
    return msg;
  }
}

function toIO(m: ort.InferenceSession.ValueMetadata): GraphIO {
  return m.isTensor ? { name: m.name, dtype: m.type, dims: [...m.shape] } : { name: m.name, dtype: 'non-tensor', dims: [] };
}

function isModelError(e: unknown): boolean {
  return /protobuf parsing failed|invalid model|model_path|ModelProto|Load model|INVALID_PROTOBUF/i.test(firstLine(e));
}

function firstLine(e: unknown): string {
  const s = e instanceof Error ? e.message : String(e);
  // NOTE: onnxruntime messages carry ANSI colour codes and log lines after the first line.
  return s
    .replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '')
    .split('\n')[0]
    .trim();
}
