/**
 * Opens a PyTorch or safetensors checkpoint (official VAR / VQ-VAE state_dicts, the official trainer's ar-ckpt-*.pth,
 * VARHF safetensors; Infinity's slim file, BSQ VAE and ar-ckpt, exported with Python) as the current model: a verified bundle exported into the checkpoint cache, the inspector open on
 * it. A file that holds only one of the two models is paired with the other (remembered per workspace, else found
 * beside it, else asked for).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { CheckpointBundler, ROLE_NAMES, shippedTemplates } from '../client/checkpointBundler';
import type { ModelFamily } from '../shared/manifest';
import { templateStoreDir } from '../node/templateStore';
import type { MadeBundle } from '../client/runWatch';
import type { ConsistencyWarning } from '../shared/consistency';
import { VarScopeError } from '../shared/errors';
import { CheckpointCache, folderBytes } from './checkpointCache';
import { bundleIdOf, bundleNameOf, CHECKPOINT_EXTENSIONS, partnerCandidates, type CheckpointPair } from './checkpointNames';
import type { EngineHost } from './engineHost';
import { exportStagePercent } from './exportProgress';
import { ExportPython } from './exportPython';
import type { ModelCatalog } from './modelCatalog';
import type { PanelManager } from './panelManager';

const PAIRS_KEY = 'varscope.checkpointPairs';

/** What the opener needs. */
export interface CheckpointOpenerDeps {
  context: vscode.ExtensionContext;
  log: vscode.LogOutputChannel;
  catalog: ModelCatalog;
  engine: EngineHost;
  panels: PanelManager;
}

/** A checkpoint opened: its bundle, the pair it came from, and whether the cache had it. */
export interface OpenedCheckpoint {
  dir: string;
  vae: string;
  var: string;
  cacheHit: boolean;
}

/** Reports a stage by name, with the percentage of the whole it brings the work up to. */
export type StageReporter = (message: string, upTo?: number) => void;

/** Opens checkpoints in the inspector; one per extension activation. */
export class CheckpointOpener {
  readonly cache: CheckpointCache;
  private readonly python: ExportPython;
  private readonly bundler: CheckpointBundler;

  constructor(private readonly deps: CheckpointOpenerDeps) {
    const version = String(deps.context.extension.packageJSON.version ?? '0');
    this.cache = new CheckpointCache(checkpointCacheDir(deps.context), deps.context.globalState, version);
    this.python = new ExportPython(deps.context.extensionPath, deps.log);
    const store = templateStoreDir();
    this.bundler = new CheckpointBundler({
      // Every bundle in the cache is the template of its architecture; then the user's store, then the shipped ones.
      templateFolders: [this.cache.root, store, shippedTemplates(deps.context.extensionPath)],
      store,
      python: (signal) => this.python.run(() => undefined, signal ?? new AbortController().signal),
      log: (line) => deps.log.info(line),
    });
    try {
      this.cache.sweepPartials();
    } catch (e) {
      deps.log.warn(`checkpoint cache: could not remove old temporary folders: ${String(e)}`);
    }
  }

  /** Pairing, hashing, export on a cache miss, then the model and a panel; `signal` cancels. */
  async open(file: string, stage: StageReporter, signal: AbortSignal): Promise<OpenedCheckpoint> {
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
      const name = bundleNameOf(pair);
      const t0 = Date.now();
      let made: MadeBundle | undefined;
      dir = await this.cache.build(key, async (out) => {
        made = await this.bundler.make(pair, out, {
          id: bundleIdOf(pair),
          name,
          signal,
          onStage: (s) => stage(s.message, s.stage === 'template' ? 50 : exportStagePercent(s)),
        });
      });
      this.deps.log.info(
        `exported ${name} (${made?.via === 'template' ? 'from its architecture template, no Python' : 'with Python'}) to ${dir} in ${((Date.now() - t0) / 1000).toFixed(1)} s (${(folderBytes(dir) / 1e6).toFixed(1)} MB)`,
      );
      this.warn(name, made?.warnings ?? []);
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

  /** The checkpoint's consistency warnings: each in the log, and one notification that says how many. */
  private warn(name: string, warnings: ConsistencyWarning[]): void {
    if (!warnings.length) return;
    for (const w of warnings) this.deps.log.warn(`${name}: ${w.message}`);
    const more = warnings.length > 1 ? ` (and ${warnings.length - 1} more in the log)` : '';
    void vscode.window.showWarningMessage(`VARScope: ${name}: ${warnings[0].message}${more}`, 'Show Log').then((choice) => {
      if (choice === 'Show Log') this.deps.log.show();
    });
  }

  /**
   * Writes the bundle of one checkpoint file (a trainer checkpoint, or one model paired with its partner) at `out`,
   * for watch mode and the timeline: nothing is cached, since only its metrics are kept.
   */
  async makeBundle(file: string, out: string, signal: AbortSignal): Promise<MadeBundle> {
    const pair = await this.pairFor(file, () => undefined, signal);
    return this.bundler.make(pair, out, { id: bundleIdOf(pair), name: bundleNameOf(pair), signal });
  }

  /** Where bundles that live only while they are evaluated are written (watch mode, timelines of .pth files). */
  scratchDir(): string {
    return path.join(this.cache.root, '.watch');
  }

  /** Frees every cached bundle but the one in use; says whether that one was kept. */
  clearCache(): { entries: number; bytes: number; keptInUse: boolean } {
    const inUse = this.deps.engine.current.dir;
    const freed = this.cache.clear(inUse ? [inUse] : []);
    const keptInUse = !!inUse && path.dirname(path.resolve(inUse)) === path.resolve(this.cache.root);
    return { ...freed, keptInUse };
  }

  /** The (VAE, VAR) files for `file`: remembered, the file itself (trainer checkpoint), a file beside it, or picked. */
  private async pairFor(file: string, stage: StageReporter, signal: AbortSignal): Promise<CheckpointPair> {
    const pairs = this.deps.context.workspaceState.get<Record<string, CheckpointPair>>(PAIRS_KEY, {});
    const known = pairs[file];
    if (known && fs.existsSync(known.vae) && fs.existsSync(known.var)) return known;
    stage('read the checkpoint', 3);
    const [desc] = await this.bundler.describe([file], signal);
    if (desc.error) throw new VarScopeError('ModelLoad', desc.error);
    let pair: CheckpointPair;
    if (desc.roles.includes('vae') && desc.roles.includes('var')) pair = { vae: file, var: file };
    else if (desc.roles.length === 1) {
      const need = desc.roles[0] === 'var' ? 'vae' : 'var';
      const partner = (await this.partnerBeside(file, need, desc.family, signal)) ?? (await this.askPartner(file, need, desc.family));
      if (!partner) throw new VarScopeError('Cancelled', 'no partner checkpoint chosen');
      pair = need === 'vae' ? { vae: partner, var: file } : { vae: file, var: partner };
    } else throw new VarScopeError('ModelLoad', `${file}: neither a VAR nor a VQ-VAE checkpoint (nor an Infinity model's)`);
    await this.deps.context.workspaceState.update(PAIRS_KEY, { ...pairs, [file]: pair });
    return pair;
  }

  /** A checkpoint of the family beside `file` holding the `need` model, tried in name order (names that say vae / var first). */
  private async partnerBeside(file: string, need: 'vae' | 'var', family: ModelFamily, signal: AbortSignal): Promise<string | undefined> {
    let names: string[];
    try {
      names = fs.readdirSync(path.dirname(file));
    } catch {
      return undefined;
    }
    const candidates = partnerCandidates(file, names, need, (p) => fs.statSync(p).isFile());
    if (candidates.length === 0) return undefined;
    const found = (await this.bundler.describe(candidates, signal)).find((d) => d.roles.includes(need) && d.family === family);
    if (found) this.deps.log.info(`paired ${path.basename(file)} with ${found.path} (found beside it)`);
    return found?.path;
  }

  private async askPartner(file: string, need: 'vae' | 'var', family: ModelFamily): Promise<string | undefined> {
    const names = ROLE_NAMES[family];
    const what = names[need];
    const picked = await vscode.window.showOpenDialog({
      canSelectMany: false,
      defaultUri: vscode.Uri.file(path.dirname(file)),
      filters: { Checkpoints: CHECKPOINT_EXTENSIONS },
      openLabel: `Use as ${what}`,
      title: `${path.basename(file)} holds only the ${names[need === 'vae' ? 'var' : 'vae']}: choose its ${what} checkpoint`,
    });
    return picked?.[0]?.fsPath;
  }
}

/** Where exported checkpoints are cached: the extension's global storage (outside every workspace). */
export function checkpointCacheDir(context: vscode.ExtensionContext): string {
  return path.join(context.globalStorageUri.fsPath, 'checkpoints');
}
