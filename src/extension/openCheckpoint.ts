/**
 * `VARScope: Open Checkpoint…`: a PyTorch or safetensors checkpoint (official VAR / VQ-VAE state_dicts, the official
 * trainer's ar-ckpt-*.pth, VARHF safetensors) becomes a verified bundle in the checkpoint cache, and the inspector
 * opens on it. A file that holds only one of the two models is paired with the other (remembered per workspace,
 * else found beside it, else asked for). Long work runs under a cancellable progress notification.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { VarScopeError } from '../shared/errors';
import { describeCheckpoints, exportCheckpoint, pythonPackageDir, type PythonRun } from '../client/checkpointExport';
import { findPython, pythonCandidates, type PythonCandidate } from '../client/pythonFinder';
import { CheckpointCache, folderBytes } from './checkpointCache';
import type { EngineHost } from './engineHost';
import type { ModelCatalog } from './modelCatalog';
import type { PanelManager } from './panelManager';

/** File name extensions offered by the picker and the Explorer menu. */
export const CHECKPOINT_EXTENSIONS = ['pth', 'pt', 'ckpt', 'bin', 'safetensors'];

const PAIRS_KEY = 'varscope.checkpointPairs';

/** What the command returns (the integration tests read it). */
export interface OpenCheckpointResult {
  dir: string;
  vae: string;
  var: string;
  cacheHit: boolean;
  /** The progress messages shown, in order. */
  stages: string[];
}

/** What the command needs. */
export interface OpenCheckpointDeps {
  context: vscode.ExtensionContext;
  log: vscode.LogOutputChannel;
  catalog: ModelCatalog;
  engine: EngineHost;
  panels: PanelManager;
}

type Pair = { vae: string; var: string };

/** Opens checkpoints in the inspector; one per extension activation. */
export class CheckpointOpener {
  readonly cache: CheckpointCache;
  private python: { key: string; command: string } | undefined;

  constructor(private readonly deps: OpenCheckpointDeps) {
    const version = String(deps.context.extension.packageJSON.version ?? '0');
    this.cache = new CheckpointCache(checkpointCacheDir(deps.context), deps.context.globalState, version);
    try {
      this.cache.sweepPartials();
    } catch (e) {
      deps.log.warn(`checkpoint cache: could not remove old temporary folders: ${String(e)}`);
    }
  }

  /** The command: `uri` from the Explorer, else a file picker. */
  async open(uri?: vscode.Uri): Promise<OpenCheckpointResult | undefined> {
    let file = uri instanceof vscode.Uri ? uri.fsPath : undefined;
    if (!file) {
      const picked = await vscode.window.showOpenDialog({
        canSelectMany: false,
        filters: { Checkpoints: CHECKPOINT_EXTENSIONS },
        openLabel: 'Open Checkpoint',
      });
      file = picked?.[0]?.fsPath;
    }
    if (!file) return undefined;
    const stages: string[] = [];
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `VARScope: ${path.basename(file)}`, cancellable: true },
      async (progress, token) => {
        const abort = new AbortController();
        const sub = token.onCancellationRequested(() => abort.abort());
        let done = 0;
        const stage = (message: string, upTo?: number) => {
          stages.push(message);
          this.deps.log.info(`open checkpoint: ${message}`);
          const increment = upTo !== undefined && upTo > done ? upTo - done : undefined;
          if (increment) done = upTo!;
          progress.report({ message, increment });
        };
        try {
          return await this.openFile(file!, stage, abort.signal);
        } finally {
          sub.dispose();
        }
      },
    );
    return { ...result, stages };
  }

  /** Pairing, hashing, export on a cache miss, then the inspector. */
  private async openFile(
    file: string,
    stage: (m: string, upTo?: number) => void,
    signal: AbortSignal,
  ): Promise<Omit<OpenCheckpointResult, 'stages'>> {
    if (!fs.existsSync(file) || !fs.statSync(file).isFile()) throw new VarScopeError('ModelNotFound', `${file} is not a file`);
    const pair = await this.pairFor(file, stage, signal);
    stage('hash the checkpoints', 5);
    const vaeSha = await this.cache.hashFile(pair.vae, signal);
    const varSha = pair.var === pair.vae ? vaeSha : await this.cache.hashFile(pair.var, signal);
    const key = this.cache.keyOf(vaeSha, varSha);
    const cacheHit = this.cache.has(key);
    let dir = this.cache.bundleDir(key);
    if (cacheHit) {
      this.deps.log.info(`checkpoint cache hit: ${dir}`);
    } else {
      const run = await this.pythonRun(stage, signal);
      const name = pair.vae === pair.var ? path.basename(pair.var) : `${path.basename(pair.var)} + ${path.basename(pair.vae)}`;
      const id =
        path
          .basename(pair.var)
          .replace(/\.[^.]+$/, '')
          .replace(/[^A-Za-z0-9._-]+/g, '-')
          .replace(/^[^A-Za-z0-9]+/, '') || 'checkpoint';
      const t0 = Date.now();
      dir = await this.cache.build(key, (out) =>
        exportCheckpoint(run, {
          vae: pair.vae,
          var: pair.var,
          out,
          id,
          name,
          onStage: (s) => {
            const at =
              s.stage === 'load'
                ? 15
                : s.stage === 'config'
                  ? 25
                  : s.stage === 'graph'
                    ? 25 + Math.round((50 * (s.k ?? 0)) / (s.n ?? 1))
                    : s.stage === 'verify'
                      ? 85
                      : 95;
            stage(s.message, at);
          },
        }),
      );
      this.deps.log.info(
        `exported ${name} to ${dir} in ${((Date.now() - t0) / 1000).toFixed(1)} s (${(folderBytes(dir) / 1e6).toFixed(1)} MB)`,
      );
    }
    if (signal.aborted) throw new VarScopeError('Cancelled', 'cancelled');
    stage('open the model', 97);
    await this.deps.catalog.choose(dir);
    if (this.deps.engine.current.dir !== dir) await this.deps.engine.load(dir);
    const status = await this.deps.engine.ensureOpen();
    if (!status.info) throw new VarScopeError('ModelLoad', `the exported bundle did not open: ${status.error?.message ?? 'unknown error'}`);
    const panel = this.deps.panels.activePanel ?? this.deps.panels.openGeneration();
    panel.webviewPanel.reveal();
    stage('done', 100);
    return { dir, vae: pair.vae, var: pair.var, cacheHit };
  }

  /** The (VAE, VAR) files for `file`: remembered, the file itself (trainer checkpoint), a file beside it, or picked. */
  private async pairFor(file: string, stage: (m: string, upTo?: number) => void, signal: AbortSignal): Promise<Pair> {
    const pairs = this.deps.context.workspaceState.get<Record<string, Pair>>(PAIRS_KEY, {});
    const known = pairs[file];
    if (known && fs.existsSync(known.vae) && fs.existsSync(known.var)) return known;
    const run = await this.pythonRun(stage, signal);
    stage('read the checkpoint', 3);
    const [desc] = await describeCheckpoints(run, [file]);
    if (desc.error) throw new VarScopeError('ModelLoad', desc.error);
    let pair: Pair;
    if (desc.roles.includes('vae') && desc.roles.includes('var')) pair = { vae: file, var: file };
    else if (desc.roles.length === 1) {
      const need = desc.roles[0] === 'var' ? 'vae' : 'var';
      const partner = (await this.partnerBeside(file, need, run)) ?? (await this.askPartner(file, need));
      if (!partner) throw new VarScopeError('Cancelled', 'no partner checkpoint chosen');
      pair = need === 'vae' ? { vae: partner, var: file } : { vae: file, var: partner };
    } else throw new VarScopeError('ModelLoad', `${file}: neither a VAR nor a VQ-VAE checkpoint`);
    await this.deps.context.workspaceState.update(PAIRS_KEY, { ...pairs, [file]: pair });
    return pair;
  }

  /** A checkpoint beside `file` holding the `need` model, tried in name order (names that say vae / var first). */
  private async partnerBeside(file: string, need: 'vae' | 'var', run: PythonRun): Promise<string | undefined> {
    const dir = path.dirname(file);
    const looksRight = need === 'vae' ? /vae|vq|tokenizer/i : /var|ar-ckpt|gpt|transformer/i;
    let names: string[];
    try {
      names = fs.readdirSync(dir).filter((n) => CHECKPOINT_EXTENSIONS.includes(path.extname(n).slice(1).toLowerCase()));
    } catch {
      return undefined;
    }
    const candidates = names
      .map((n) => path.join(dir, n))
      .filter(
        (p) =>
          p !== file && looksRight.test(path.basename(p)) && !(need === 'var' && /vae/i.test(path.basename(p))) && fs.statSync(p).isFile(),
      )
      .sort()
      .slice(0, 4);
    if (candidates.length === 0) return undefined;
    const found = (await describeCheckpoints(run, candidates)).find((d) => d.roles.includes(need));
    if (found) this.deps.log.info(`paired ${path.basename(file)} with ${found.path} (found beside it)`);
    return found?.path;
  }

  private async askPartner(file: string, need: 'vae' | 'var'): Promise<string | undefined> {
    const what = need === 'vae' ? 'VQ-VAE' : 'VAR transformer';
    const picked = await vscode.window.showOpenDialog({
      canSelectMany: false,
      defaultUri: vscode.Uri.file(path.dirname(file)),
      filters: { Checkpoints: CHECKPOINT_EXTENSIONS },
      openLabel: `Use as ${what}`,
      title: `${path.basename(file)} holds only the ${need === 'vae' ? 'VAR transformer' : 'VQ-VAE'}: choose its ${what} checkpoint`,
    });
    return picked?.[0]?.fsPath;
  }

  /** The interpreter for the Python side, found once per setting value (see pythonFinder for the order). */
  private async pythonRun(stage: (m: string, upTo?: number) => void, signal: AbortSignal): Promise<PythonRun> {
    const setting = vscode.workspace.getConfiguration('varscope').get<string>('pythonPath', '').trim();
    const editor = await pythonFromExtension();
    const key = `${setting}|${editor ?? ''}`;
    if (this.python?.key !== key) {
      stage('find Python');
      const explicit: PythonCandidate | undefined = setting ? { command: setting, source: 'varscope.pythonPath setting' } : undefined;
      const choice = await findPython(
        pythonCandidates({ explicit, editor: editor ? { command: editor, source: 'Python extension' } : undefined }),
        {
          log: (l) => this.deps.log.info(l),
        },
      );
      this.python = { key, command: choice.found.command };
    }
    return {
      python: this.python.command,
      packageDir: pythonPackageDir(this.deps.context.extensionPath),
      signal,
      onLine: (line, stream) => (stream === 'stderr' ? this.deps.log.warn(`exporter: ${line}`) : this.deps.log.info(`exporter: ${line}`)),
    };
  }

  /** `VARScope: Clear Checkpoint Cache`: frees everything but the bundle in use, and says how much. */
  async clearCache(): Promise<{ entries: number; bytes: number }> {
    const inUse = this.deps.engine.current.dir;
    const freed = this.cache.clear(inUse ? [inUse] : []);
    const kept = inUse && path.dirname(path.resolve(inUse)) === path.resolve(this.cache.root) ? ' (the model in use is kept)' : '';
    const message = `VARScope: checkpoint cache cleared, ${freed.entries} bundle${freed.entries === 1 ? '' : 's'}, ${formatBytes(freed.bytes)} freed${kept}.`;
    this.deps.log.info(message);
    void vscode.window.showInformationMessage(message);
    return freed;
  }
}

/** Where exported checkpoints are cached: the extension's global storage (outside every workspace). */
export function checkpointCacheDir(context: vscode.ExtensionContext): string {
  return path.join(context.globalStorageUri.fsPath, 'checkpoints');
}

/** "12.3 MB". */
export function formatBytes(n: number): string {
  if (n < 1e3) return `${n} bytes`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

/** The interpreter selected in the Python extension (ms-python.python), if it is installed; never throws. */
async function pythonFromExtension(): Promise<string | undefined> {
  const ext = vscode.extensions.getExtension('ms-python.python');
  if (!ext) return undefined;
  type Api = {
    environments?: {
      getActiveEnvironmentPath?: (resource?: vscode.Uri) => { path: string } | undefined;
      resolveEnvironment?: (env: { path: string }) => Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
    };
    settings?: { getExecutionDetails?: (resource?: vscode.Uri) => { execCommand?: string[] } };
  };
  try {
    const activated = ext.isActive ? Promise.resolve(ext.exports as Api) : (ext.activate() as Thenable<Api>);
    const api = await Promise.race([activated, new Promise<undefined>((r) => setTimeout(() => r(undefined), 10000))]);
    const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
    const envPath = api?.environments?.getActiveEnvironmentPath?.(resource);
    if (envPath) {
      const env = await api?.environments?.resolveEnvironment?.(envPath);
      return env?.executable?.uri?.fsPath ?? envPath.path;
    }
    return api?.settings?.getExecutionDetails?.(resource)?.execCommand?.[0];
  } catch {
    return undefined;
  }
}
