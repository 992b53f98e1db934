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
import * as path from 'path';
import { Worker } from 'worker_threads';
import { VarScopeError, type WireError } from '../shared/errors';
import type { Graph, GraphIO } from './onnxRuntime';
import { ownBuffers, type HostTensor } from './tensor';

/** What a worker is started with (its workerData). */
export interface GraphWorkerData {
  file: string;
  role: string;
}

/** Worker -> pool messages. */
export type FromGraphWorker =
  | { kind: 'ready' }
  | { kind: 'openFailed'; error: WireError }
  | { kind: 'result'; id: number; outputs: Record<string, HostTensor> }
  | { kind: 'failed'; id: number; error: WireError };

/** Pool -> worker message: one run. */
export interface ToGraphWorker {
  id: number;
  feeds: Record<string, HostTensor>;
  fetches?: string[];
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
  /** Sessions running the graph: this thread's and the live workers'. */
  get size(): number {
    return 1 + this.workers.length;
  }

  run(feeds: Record<string, HostTensor>, fetches?: string[]): Promise<Outputs> {
    if (this.closed) return Promise.reject(new VarScopeError('Cancelled', `${path.basename(this.file)}: the model was closed`));
    const m = this.workers.reduce<WorkerMember | undefined>((best, w) => (!best || w.pending.size < best.pending.size ? w : best), undefined);
    if (!m || m.pending.size > this.localOutstanding) {
      this.localOutstanding++;
      return this.local.run(feeds, fetches).finally(() => this.localOutstanding--);
    }
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      try {
        m.worker.postMessage({ id, feeds: ownBuffers(feeds), fetches } satisfies ToGraphWorker);
      } catch (e) {
        reject(new VarScopeError('Inference', `${path.basename(this.file)}: could not send a run to a worker thread: ${e instanceof Error ? e.message : String(e)}`));
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
    const onExit = (code: number) => reject(new VarScopeError('ModelLoad', `graph worker exited (code ${code}) before it opened its graph`));
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
