/**
 * The one place the extension talks to the engine (an EngineClient forking dist/engineProcess.js): holds the current
 * model's status (manifest read at once, opened in the engine when a panel needs it), keeps the engine configured from
 * the settings, and hands out the per-panel adapter and the runs commands start.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { EngineClient } from '../client/engineClient';
import type { AnyDatasetEvaluation, EvaluationProgress, LabelSource } from '../shared/evaluation';
import type { HostEvents } from '../shared/protocol';
import { VarScopeError } from '../shared/errors';
import { compareOnImage, evaluateFolder } from './engineRuns';
import { affectsEngine, engineConfigFrom } from './engineSettings';
import { readBundleSummary } from './modelCatalog';
import * as model from './modelStatus';
import type { ModelStatus } from './modelStatus';
import { PanelEngine, type EngineHandlers, type PanelContext } from './panelEngine';

/** The engine configuration from the current `varscope.*` settings. */
const configFromSettings = () => engineConfigFrom(vscode.workspace.getConfiguration('varscope'));

/** Owns the engine client and the current model. */
export class EngineHost implements vscode.Disposable {
  private status: ModelStatus = model.noModel();
  private opening: Promise<ModelStatus> | undefined;
  private readonly client: EngineClient;
  private readonly panelEngine: PanelEngine;
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
      config: configFromSettings(),
      log: (level, message) => this.log[level](message),
    });
    this.panelEngine = new PanelEngine(this.client, () => this.openDir());
    // Node placement arrives after a graph's first run: the current model's info (status-bar tooltip) takes it in.
    const offPlacement = this.client.on('nodePlacement', (p) => {
      const next = model.withPlacement(this.status, p);
      if (next !== this.status) this.setStatus(next);
    });
    this.subscriptions.push(
      this.changed,
      this.reloaded,
      this.panelEngine,
      { dispose: offPlacement },
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (affectsEngine(e)) void this.reconfigure();
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
    if (!dir) return this.replace(model.noModel('no model bundle found'));
    try {
      const summary = readBundleSummary(dir);
      this.log.info(`model "${summary.name}" at ${dir}`);
      return this.replace(model.notOpened(dir, summary));
    } catch (e) {
      const w = VarScopeError.toWire(e);
      this.log.error(`model at ${dir}: [${w.code}] ${w.message}${w.detail ? `\n${w.detail}` : ''}`);
      return this.replace(model.unusable(dir, e));
    }
  }

  /** Marks the bundle at `dir` as not loadable for `reason` (e.g. refused in an untrusted workspace). */
  unavailable(dir: string | null, reason: unknown): void {
    this.replace(model.unusable(dir, reason));
  }

  /** Opens the current model in the engine (once); failures end up in `current.error`. */
  ensureOpen(): Promise<ModelStatus> {
    const s = this.status;
    if (!model.needsOpening(s)) return Promise.resolve(s);
    if (!this.opening) {
      const dir = s.dir!;
      const t0 = Date.now();
      this.opening = this.client.call('openModel', { model: dir }).then(
        (info) => {
          if (this.status.dir !== dir) return this.status; // another model was chosen meanwhile
          this.log.info(`opened "${info.name}" on ${info.provider} in ${Date.now() - t0} ms`);
          for (const f of info.providerFallbacks) this.log.warn(`provider ${f.provider} skipped: ${f.reason}`);
          return this.setStatus(model.opened(this.status, info));
        },
        (e: unknown) => {
          this.opening = undefined; // a later panel may try again (e.g. after a fix)
          const w = VarScopeError.toWire(e);
          this.log.error(`opening ${dir}: [${w.code}] ${w.message}${w.detail ? `\n${w.detail}` : ''}`);
          if (this.status.dir === dir) this.setStatus(model.openFailed(this.status, e));
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
   * class, for the comparison view; the current model stays the current one. `onModel` reports each model done,
   * `token` stops between models.
   */
  async compareWith(
    dirs: string[],
    image: vscode.Uri,
    token?: vscode.CancellationToken,
    onModel?: (done: number, total: number) => void,
  ): Promise<HostEvents['comparison']> {
    return compareOnImage(this.client, [await this.openDir(), ...dirs], image, token, onModel);
  }

  /** A model (default: the current one) over a folder; progress through `onProgress`, cancel through `token`. */
  async evaluateFolder(
    p: { model?: string; folder: string; labels: LabelSource },
    token: vscode.CancellationToken,
    onProgress: (e: EvaluationProgress) => void,
  ): Promise<AnyDatasetEvaluation> {
    return evaluateFolder(this.client, { ...p, model: p.model ?? (await this.openDir()) }, token, onProgress);
  }

  /** HostApi handlers that need the engine, bound to one panel. */
  engineHandlers(panel: PanelContext): EngineHandlers {
    return this.panelEngine.handlers(panel);
  }

  /** Forgets the runs of a closed panel and cancels them in the engine. */
  panelClosed(panel: PanelContext): void {
    this.panelEngine.panelClosed(panel);
  }

  dispose(): void {
    this.subscriptions.splice(0).forEach((d) => d.dispose());
    void this.client.dispose();
  }

  /** Sets the status and tells the listeners; returns it. */
  private setStatus(s: ModelStatus): ModelStatus {
    this.status = s;
    this.changed.fire(s);
    return s;
  }

  /** Another model (or none) replaces the current one: any opening under way is forgotten, and panels reload. */
  private replace(s: ModelStatus): ModelStatus {
    this.opening = undefined;
    this.setStatus(s);
    this.reloaded.fire();
    return s;
  }

  /** The current bundle folder once the engine opened it; throws the reason otherwise. */
  private async openDir(): Promise<string> {
    return model.openedDir(await this.ensureOpen());
  }

  private async reconfigure(): Promise<void> {
    const config = configFromSettings();
    this.log.info(`engine settings: provider ${config.provider}, threads ${config.threads}`);
    try {
      await this.client.configure(config);
    } catch (e) {
      this.log.error(`configuring the engine: ${String(e)}`);
    }
    await this.load(this.status.dir); // the provider may change: open again
  }
}
