/**
 * One inspector panel: its webview's HTML, options and RPC channel. The webview says `ready`, the
 * panel answers `init`; requests are validated, then served by the EngineHost or the host itself.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import type { HostApi, HostEvents, HostSide, InitPayload, PanelState, WebviewSide } from '../shared/protocol';
import { RpcChannel, type Handlers, type RpcMessage } from '../shared/rpc';
import { VarScopeError } from '../shared/errors';
import { writeFileAtomic } from '../node/atomicWrite';
import { featuresBesideImage } from '../node/textFeatures';
import { TEXT_FEATURE_EXTENSIONS } from '../shared/textCondition';
import type { EngineHost } from './engineHost';
import type { PanelContext } from './panelEngine';
import { checkParams, validEnvelope } from './messageValidator';
import { panelHtml } from './panelHtml';
import { packArrays } from './packArrays';

/** What a panel needs from the extension. */
export interface PanelDeps {
  extensionUri: vscode.Uri;
  engine: EngineHost;
  log: vscode.LogOutputChannel;
  /** Where exports go without the save dialog (the integration suite's stand-in, testHooks.ts). */
  exportDir?: string;
}

/** A webview showing one image (or none: generation) through the inspector views. */
export class InspectorPanel implements vscode.Disposable {
  private readonly channel: RpcChannel<WebviewSide, HostSide>;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly disposed = new vscode.EventEmitter<void>();
  /** Fires once when the panel closes. */
  readonly onDidDispose = this.disposed.event;
  private ready = false;
  private isDisposed = false;
  private state: PanelState;
  /** Counts page loads, so an init computed for an old page is not sent to a new one. */
  private renderCount = 0;
  private readonly context: PanelContext;

  constructor(
    readonly webviewPanel: vscode.WebviewPanel,
    readonly imageUri: vscode.Uri | null,
    private readonly deps: PanelDeps,
    restored?: PanelState,
  ) {
    this.state = { ...restored, imageUri: imageUri ? imageUri.toString() : null };
    this.context = { imageUri, state: this.state, emit: (name, payload) => this.emit(name, payload) };
    const webview = webviewPanel.webview;
    const roots = [vscode.Uri.joinPath(deps.extensionUri, 'dist', 'webview')];
    if (imageUri) roots.push(vscode.Uri.file(path.dirname(imageUri.fsPath)));
    webview.options = { enableScripts: true, localResourceRoots: roots };
    this.channel = new RpcChannel<WebviewSide, HostSide>((m: RpcMessage) => void webview.postMessage(packArrays(m)), this.handlers());
    this.channel.on('ready', () => void this.sendInit());
    this.disposables.push(
      webview.onDidReceiveMessage((m: unknown) => this.receive(m)),
      webviewPanel.onDidDispose(() => this.dispose()),
    );
    this.render();
  }

  /** Display name of the image, or null for a generation panel. */
  get imageName(): string | null {
    return this.imageUri ? path.basename(this.imageUri.fsPath) : null;
  }

  /** True once the webview script said `ready`. */
  get isReady(): boolean {
    return this.ready;
  }

  /** The state the panel restores from. */
  get panelState(): PanelState {
    return this.state;
  }

  /** Reloads the page for another model: the new page says `ready` and gets an `init` carrying it. */
  modelChanged(): void {
    this.render();
  }

  /** The panel as the engine host routes events to it. */
  get engineContext(): PanelContext {
    return this.context;
  }

  /** Asks the webview to export its current view. */
  requestExport(format: HostEvents['exportView']['format']): void {
    this.emit('exportView', { format });
  }

  /** Shows an error in place. */
  showError(code: string, message: string): void {
    this.emit('error', { code, message });
  }

  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    this.deps.engine.panelClosed(this.context);
    this.channel.dispose();
    this.disposables.splice(0).forEach((d) => d.dispose());
    this.disposed.fire();
    this.disposed.dispose();
  }

  private emit<E extends keyof HostEvents>(name: E, payload: HostEvents[E]): void {
    this.channel.emit(name, payload);
  }

  private receive(m: unknown): void {
    const envelope = validEnvelope(m);
    if (!envelope) {
      this.deps.log.warn(`panel ${this.imageName ?? '(generation)'}: dropped a malformed message from the webview`);
      return;
    }
    this.channel.receive(envelope);
  }

  private render(): void {
    const s = this.deps.engine.current;
    const webview = this.webviewPanel.webview;
    this.ready = false; // a new page says `ready` again
    this.renderCount++;
    webview.html = panelHtml({
      webview,
      webviewDist: vscode.Uri.joinPath(this.deps.extensionUri, 'dist', 'webview'),
      imageName: this.imageName,
      imageSrc: this.imageUri ? webview.asWebviewUri(this.imageUri).toString() : null,
      modelName: s.summary?.name ?? null,
      modelNote: s.summary ? undefined : s.error?.message,
    });
    this.webviewPanel.title = this.imageName ? `VARScope: ${this.imageName}` : 'VARScope: Generate';
  }

  /** Answers `ready`: opens the model first (the webview starts its requests on init). */
  private async sendInit(): Promise<void> {
    const page = this.renderCount;
    const s = await this.deps.engine.ensureOpen();
    if (this.isDisposed || page !== this.renderCount) return;
    this.ready = true;
    const webview = this.webviewPanel.webview;
    const init: InitPayload = {
      state: this.state,
      imageName: this.imageName,
      imageSrc: this.imageUri ? webview.asWebviewUri(this.imageUri).toString() : null,
      model: s.info,
      modelError: s.info ? undefined : s.error,
      captionBesideImage: this.imageUri?.scheme === 'file' ? featuresBesideImage(this.imageUri.fsPath) : null,
    };
    this.emit('init', init);
  }

  /** Every handler validates its params first, and reports failures (the reply still carries the error). */
  private handlers(): Handlers<HostApi> {
    const ctx = this.context;
    const own: Pick<
      Handlers<HostApi>,
      'saveExport' | 'saveState' | 'runCommand' | 'openImage' | 'chooseTextFeatures' | 'chooseImageFolder'
    > = {
      saveExport: (p) => this.saveExport(p),
      chooseTextFeatures: async () => {
        const picked = await vscode.window.showOpenDialog({
          title: 'Caption: T5 features ([N, width] float32)',
          defaultUri: this.imageUri ? vscode.Uri.file(path.dirname(this.imageUri.fsPath)) : undefined,
          canSelectMany: false,
          filters: { 'T5 features': TEXT_FEATURE_EXTENSIONS.map((e) => e.slice(1)) },
        });
        return picked?.[0]?.fsPath ?? null;
      },
      chooseImageFolder: async () => {
        const picked = await vscode.window.showOpenDialog({
          title: 'Folder of images to count',
          defaultUri: this.imageUri ? vscode.Uri.file(path.dirname(this.imageUri.fsPath)) : vscode.workspace.workspaceFolders?.[0]?.uri,
          canSelectFiles: false,
          canSelectFolders: true,
          canSelectMany: false,
        });
        return picked?.[0]?.fsPath ?? null;
      },
      saveState: async (p) => {
        this.state = { ...p, imageUri: this.state.imageUri };
        ctx.state = this.state;
      },
      runCommand: async (p) => {
        await vscode.commands.executeCommand(p.command);
      },
      openImage: async (p) => {
        await vscode.commands.executeCommand('varscope.openImageWithModel', p.file, p.model);
      },
    };
    const all: Handlers<HostApi> = { ...this.deps.engine.engineHandlers(ctx), ...own };
    const guarded = {} as Record<string, (p: unknown) => Promise<unknown>>;
    for (const [method, handler] of Object.entries(all) as Array<[string, (p: unknown) => Promise<unknown>]>) {
      guarded[method] = async (params: unknown) => {
        try {
          checkParams(method, params);
          return await handler(params);
        } catch (e) {
          const w = VarScopeError.toWire(e);
          if (w.code !== 'Cancelled')
            this.deps.log.error(
              `${method} (${this.imageName ?? 'generation'}): [${w.code}] ${w.message}${w.detail ? `\n${w.detail}` : ''}`,
            );
          throw e;
        }
      };
    }
    return guarded as unknown as Handlers<HostApi>;
  }

  private async saveExport(p: Parameters<HostApi['saveExport']>[0]): Promise<string | null> {
    const ext = p.mime === 'image/png' ? 'png' : p.mime === 'image/svg+xml' ? 'svg' : p.mime === 'text/csv' ? 'csv' : 'json';
    const base = this.imageUri ? vscode.Uri.file(path.dirname(this.imageUri.fsPath)) : vscode.workspace.workspaceFolders?.[0]?.uri;
    const testDir = this.deps.exportDir; // the integration suite cannot click a native dialog: it names the folder
    const target = testDir
      ? vscode.Uri.file(path.join(testDir, p.suggestedName))
      : await vscode.window.showSaveDialog({
          defaultUri: base ? vscode.Uri.joinPath(base, p.suggestedName) : undefined,
          filters: { [ext.toUpperCase()]: [ext] },
        });
    if (!target) return null; // the dialog asks before overwriting
    const bytes = typeof p.data === 'string' ? new TextEncoder().encode(p.data) : p.data;
    // A local file is written whole or not at all; other schemes go through their file system provider.
    if (target.scheme === 'file') await writeFileAtomic(target.fsPath, bytes);
    else await vscode.workspace.fs.writeFile(target, bytes);
    this.deps.log.info(`exported ${target.fsPath} (${bytes.byteLength} bytes)`);
    return target.fsPath;
  }
}
