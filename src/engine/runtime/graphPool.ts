/**
 * One graph opened as several single-thread CPU sessions, one in this thread and the others in worker threads,
 * so that independent runs (the ten per-scale decodes of an image) go in parallel. Each run goes to the member
 * with the fewest runs outstanding, a worker on a tie; outputs come back from workers transferred, not copied.
 *
 * NOTE: onnxruntime-node runs a session on the calling thread, blocking it: two runs issued at once from one
 * thread take as long as one after the other, whatever the sessions. Parallel runs need threads of their own, and
 * the runs meant for a worker must be posted before this thread's own run starts (hence the tie rule and the
 * assignment of every run when it is issued).
 */
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { NodePlacement } from '../../shared/results';
import { VarScopeError } from '../../shared/errors';
import type { DeviceTensor, FromGraphWorker, Graph, GraphIO, GraphWorkerData, ToGraphWorker } from './graph';
import type { OnnxRuntime } from './onnxRuntime';
import { ownBuffers, type HostTensor } from './tensor';

/**
 * Graphs that, on the CPU with the threads setting at 0, may open as a GraphPool: single-thread sessions, one in
 * this thread and the others in worker threads, as many as the cores (at most POOL_MAX) and POOL_MEMORY allow.
 * Opening an image decodes every scale, ten independent runs. Small decoders gain little from a second
 * intra-op thread but a lot from two runs at once: on 2 cores the default model's ten decodes took 104 ms one
 * after the other at 2 threads and 62-67 ms two at a time at 1 thread each. One decode alone costs ~2 ms more.
 */
export const POOLED_ROLES = ['decoder'];
const POOL_MAX = 4;
/**
 * Memory the extra sessions of a pool may add together. Each costs a worker thread (~10 MB) plus what one run of
 * the graph holds in its arena (the caller's estimate): ~14 MB for the default model's 64 px decoder (one extra on
 * 2 cores: engine RSS 257 -> 280-290 MB), ~80 MB for the fixture's 256 px one, which therefore runs unpooled.
 */
const POOL_MEMORY = 32 * 2 ** 20;
const WORKER_BYTES = 10 * 2 ** 20;

/**
 * Open one graph of a bundle with `runtime`: a GraphPool when the policy above allows it (a role of POOLED_ROLES,
 * the threads setting at 0, the CPU, and `runBytes`, the memory one run holds, small enough), else one session.
 * `prepack: false`: one session whose weights stay memory-mapped (OnnxRuntime.open).
 */
export async function openGraph(runtime: OnnxRuntime, file: string, role = '', runBytes?: number, prepack = true): Promise<Graph> {
  const { provider, threads } = runtime.options;
  const size =
    runBytes === undefined || !prepack
      ? 1
      : Math.min(os.availableParallelism(), POOL_MAX, 1 + Math.floor(POOL_MEMORY / (runBytes + WORKER_BYTES)));
  const pooled = size > 1 && threads === 0 && POOLED_ROLES.includes(role) && (provider === 'cpu' || provider === 'auto');
  const session = await runtime.open(file, role, pooled ? 1 : undefined, prepack);
  if (!pooled || session.provider !== 'cpu') return session;
  try {
    return await GraphPool.open(session, role, size);
  } catch {
    return session; // worker threads could not start: the graph still runs, one run at a time
  }
}

type Outputs = Record<string, HostTensor>;

interface Pending {
  resolve: (outputs: Outputs) => void;
  reject: (e: Error) => void;
}

interface WorkerMember {
  worker: Worker;
  pending: Map<number, Pending>;
}

/** The worker script, beside this file both in out/ (tsc) and in dist/ (webpack entry `graphWorker`). */
const WORKER_SCRIPT = path.join(__dirname, 'graphWorker.js');

export class GraphPool implements Graph {
  private localOutstanding = 0;
  private nextId = 0;
  private closed = false;

  private constructor(
    /** The session in this thread: it also answers for the graph's inputs, outputs and provider. */
    private readonly local: Graph,
    private readonly workers: WorkerMember[],
  ) {
    for (const m of workers) this.watch(m);
  }

  /** `local` (a single-thread CPU session) and `size - 1` workers on the same file; fails when a worker cannot open it. */
  static async open(local: Graph, role: string, size: number): Promise<GraphPool> {
    // Until the pool watches them: an error must not go unheard (it would end the process), and a worker that
    // stops while the others start is left out.
    const exited = new Set<Worker>();
    const workers = Array.from({ length: size - 1 }, () => {
      const w = new Worker(WORKER_SCRIPT, { workerData: { file: local.file, role } satisfies GraphWorkerData });
      w.on('error', () => undefined);
      w.once('exit', () => exited.add(w));
      return w;
    });
    try {
      await Promise.all(workers.map(firstMessage));
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    for (const w of workers) w.unref(); // an idle worker does not keep the process alive; a pending run does (see run)
    return new GraphPool(
      local,
      workers.filter((w) => !exited.has(w)).map((worker) => ({ worker, pending: new Map() })),
    );
  }

  get file(): string {
    return this.local.file;
  }
  get provider(): string {
    return this.local.provider;
  }
  get inputs(): GraphIO[] {
    return this.local.inputs;
  }
  get outputs(): GraphIO[] {
    return this.local.outputs;
  }
  get placement(): Promise<NodePlacement | undefined> {
    return this.local.placement;
  }
  /** A pool runs on the CPU: nothing stays on a device. */
  readonly deviceOutputs: readonly string[] = [];

  /** No device tensors on the CPU: a plain run. */
  async runDevice(
    feeds: Record<string, HostTensor | DeviceTensor>,
    fetches?: string[],
  ): Promise<{ host: Outputs; device: Record<string, DeviceTensor> }> {
    return { host: await this.run(feeds as Record<string, HostTensor>, fetches), device: {} };
  }
  /** Sessions running the graph: this thread's and the live workers'. */
  get size(): number {
    return 1 + this.workers.length;
  }

  run(feeds: Record<string, HostTensor>, fetches?: string[]): Promise<Outputs> {
    if (this.closed) return Promise.reject(new VarScopeError('Cancelled', `${path.basename(this.file)}: the model was closed`));
    const m = this.workers.reduce<WorkerMember | undefined>(
      (best, w) => (!best || w.pending.size < best.pending.size ? w : best),
      undefined,
    );
    if (!m || m.pending.size > this.localOutstanding) {
      this.localOutstanding++;
      return this.local.run(feeds, fetches).finally(() => this.localOutstanding--);
    }
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      try {
        m.worker.postMessage({ id, feeds: ownBuffers(feeds), fetches } satisfies ToGraphWorker);
      } catch (e) {
        reject(
          new VarScopeError(
            'Inference',
            `${path.basename(this.file)}: could not send a run to a worker thread: ${e instanceof Error ? e.message : String(e)}`,
          ),
        );
        return;
      }
      m.pending.set(id, { resolve, reject });
      m.worker.ref();
    });
  }

  async dispose(): Promise<void> {
    this.closed = true;
    const workers = this.workers.splice(0);
    const e = new VarScopeError('Cancelled', `${path.basename(this.file)}: the model was closed`);
    for (const m of workers) for (const p of m.pending.values()) p.reject(e);
    await Promise.all(workers.map((m) => m.worker.terminate()));
    await this.local.dispose();
  }

  private watch(m: WorkerMember): void {
    m.worker.on('message', (msg: FromGraphWorker) => {
      if (msg.kind !== 'result' && msg.kind !== 'failed') return;
      const p = m.pending.get(msg.id);
      m.pending.delete(msg.id);
      if (!m.pending.size) m.worker.unref();
      if (msg.kind === 'result') p?.resolve(msg.outputs);
      else p?.reject(VarScopeError.fromWire(msg.error));
    });
    // A worker that stops fails its outstanding runs and leaves the pool; the others and this thread go on.
    const lost = (why: string) => {
      const i = this.workers.indexOf(m);
      if (i < 0) return;
      this.workers.splice(i, 1);
      const e = new VarScopeError('Inference', `${path.basename(this.file)}: a worker thread stopped (${why})`);
      for (const p of m.pending.values()) p.reject(e);
      m.pending.clear();
    };
    m.worker.on('error', (e) => lost(e.message));
    m.worker.on('exit', (code) => lost(`exit code ${code}`));
  }
}

/** The worker's first message: ready, or why it could not open the graph. */
function firstMessage(w: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number) =>
      reject(new VarScopeError('ModelLoad', `graph worker exited (code ${code}) before it opened its graph`));
    w.once('error', reject);
    w.once('exit', onExit);
    w.once('message', (msg: FromGraphWorker) => {
      w.off('error', reject);
      w.off('exit', onExit);
      if (msg.kind === 'ready') resolve();
      else if (msg.kind === 'openFailed') reject(VarScopeError.fromWire(msg.error));
      else reject(new VarScopeError('Internal', `graph worker sent ${msg.kind} before ready`));
    });
  });
}
