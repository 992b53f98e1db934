/**
 * The extension's (and CLI's) handle on the engine child process: starts it on demand, forwards requests,
 * cancels runs, kills and restarts it. A native crash rejects the requests in flight with EngineCrashed;
 * the next request starts a fresh process (configured again) and succeeds.
 */
import { ChildProcess, fork } from 'child_process';
import * as path from 'path';
import type { EngineApi, EngineConfig, EngineEvents } from '../shared/engineApi';
import { RpcChannel, VarScopeError } from '../shared/rpc';
import { engineLibraryPath } from './cudaLibraries';

/** How to start the engine. */
export interface EngineClientOptions {
  /** Path of the engine entry script; default engineProcess.js beside this file (dist/ or out/src/engine/). */
  entry?: string;
  config: EngineConfig;
  /** Log sink for the engine's stderr and lifecycle. */
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Per-request timeout in ms (0 = none). */
  timeoutMs?: number;
}

type Listener = (payload: unknown) => void;

/** Every event the engine emits: forwarded from each new process to the client's listeners. */
const EVENT_NAMES: Record<keyof EngineEvents, true> = { generationStep: true, folderUsage: true, log: true, nodePlacement: true };

/** Client of the engine child process. */
export class EngineClient {
  private child: ChildProcess | undefined;
  private channel: RpcChannel<EngineApi> | undefined;
  private ready: Promise<void> | undefined;
  private readonly listeners = new Map<string, Set<Listener>>();
  private config: EngineConfig;
  private restarts = 0;
  private disposed = false;

  constructor(private readonly opts: EngineClientOptions) {
    this.config = opts.config;
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
  async call<M extends keyof EngineApi & string>(method: M, params: Parameters<EngineApi[M]>[0], timeoutMs = this.opts.timeoutMs ?? 0): Promise<Awaited<ReturnType<EngineApi[M]>>> {
    if (this.disposed) throw new VarScopeError('Cancelled', 'engine client disposed');
    await this.start();
    return this.channel!.call(method, params, timeoutMs);
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
    if (envChanged) await this.kill('engine restarted for new CUDA library path'); // LD_LIBRARY_PATH is read at process start
    else await this.call('configure', config);
  }

  /** Ask the engine to cancel a run (no-op when the engine is not running). */
  async cancel(runId: string): Promise<void> {
    if (this.channel && this.child) await this.channel.call('cancel', { runId }).catch(() => undefined);
  }

  /** Kill the process now; requests in flight reject with Cancelled. The next call starts a new one. */
  async kill(reason = 'engine stopped'): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.detach(new VarScopeError('Cancelled', reason));
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
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
    const entry = this.opts.entry ?? path.join(__dirname, 'engineProcess.js');
    const env = { ...process.env };
    const libraryPath = engineLibraryPath(this.config, env.LD_LIBRARY_PATH);
    if (libraryPath) env.LD_LIBRARY_PATH = libraryPath;
    const child = fork(entry, [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env, execArgv: ['--expose-gc'] });
    const channel = new RpcChannel<EngineApi>((m) => {
      if (!child.connected) throw new VarScopeError('EngineCrashed', 'engine process is not running');
      child.send(m);
    });
    this.child = child;
    this.channel = channel;
    for (const name of Object.keys(EVENT_NAMES)) channel.on(name, (p) => this.listeners.get(name)?.forEach((l) => l(p)));
    channel.on('log', (p) => {
      const { level, message } = p as EngineEvents['log'];
      this.opts.log?.(level, message);
    });
    child.on('message', (m) => channel.receive(m));
    child.stderr?.on('data', (d: Buffer) => this.opts.log?.('warn', `engine: ${d.toString().trimEnd()}`));
    child.on('exit', (code, signal) => {
      if (this.child !== child) return; // an old process we already let go
      const why = signal ? `signal ${signal}` : `exit code ${code}`;
      this.opts.log?.('error', `engine process ${child.pid} stopped (${why}); the next request restarts it`);
      this.detach(new VarScopeError('EngineCrashed', `the engine process stopped (${why}); the next request restarts it`));
    });
    child.on('error', (e) => this.opts.log?.('error', `engine process: ${e.message}`));
    this.ready = channel.call('configure', this.config).catch((e) => {
      if (this.child === child) this.detach(e instanceof VarScopeError ? e : new VarScopeError('EngineCrashed', String(e)));
      throw e;
    });
    return this.ready;
  }

  /** Forget the current process: reject its pending calls; the next call starts a new one. */
  private detach(reason: VarScopeError): void {
    if (this.channel) this.channel.dispose(reason);
    if (this.child) this.restarts++;
    this.child = undefined;
    this.channel = undefined;
    this.ready = undefined;
  }
}
