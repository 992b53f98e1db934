/**
 * The one place the extension talks to the engine (an EngineClient forking dist/engineProcess.js):
 * reads the chosen bundle's manifest at once, opens the model in the engine when a panel needs it,
 * turns the panel's HostApi requests into EngineApi calls and routes streamed events to the panel
 * that started the run. Settings become the engine's configuration.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { EngineClient } from '../client/engineClient';
import type { EngineConfig, EngineEvents } from '../shared/engineApi';
import type { DatasetEvaluation, EvaluationProgress, LabelSource } from '../shared/evaluation';
import type { ComparedModel, HostApi, HostEvents, PanelState } from '../shared/protocol';
import type { ModelInfo } from '../shared/results';
import type { Handlers } from '../shared/rpc';
import { newRunId } from '../shared/runId';
import { VarScopeError } from '../shared/errors';
import { readBundleSummary, type BundleSummary } from './modelCatalog';

/** The state of the current model as the panel and status bar see it. */
export interface ModelStatus {
  /** Bundle folder, or null when there is none. */
  dir: string | null;
  /** Read from varscope.json without loading the graphs (null when unreadable or absent). */
  summary: BundleSummary | null;
  /** Present once the engine opened the model. */
  info: ModelInfo | null;
  /** Why `info` is null (not opened yet, or failed). */
  error?: { code: string; message: string };
}

/** One panel as the engine host sees it: its image, its state, a way to push events to it. */
export interface PanelContext {
  imageUri: vscode.Uri | null;
  state: PanelState;
  emit<E extends keyof HostEvents>(name: E, payload: HostEvents[E]): void;
}

type EngineHandlers = Pick<
  Handlers<HostApi>,
  'inspect' | 'evaluate' | 'attention' | 'generationStart' | 'generationStep' | 'generationCancel' | 'edit' | 'trainingUsage'
>;

/** The engine configuration from the `varscope.*` settings. */
export function engineConfigFromSettings(): EngineConfig {
  const c = vscode.workspace.getConfiguration('varscope');
  return {
    provider: c.get<EngineConfig['provider']>('executionProvider', 'auto'),
    threads: c.get<number>('threads', 0),
    cudaLibraryPath: c.get<string>('cudaLibraryPath', '') || undefined,
    maxImagePixels: c.get<number>('maxImagePixels', 100_000_000),
  };
}

/** Owns the engine client and the current model. */
export class EngineHost implements vscode.Disposable {
  private status: ModelStatus = { dir: null, summary: null, info: null, error: { code: 'ModelNotFound', message: 'no model' } };
  private opening: Promise<ModelStatus> | undefined;
  private readonly client: EngineClient;
  /** Which panel started a run, so its streamed events go back to it. */
  private readonly runOwners = new Map<string, PanelContext>();
  /** The engine process a generation lives in (its restart count): a run does not survive the process. */
  private readonly runProcess = new Map<string, number>();
  private readonly changed = new vscode.EventEmitter<ModelStatus>();
  /** Fires when the model state changes: loaded, opened, or failed (the status bar listens). */
  readonly onDidChange = this.changed.event;
  private readonly reloaded = new vscode.EventEmitter<void>();
  /** Fires when another model (or the same one with new settings) replaces the current one: panels reload. */
  readonly onDidReload = this.reloaded.event;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(
    extensionUri: vscode.Uri,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.client = new EngineClient({
      entry: path.join(extensionUri.fsPath, 'dist', 'engineProcess.js'),
      config: engineConfigFromSettings(),
      log: (level, message) => this.log[level](message),
    });
    // A run whose panel closed has no owner: its events go nowhere.
    const offs = [
      this.client.on('generationStep', (s) => this.runOwners.get(s.runId)?.emit('generationStep', s)),
      this.client.on('folderUsage', (f) =>
        this.runOwners
          .get(f.runId)
          ?.emit('folderUsage', { runId: f.runId, usage: f.usage, done: f.done, total: f.total, finished: f.finished }),
      ),
      // Node placement arrives after a graph's first run: the current model's info (status-bar tooltip) takes it in.
      this.client.on('nodePlacement', (p) => {
        const info = this.status.info;
        if (!info || !this.status.dir || path.resolve(this.status.dir) !== p.model) return;
        this.status = { ...this.status, info: { ...info, nodePlacement: { ...info.nodePlacement, [p.role]: p.placement } } };
        this.changed.fire(this.status);
      }),
    ];
    this.subscriptions.push(
      this.changed,
      this.reloaded,
      { dispose: () => offs.forEach((off) => off()) },
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (
          !e.affectsConfiguration('varscope.executionProvider') &&
          !e.affectsConfiguration('varscope.threads') &&
          !e.affectsConfiguration('varscope.cudaLibraryPath') &&
          !e.affectsConfiguration('varscope.maxImagePixels')
        )
          return;
        void this.reconfigure();
      }),
    );
  }

  /** Process id of the engine, when it runs. */
  get enginePid(): number | undefined {
    return this.client.pid;
  }

  /** The model state last loaded. */
  get current(): ModelStatus {
    return this.status;
  }

  /** Reads the manifest of the bundle at `dir` (cheap: the engine opens it on first use). Never throws. */
  async load(dir: string | null): Promise<ModelStatus> {
    this.opening = undefined;
    if (!dir) {
      this.status = { dir: null, summary: null, info: null, error: { code: 'ModelNotFound', message: 'no model bundle found' } };
    } else {
      try {
        const summary = readBundleSummary(dir);
        this.status = { dir, summary, info: null, error: { code: 'ModelLoad', message: `"${summary.name}" is not opened yet` } };
        this.log.info(`model "${summary.name}" at ${dir}`);
      } catch (e) {
        const w = VarScopeError.toWire(e);
        this.log.error(`model at ${dir}: [${w.code}] ${w.message}${w.detail ? `\n${w.detail}` : ''}`);
        this.status = { dir, summary: null, info: null, error: { code: w.code, message: w.message } };
      }
    }
    this.changed.fire(this.status);
    this.reloaded.fire();
    return this.status;
  }

  /** Marks the bundle at `dir` as not loadable for `reason` (e.g. refused in an untrusted workspace). */
  unavailable(dir: string | null, reason: unknown): void {
    const w = VarScopeError.toWire(reason);
    this.opening = undefined;
    this.status = { dir, summary: null, info: null, error: { code: w.code, message: w.message } };
    this.changed.fire(this.status);
    this.reloaded.fire();
  }

  /** Opens the current model in the engine (once); failures end up in `current.error`. */
  ensureOpen(): Promise<ModelStatus> {
    const s = this.status;
    if (s.info || !s.dir || !s.summary) return Promise.resolve(s);
    if (!this.opening) {
      const dir = s.dir;
      const t0 = Date.now();
      this.opening = this.client.call('openModel', { model: dir }).then(
        (info) => {
          if (this.status.dir !== dir) return this.status; // another model was chosen meanwhile
          this.log.info(`opened "${info.name}" on ${info.provider} in ${Date.now() - t0} ms`);
          for (const f of info.providerFallbacks) this.log.warn(`provider ${f.provider} skipped: ${f.reason}`);
          this.status = { ...this.status, info, error: undefined };
          this.changed.fire(this.status);
          return this.status;
        },
        (e: unknown) => {
          this.opening = undefined; // a later panel may try again (e.g. after a fix)
          const w = VarScopeError.toWire(e);
          this.log.error(`opening ${dir}: [${w.code}] ${w.message}${w.detail ? `\n${w.detail}` : ''}`);
          if (this.status.dir === dir) {
            this.status = { ...this.status, info: null, error: { code: w.code, message: w.message } };
            this.changed.fire(this.status);
          }
          return this.status;
        },
      );
    }
    return this.opening;
  }

  /** Kills the engine process and opens the current model again. */
  async restart(): Promise<ModelStatus> {
    await this.client.restart();
    return this.load(this.status.dir);
  }

  /**
   * Inspects `image` with the current model and each of `dirs`, and evaluates each teacher-forced with its own null
   * class, for the comparison view; the current model stays the current one. Models run one after the other (the
   * engine keeps two open); `onModel` reports each one done, `token` stops between models.
   */
  async compareWith(
    dirs: string[],
    image: vscode.Uri,
    token?: vscode.CancellationToken,
    onModel?: (done: number, total: number) => void,
  ): Promise<HostEvents['comparison']> {
    const source = { path: image.fsPath };
    const models: ComparedModel[] = [];
    for (const dir of [await this.openDir(), ...dirs]) {
      if (token?.isCancellationRequested) throw new VarScopeError('Cancelled', 'comparison cancelled');
      const model = await this.client.call('openModel', { model: dir });
      const inspect = await this.client.call('inspect', { model: dir, image: source });
      const evaluation = await this.client.call('evaluate', { model: dir, image: source, classId: model.nullClass });
      models.push({ model, inspect, evaluation });
      onModel?.(models.length, dirs.length + 1);
    }
    return { models };
  }

  /** A model (default: the current one) over a folder; progress through `onProgress`, cancel through `token`. */
  async evaluateFolder(
    p: { model?: string; folder: string; labels: LabelSource },
    token: vscode.CancellationToken,
    onProgress: (e: EvaluationProgress) => void,
  ): Promise<DatasetEvaluation> {
    const model = p.model ?? (await this.openDir());
    const runId = newRunId('evaluate');
    const off = this.client.on('evaluateFolder', (e: EngineEvents['evaluateFolder']) => e.runId === runId && onProgress(e));
    const sub = token.onCancellationRequested(() => void this.client.cancel(runId));
    try {
      return await this.client.call('evaluateFolder', { model, runId, folder: p.folder, labels: p.labels });
    } finally {
      sub.dispose();
      off();
    }
  }

  /** HostApi handlers that need the engine, bound to one panel. */
  engineHandlers(panel: PanelContext): EngineHandlers {
    const image = () => {
      if (!panel.imageUri) throw new VarScopeError('BadRequest', 'this panel has no image');
      return { path: panel.imageUri.fsPath };
    };
    return {
      inspect: async () => this.client.call('inspect', { model: await this.openDir(), image: image() }),
      evaluate: async (p) => this.client.call('evaluate', { model: await this.openDir(), image: image(), classId: p.classId }),
      attention: async (p) =>
        this.client.call('attention', { model: await this.openDir(), image: image(), classId: p.classId, layer: p.layer, head: p.head }),
      generationStart: async (p) => {
        const r = await this.client.call('generationStart', { model: await this.openDir(), settings: p.settings });
        this.runOwners.set(r.runId, panel);
        this.runProcess.set(r.runId, this.client.restartCount);
        return r;
      },
      generationStep: async (p) => {
        // Killed or crashed between two steps: a new process would only answer "no generation" (Cancelled, silent).
        const started = this.runProcess.get(p.runId);
        if (started !== undefined && started !== this.client.restartCount) {
          throw new VarScopeError('EngineCrashed', 'the engine process stopped during this generation; press Start to generate again');
        }
        return this.client.call('generationStep', { runId: p.runId, scaleIndex: p.scaleIndex });
      },
      generationCancel: async (p) => {
        this.runOwners.delete(p.runId);
        this.runProcess.delete(p.runId);
        await this.client.call('generationCancel', { runId: p.runId });
      },
      edit: async (p) => this.client.call('edit', { ...p, model: await this.openDir(), source: { image: image() } }),
      trainingUsage: async () => this.client.call('trainingUsage', { model: await this.openDir() }),
    };
  }

  /** Forgets the runs of a closed panel and cancels them in the engine. */
  panelClosed(panel: PanelContext): void {
    for (const [runId, owner] of this.runOwners) {
      if (owner !== panel) continue;
      this.runOwners.delete(runId);
      this.runProcess.delete(runId);
      void this.client.cancel(runId);
    }
  }

  dispose(): void {
    this.subscriptions.splice(0).forEach((d) => d.dispose());
    void this.client.dispose();
  }

  /** The current bundle folder once the engine opened it; throws the reason otherwise. */
  private async openDir(): Promise<string> {
    const s = await this.ensureOpen();
    if (!s.info || !s.dir)
      throw new VarScopeError((s.error?.code as VarScopeError['code']) ?? 'ModelNotFound', s.error?.message ?? 'no model');
    return s.dir;
  }

  private async reconfigure(): Promise<void> {
    const config = engineConfigFromSettings();
    this.log.info(`engine settings: provider ${config.provider}, threads ${config.threads}`);
    try {
      await this.client.configure(config);
    } catch (e) {
      this.log.error(`configuring the engine: ${String(e)}`);
    }
    await this.load(this.status.dir); // the provider may change: open again
  }
}
