/** The commands of package.json: each handler is guarded so a failure reaches the log and the user. */
import * as path from 'path';
import * as vscode from 'vscode';
import { VarScopeError } from '../shared/errors';
import { EXPORT_MIMES, type ExportFormat } from '../shared/protocol';
import { registerDatasetCommands } from './datasetCommands';
import type { EngineHost } from './engineHost';
import type { ErrorReporter } from './errorReporter';
import type { ModelCatalog } from './modelCatalog';
import type { CheckpointOpener } from './openCheckpoint';
import type { PanelManager } from './panelManager';
import type { TestStandIns } from './testHooks';

/** What the commands act on. */
export interface CommandDeps {
  log: vscode.LogOutputChannel;
  errors: ErrorReporter;
  catalog: ModelCatalog;
  engine: EngineHost;
  panels: PanelManager;
  checkpoints: CheckpointOpener;
  /** Set while the integration suite runs: what it gets instead of quick picks and dialogs. */
  standIns: TestStandIns | undefined;
}

const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'webp', 'bmp', 'gif'];

/** Registers every contributed command; returns their disposables. */
export function registerCommands(deps: CommandDeps): vscode.Disposable[] {
  const { errors } = deps;
  const reg = (id: string, fn: (...args: never[]) => unknown) =>
    vscode.commands.registerCommand(id, errors.guard(id, fn as (...a: unknown[]) => unknown));
  return [
    reg('varscope.inspectImage', (uri?: vscode.Uri) => inspectImage(deps, uri)),
    reg('varscope.chooseModel', () => chooseModel(deps)),
    reg('varscope.openCheckpoint', (uri?: vscode.Uri) => deps.checkpoints.open(uri)),
    reg('varscope.clearCheckpointCache', () => deps.checkpoints.clearCache()),
    reg('varscope.showLog', () => deps.log.show(true)),
    reg('varscope.restartEngine', async () => {
      deps.log.info('restarting the engine');
      await deps.engine.restart(); // reloads the model: panels follow through engine.onDidReload
    }),
    reg('varscope.generateImage', () => {
      deps.panels.openGeneration();
    }),
    ...registerDatasetCommands(deps, reg),
    reg('varscope.compareModels', (dir?: unknown) => compareModels(deps, dir)),
    reg('varscope.exportView', async (format?: ExportFormat) => {
      const panel = deps.panels.activePanel;
      if (!panel) throw new VarScopeError('BadRequest', 'Open a VARScope panel first.');
      const chosen =
        format ??
        ((await vscode.window.showQuickPick(Object.keys(EXPORT_MIMES), { placeHolder: 'Export the current view as' })) as
          ExportFormat | undefined);
      if (!chosen) return;
      panel.requestExport(chosen);
    }),
  ];
}

/** Opens the image (explorer selection, active editor, or a file dialog) in the inspector. */
async function inspectImage(deps: CommandDeps, uri?: vscode.Uri): Promise<void> {
  let target = uri instanceof vscode.Uri ? uri : activeResource();
  if (!target || !IMAGE_EXTENSIONS.includes(path.extname(target.fsPath).slice(1).toLowerCase())) {
    const picked = await vscode.window.showOpenDialog({
      canSelectMany: false,
      filters: { Images: IMAGE_EXTENSIONS },
      openLabel: 'Inspect',
    });
    target = picked?.[0];
  }
  if (!target) return;
  await deps.panels.openImage(target);
}

/** The resource of the active tab (text editor, image preview, or custom editor). */
function activeResource(): vscode.Uri | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  if (input instanceof vscode.TabInputText || input instanceof vscode.TabInputCustom) return input.uri;
  return vscode.window.activeTextEditor?.document.uri;
}

/** Runs `fn`; a failure is also shown in the panel (then rethrown for the log and the notification). */
async function inPlace<T>(panel: { showError(code: string, message: string): void }, fn: () => Thenable<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const w = VarScopeError.toWire(e);
    if (w.code !== 'Cancelled') panel.showError(w.code, w.message);
    throw e;
  }
}

/**
 * Inspects the active panel's image with other bundles (any number, chosen in one multi-select pick); the panel
 * shows them all against its own model. `dirs` (from a keybinding or another extension) names the bundle folders,
 * one path or an array, and skips the pick; each must be one the picker would list.
 */
async function compareModels(deps: CommandDeps, dirs?: unknown): Promise<void> {
  const panel = deps.panels.activePanel;
  if (!panel?.imageUri) throw new VarScopeError('BadRequest', 'Open an image in VARScope first, then compare models on it.');
  const current = deps.engine.current.dir;
  const items = deps.catalog
    .listBundles()
    .filter((b) => b.dir !== current)
    .map((b) => ({ label: b.name, description: b.id, detail: b.dir, dir: b.dir }));
  if (items.length === 0) throw new VarScopeError('ModelNotFound', 'No other model bundle found (models/ and varscope.modelFolders).');
  const picks =
    dirs === undefined
      ? await vscode.window.showQuickPick(items, { placeHolder: 'Compare with which models? (choose one or more)', canPickMany: true })
      : await inPlace(panel, async () =>
          (Array.isArray(dirs) && dirs.length > 0 ? dirs : [dirs])
            .map((d) => listedBundle(items, d, current))
            .filter((b, i, all) => all.indexOf(b) === i),
        );
  if (!picks || picks.length === 0) return;
  for (const pick of picks) await deps.catalog.ensureAllowed(pick.dir, true);
  const imageUri = panel.imageUri;
  const result = await inPlace(panel, () =>
    vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'VARScope: comparing models', cancellable: true },
      (progress, token) => {
        progress.report({ message: `${picks.length + 1} models on ${path.basename(imageUri.fsPath)}` });
        return deps.engine.compareWith(
          picks.map((p) => p.dir),
          imageUri,
          token,
          (done, total) => progress.report({ increment: 100 / total, message: `${done} of ${total} models` }),
        );
      },
    ),
  );
  panel.engineContext.emit('comparison', result);
}

/** The listed bundle that the command argument `dir` names (a folder path); anything else is a BadRequest. */
function listedBundle<T extends { dir: string }>(items: T[], dir: unknown, current: string | null): T {
  if (typeof dir !== 'string' || dir.trim() === '')
    throw new VarScopeError('BadRequest', 'varscope.compareModels takes a model bundle folder (a path) or an array of them.');
  const wanted = path.resolve(dir);
  const found = items.find((b) => path.resolve(b.dir) === wanted);
  if (found) return found;
  if (current && path.resolve(current) === wanted)
    throw new VarScopeError('BadRequest', `${dir} is the current model: compare it with other bundles.`);
  throw new VarScopeError('BadRequest', `${dir} is not a model bundle VARScope lists (models/ and varscope.modelFolders).`);
}

/** The model picker: bundles in models/ and varscope.modelFolders, a folder browser, or back to the default. */
async function chooseModel(deps: CommandDeps): Promise<void> {
  type Item = vscode.QuickPickItem & { dir?: string | null; browse?: boolean };
  const current = deps.catalog.currentDir();
  const items: Item[] = deps.catalog.listBundles().map((b) => ({
    label: b.name,
    description: b.dir === current ? `${b.id} (current)` : b.id,
    detail: b.dir,
    dir: b.dir,
  }));
  items.push({ label: '$(folder-opened) Browse for a bundle folder…', browse: true });
  items.push({ label: '$(discard) Use the setting or the embedded default', dir: null });
  const pick = await vscode.window.showQuickPick(items, { placeHolder: 'Model bundle for this workspace', matchOnDetail: true });
  if (!pick) return;
  let dir = pick.dir ?? null;
  if (pick.browse) {
    const folder = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Use This Bundle' });
    if (!folder?.[0]) return;
    dir = folder[0].fsPath;
  }
  if (dir) await deps.catalog.ensureAllowed(dir, true);
  await deps.catalog.choose(dir);
}
