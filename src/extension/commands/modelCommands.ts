/** The model's commands: choose the bundle, restart the engine, show the log. */
import * as vscode from 'vscode';
import type { CommandServices } from './services';

/** `varscope.chooseModel`: bundles in models/ and varscope.modelFolders, a folder browser, or back to the default. */
export async function chooseModel(s: CommandServices): Promise<void> {
  type Item = vscode.QuickPickItem & { dir?: string | null; browse?: boolean };
  const current = s.catalog.currentDir();
  const items: Item[] = s.catalog.listBundles().map((b) => ({
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
  if (dir) await s.catalog.ensureAllowed(dir, true);
  await s.catalog.choose(dir);
}

/** `varscope.restartEngine`: a fresh engine process; panels reload through engine.onDidReload. */
export async function restartEngine(s: CommandServices): Promise<void> {
  s.log.info('restarting the engine');
  await s.engine.restart();
}

/** `varscope.showLog`. */
export function showLog(s: CommandServices): void {
  s.log.show(true);
}
