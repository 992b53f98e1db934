/**
 * The inspector's commands: inspect an image, open a generation panel, export the active panel's view, compare the
 * active panel's image across models.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { VarScopeError } from '../../shared/errors';
import { EXPORT_MIMES, type ExportFormat } from '../../shared/protocol';
import type { CommandServices } from './services';

const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'webp', 'bmp', 'gif'];

/** `varscope.inspectImage`: the image (Explorer selection, active editor, or a file dialog) in the inspector. */
export async function inspectImage(s: CommandServices, uri?: vscode.Uri): Promise<void> {
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
  await s.panels.openImage(target);
}

/** `varscope.generateImage`: a panel without an image, on the step-through generation view. */
export function generateImage(s: CommandServices): void {
  s.panels.openGeneration();
}

/** `varscope.exportView`: the active panel's view in `format` (asked when not given). */
export async function exportView(s: CommandServices, format?: ExportFormat): Promise<void> {
  const panel = s.panels.activePanel;
  if (!panel) throw new VarScopeError('BadRequest', 'Open a VARScope panel first.');
  const chosen =
    format ??
    ((await vscode.window.showQuickPick(Object.keys(EXPORT_MIMES), { placeHolder: 'Export the current view as' })) as
      ExportFormat | undefined);
  if (!chosen) return;
  panel.requestExport(chosen);
}

/**
 * `varscope.compareModels`: the active panel's image with other bundles (any number, chosen in one multi-select
 * pick); the panel shows them all against its own model. `dirs` (from a keybinding or another extension) names the
 * bundle folders, one path or an array, and skips the pick; each must be one the picker would list.
 */
export async function compareModels(s: CommandServices, dirs?: unknown): Promise<void> {
  const panel = s.panels.activePanel;
  if (!panel?.imageUri) throw new VarScopeError('BadRequest', 'Open an image in VARScope first, then compare models on it.');
  const current = s.engine.current.dir;
  const items = s.catalog
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
  for (const pick of picks) await s.catalog.ensureAllowed(pick.dir, true);
  const imageUri = panel.imageUri;
  const result = await inPlace(panel, () =>
    vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'VARScope: comparing models', cancellable: true },
      (progress, token) => {
        progress.report({ message: `${picks.length + 1} models on ${path.basename(imageUri.fsPath)}` });
        return s.engine.compareWith(
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
