/**
 * The extension's (and CLI's) handle on the engine child process: starts it on demand, forwards requests,
 * cancels runs, kills and restarts it. A native crash rejects the requests in flight with EngineCrashed
 * (OutOfMemory when the engine died of an allocation failure); the next request starts a fresh process
 * (configured again) and succeeds.
 */
import { ChildProcess, fork } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { EngineApi, EngineConfig, EngineEvents, EngineSide } from '../shared/engineApi';
import { RpcChannel, type Params, type Result } from '../shared/rpc';
import { allocationFailure, VarScopeError } from '../shared/errors';
import { engineLibraryPath } from '../node/cudaLibraries';
import { longestSequence } from '../shared/modelFamily';
import type { AnyModelInfo } from '../shared/results';

/** How to start the engine. */
export interface EngineClientOptions {
  /** Path of the engine entry script; default engineProcess.js beside this file (dist/) or in out/src/engine/. */
  entry?: string;
  config: EngineConfig;
  /** Log sink for the engine's stderr (unless `stderr` takes it) and lifecycle. */
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Where the engine's stderr goes as it comes, unchanged (the CLI's own stderr filter reads it); default: `log`. */
  stderr?: (text: string) => void;
  /** Per-request timeout in ms (0 = none). */
  timeoutMs?: number;
  /** Watchdog: while requests run, the engine must answer a ping within this many ms or it is killed (0 = off). */
  watchdogMs?: number;
  /** What a crash message adds about what comes next; default "the next request restarts it" (the CLI stops instead). */
  afterCrash?: string;
}

/**
 * Default watchdog limit. NOTE: onnxruntime-node runs a graph (and opens one) synchronously on the engine's main
 * thread, so a ping waits for the longest single graph run: the limit grows with the opened models (runLimitMs).
 */
export const WATCHDOG_MS = 60_000;
/** Opening a model creates its sessions synchronously, which large graphs take long for: its own, larger limit. */
const OPEN_LIMIT_MS = 180_000;

/** What a model's longest graph run grows with (an Infinity model: its largest schedule, image size not counted). */
function runSize(m: AnyModelInfo): Parameters<typeof runLimitMs>[0] {
  return m.family === 'infinity' ? { depth: m.depth, embedDim: m.embedDim, tokenCount: longestSequence(m) } : m;
}

/**
 * A generous bound on one graph run of a model, B = 1: the larger of a teacher-forced forward, ~2 · 12 · depth · D² · L
 * flops, and a VQ-VAE encode or decode, ~6 full-resolution 3×3 convolutions of its first stage's width (2 · 9 · ch² ·
 * S² each; the coarser stages add less than one more); at a slow 10 GFLOP/s, times 4 (the default model: 0.9 s;
 * the fixture's 256 px VAE: 2.9 s; official d16: 110 s; d30: 12 min).
 */
export function runLimitMs(m: { depth: number; embedDim: number; tokenCount: number; imageSize?: number; vaeChannels?: number }): number {
  const transformer = 24 * m.depth * m.embedDim ** 2 * m.tokenCount;
  const vae = 6 * 2 * 9 * (m.vaeChannels ?? 0) ** 2 * (m.imageSize ?? 0) ** 2;
  return (4 * 1000 * Math.max(transformer, vae)) / 10e9;
}

type Listener = (payload: unknown) => void;

/** How much of the engine's last stderr is kept to say why it died. */
const STDERR_TAIL = 16 * 1024;

/**
 * How many single-image runs one graph run of a request may hold: a folder pass runs its batch at once
 * (evaluateFolder's default batch is 8, folderUsage's 4, and its encoder-only runs cost less).
 */
function runsPerGraphRun(method: string, params: unknown): number {
  const batch = (params as { batch?: number } | undefined)?.batch;
  if (method === 'evaluateFolder') return Math.max(1, batch ?? 8);
  if (method === 'folderUsage') return Math.max(1, batch ?? 4);
  return 1;
}

/** Why the engine process ended, as the error of the requests it leaves unanswered. */
function crashError(why: string, stderrTail: string, after: string): VarScopeError {
  const then = after ? `; ${after}` : '';
  const oom = allocationFailure(stderrTail);
  if (oom) return new VarScopeError('OutOfMemory', `the engine ran out of memory (${oom})${then}`, stderrTail.trim());
  return new VarScopeError('EngineCrashed', `the engine process stopped (${why})${then}`, stderrTail.trim() || undefined);
}

/** Every event the engine emits: forwarded from each new process to the client's listeners. */
const EVENT_NAMES: Record<keyof EngineEvents, true> = {
  generationStep: true,
  folderUsage: true,
  evaluateFolder: true,
  samplingGrid: true,
  log: true,
  nodePlacement: true,
};

/** Client of the engine child process. */
export class EngineClient {
  private child: ChildProcess | undefined;
  /** The running process's folder for temporary files (its TMPDIR), removed when it ends. */
  private scratch: string | undefined;
  private channel: RpcChannel<EngineSide> | undefined;
  private ready: Promise<void> | undefined;
  private readonly listeners = new Map<string, Set<Listener>>();
  private config: EngineConfig;
  private restarts = 0;
  private disposed = false;
  /** Requests in flight (method name, single-image runs per graph run), which the watchdog guards. */
  private readonly inFlight = new Map<number, { method: string; runs: number }>();
  private nextCall = 0;
  private watchdog: ReturnType<typeof setInterval> | undefined;
  /** The longest single run expected of the models opened so far (ms). */
  private expectedRunMs = 0;

  constructor(private readonly opts: EngineClientOptions) {
    this.config = opts.config;
  }

  private get afterCrash(): string {
    return this.opts.afterCrash ?? 'the next request restarts it';
  }

  /** Process id of the running engine, if any. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** How many times the process was started after the first. */
  get restartCount(): number {
    return this.restarts;
  }

  /** Call an engine method; starts (or restarts) the process when needed. */
  async call<M extends keyof EngineApi & string>(
    method: M,
    params: Params<EngineApi[M]>,
    timeoutMs = this.opts.timeoutMs ?? 0,
  ): Promise<Result<EngineApi[M]>> {
    if (this.disposed) throw new VarScopeError('Cancelled', 'engine client disposed');
    await this.start();
    const id = this.nextCall++;
    this.inFlight.set(id, { method, runs: runsPerGraphRun(method, params) });
    this.watch();
    try {
      const result = await this.channel!.call(method, params, timeoutMs);
      const expected = method === 'openModel' ? runLimitMs(runSize(result as Awaited<ReturnType<EngineApi['openModel']>>)) : 0;
      if (Number.isFinite(expected)) this.expectedRunMs = Math.max(this.expectedRunMs, expected);
      return result;
    } finally {
      this.inFlight.delete(id);
    }
  }

  /**
   * While requests are in flight, ping the engine (`status`) every quarter of the base limit; an engine that does
   * not answer within the limit (at least the longest run its models may take, times the images one run of a
   * folder pass holds) is stuck in a loop that will not end, so it is killed: the requests fail with a message and
   * the next one starts a fresh engine.
   */
  private watch(): void {
    const base = this.opts.watchdogMs ?? WATCHDOG_MS;
    if (base <= 0 || this.watchdog) return;
    let pinging = false;
    this.watchdog = setInterval(
      () => {
        if (this.inFlight.size === 0 || !this.channel) {
          clearInterval(this.watchdog);
          this.watchdog = undefined;
          return;
        }
        if (pinging) return;
        pinging = true;
        const channel = this.channel;
        const calls = [...this.inFlight.values()];
        const opening = calls.some((c) => c.method === 'openModel');
        const runs = Math.max(1, ...calls.map((c) => c.runs));
        const limit = Math.max(base, this.expectedRunMs * runs, opening ? OPEN_LIMIT_MS : 0);
        channel
          .call('status', {}, limit)
          .catch((e) => {
            if (!(e instanceof VarScopeError) || e.code !== 'Timeout' || this.channel !== channel) return;
            const running = [...new Set([...this.inFlight.values()].map((c) => c.method))].join(', ');
            const after = this.afterCrash ? ` and ${this.afterCrash}` : '';
            const message = `the engine stopped responding for ${Math.round(limit / 1000)} s while running ${running}; it was stopped${after}`;
            this.opts.log?.('error', message);
            void this.kill(message, 'Timeout');
          })
          .finally(() => (pinging = false));
      },
      Math.max(50, base / 4),
    );
    (this.watchdog as { unref?: () => void }).unref?.();
  }

  /** The engine's API, each method a `call` (for code written against EngineApi, as the CLI's commands are). */
  api(): EngineApi {
    return new Proxy({} as EngineApi, {
      get: (_, method) => (params: never) => this.call(method as keyof EngineApi & string, params),
    });
  }

  /** Listen to an engine event (kept across restarts); returns an unsubscribe function. */
  on<K extends keyof EngineEvents>(name: K, listener: (payload: EngineEvents[K]) => void): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener as Listener);
    return () => set!.delete(listener as Listener);
  }

  /** New settings: sent now if the engine runs, and after every restart. */
  async configure(config: EngineConfig): Promise<void> {
    const envChanged = config.cudaLibraryPath !== this.config.cudaLibraryPath || config.pythonPath !== this.config.pythonPath;
    this.config = config;
    if (!this.child) return;
    if (envChanged)
      await this.kill('engine restarted for new CUDA library path'); // LD_LIBRARY_PATH is read at process start
    else await this.call('configure', config);
  }

  /** Ask the engine to cancel a run (no-op when the engine is not running). */
  async cancel(runId: string): Promise<void> {
    if (this.channel && this.child) await this.channel.call('cancel', { runId }).catch(() => undefined);
  }

  /** Kill the process now; requests in flight reject with Cancelled (or `code`). The next call starts a new one. */
  async kill(reason = 'engine stopped', code: 'Cancelled' | 'Timeout' = 'Cancelled'): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.detach(new VarScopeError(code, reason));
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /**
   * Kill the process now, synchronously, and remove its temporary files (a CLI exiting on a signal, which cannot
   * wait for the exit event).
   */
  killNow(reason = 'engine stopped'): void {
    const child = this.child;
    const scratch = this.scratch;
    if (!child) return;
    this.detach(new VarScopeError('Cancelled', reason));
    child.kill('SIGKILL');
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  }

  /** Kill and start again (e.g. the Restart Engine command). */
  async restart(): Promise<void> {
    await this.kill('engine restarted');
    await this.start();
  }

  /** Stop the process for good. */
  async dispose(): Promise<void> {
    await this.kill('engine client disposed');
    this.disposed = true;
  }

  private start(): Promise<void> {
    if (this.ready) return this.ready;
    const entry = this.opts.entry ?? defaultEntry();
    const env = { ...process.env };
    const libraryPath = engineLibraryPath(this.config, env.LD_LIBRARY_PATH);
    if (libraryPath) env.LD_LIBRARY_PATH = libraryPath;
    // The engine's temporary files (onnxruntime profiles) go to a folder of its own, removed when it ends, however it
    // ends: a process killed in the middle of a run leaves nothing behind.
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-engine-'));
    env.TMPDIR = env.TMP = env.TEMP = scratch;
    // NOTE: glibc gives each thread that allocates its own 64 MB heap, up to 8 per core, reserved address space that
    // is never used: with onnxruntime's, libvips' and V8's threads the engine reserved 2.4 GB of address space for
    // 190 MB of memory, and failed under an address-space limit (ulimit -v, prlimit --as) of 2 GB. Four heaps were
    // as fast (inspect + teacher-forced evaluate of the fixture model, 2 cores) and the RSS 10 % smaller.
    env.MALLOC_ARENA_MAX ??= '4';
    const child = fork(entry, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env,
      execArgv: ['--expose-gc'],
    });
    const channel = new RpcChannel<EngineSide>((m) => {
      if (!child.connected) throw new VarScopeError('EngineCrashed', 'engine process is not running');
      child.send(m);
    });
    this.child = child;
    this.scratch = scratch;
    this.channel = channel;
    for (const name of Object.keys(EVENT_NAMES) as Array<keyof EngineEvents>)
      channel.on(name, (p) => this.listeners.get(name)?.forEach((l) => l(p)));
    channel.on('log', ({ level, message }) => this.opts.log?.(level, message));
    child.on('message', (m) => channel.receive(m));
    let tail = '';
    child.stderr?.on('data', (d: Buffer) => {
      const text = d.toString();
      tail = (tail + text).slice(-STDERR_TAIL);
      if (this.opts.stderr) this.opts.stderr(text);
      else this.opts.log?.('warn', `engine: ${text.trimEnd()}`);
    });
    // What a dying process printed may still be in the pipe when 'exit' comes: it says why (out of memory).
    const stderrEnded = new Promise<void>((resolve) => {
      if (!child.stderr || child.stderr.readableEnded) return resolve();
      child.stderr.once('close', resolve);
      child.stderr.once('end', resolve);
    });
    child.on('exit', (code, signal) => {
      fs.rmSync(scratch, { recursive: true, force: true });
      if (this.child !== child) return; // an old process we already let go
      const why = signal ? `signal ${signal}` : `exit code ${code}`;
      this.detach(); // the next request starts a fresh process; those in flight fail once we know why this one ended
      let timer: ReturnType<typeof setTimeout> | undefined;
      void Promise.race([stderrEnded, new Promise((r) => (timer = setTimeout(r, 1000)))]).then(() => {
        clearTimeout(timer);
        const e = crashError(why, tail, this.afterCrash);
        this.opts.log?.('error', `engine process ${child.pid} stopped (${why}): ${e.message}`);
        channel.dispose(e);
      });
    });
    child.on('error', (e) => this.opts.log?.('error', `engine process: ${e.message}`));
    this.ready = channel.call('configure', this.config).catch((e) => {
      if (this.child === child) this.detach(e instanceof VarScopeError ? e : new VarScopeError('EngineCrashed', String(e)));
      throw e;
    });
    return this.ready;
  }

  /** Forget the current process: reject its pending calls (with `reason`, else later); the next call starts a new one. */
  private detach(reason?: VarScopeError): void {
    if (this.channel && reason) this.channel.dispose(reason);
    if (this.child) this.restarts++;
    this.child = undefined;
    this.scratch = undefined;
    this.channel = undefined;
    this.ready = undefined;
  }
}

/** engineProcess.js beside this file in the webpack bundle (dist/), else the engine's own tsc output (out/src/engine/). */
function defaultEntry(): string {
  const beside = path.join(__dirname, 'engineProcess.js');
  return fs.existsSync(beside) ? beside : path.join(__dirname, '..', 'engine', 'engineProcess.js');
}
