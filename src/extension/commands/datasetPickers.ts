/**
 * The dataset commands' questions: which folder, where its labels come from, which checkpoints. An argument (from a
 * keybinding, another extension or a test) answers a question without asking it.
 */
import * as vscode from 'vscode';
import type { LabelSource } from '../../shared/evaluation';
import type { ModelFamily } from '../../shared/manifest';
import type { Checkpoint } from '../datasetFiles';
import type { CommandServices, FolderTarget } from './services';

/** The folder from the argument (a Uri or a path) or a dialog. */
export async function pickFolder(arg: unknown, openLabel: string): Promise<string | undefined> {
  if (arg instanceof vscode.Uri) return arg.fsPath;
  if (typeof arg === 'string' && arg) return arg;
  return (await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel }))?.[0]?.fsPath;
}

/** Where labels come from: sub-folders when there are any, else asked (no class, or one class for all). */
export async function pickLabels(
  s: CommandServices,
  folder: string,
  family = s.engine.current.info?.family,
): Promise<LabelSource | undefined> {
  if (family === 'infinity') return pickCaptions(s, folder);
  const hasSubfolders = s.files.hasSubfolders(folder);
  if (s.standIns) return s.standIns.labels(hasSubfolders);
  type Item = vscode.QuickPickItem & { labels?: LabelSource; one?: boolean };
  const items: Item[] = [];
  if (hasSubfolders)
    items.push({
      label: 'Sub-folders are classes (ImageFolder)',
      detail: 'by class name, else class index, else sorted order as torchvision numbers them',
      labels: { kind: 'subfolders' },
    });
  items.push({ label: 'No class', detail: "every image with the model's null class", labels: { kind: 'none' } });
  items.push({ label: 'One class for every image…', one: true });
  const pick = await vscode.window.showQuickPick(items, {
    placeHolder: 'Teacher forcing is conditioned on a class: where does it come from?',
  });
  if (!pick) return undefined;
  if (pick.labels) return pick.labels;
  const info = s.engine.current.info;
  const classes = info?.family === 'var' ? info.classes : [];
  const c = await vscode.window.showQuickPick(
    classes.map((name, i) => ({ label: `${i}: ${name}`, id: i })),
    { placeHolder: 'Class of every image' },
  );
  return c ? { kind: 'class', classId: c.id } : undefined;
}

/** An Infinity model's labels: captions beside the images (NAME.txt, NAME.npy / .safetensors), or one JSONL picked. */
async function pickCaptions(s: CommandServices, folder: string): Promise<LabelSource | undefined> {
  if (s.standIns) return { kind: 'captions' };
  type Item = vscode.QuickPickItem & { jsonl?: boolean };
  const pick = await vscode.window.showQuickPick<Item>(
    [
      { label: 'Captions beside the images', detail: 'NAME.npy / NAME.safetensors (T5 features), else NAME.txt (the prompt)' },
      { label: 'Captions from a JSONL…', detail: '{"file": ..., "caption": ... or "features": ...} per line', jsonl: true },
    ],
    { placeHolder: "Teacher forcing is conditioned on each image's caption: where does it come from?" },
  );
  if (!pick) return undefined;
  if (!pick.jsonl) return { kind: 'captions' };
  const file = (
    await vscode.window.showOpenDialog({ canSelectMany: false, defaultUri: vscode.Uri.file(folder), filters: { JSONL: ['jsonl'] } })
  )?.[0]?.fsPath;
  return file ? { kind: 'captions', jsonl: file } : undefined;
}

/**
 * A folder and its labels (for a model of `family`: the current model's unless given), from the argument or asked;
 * remembered as the session's last folder.
 */
export async function pickTarget(
  s: CommandServices,
  folderArg: unknown,
  openLabel: string,
  family?: ModelFamily,
): Promise<FolderTarget | undefined> {
  const folder = await pickFolder(folderArg, openLabel);
  if (!folder) return undefined;
  const labels = await pickLabels(s, folder, family ?? s.engine.current.info?.family);
  if (!labels) return undefined;
  s.session.lastFolder = { folder, labels };
  return s.session.lastFolder;
}

/** Checkpoints from the argument (bundle folders) or a pick: a folder of checkpoints, or the listed bundles. */
export async function pickCheckpoints(s: CommandServices, dirs: unknown): Promise<Checkpoint[] | undefined> {
  if (Array.isArray(dirs)) return dirs.flatMap((d) => s.files.checkpoints(String(d)));
  if (typeof dirs === 'string') return s.files.checkpoints(dirs);
  type Item = vscode.QuickPickItem & { dir?: string; browse?: boolean };
  const items: Item[] = s.catalog.listBundles().map((b) => ({ label: b.name, description: b.id, detail: b.dir, dir: b.dir }));
  items.unshift({ label: '$(folder-opened) A folder of checkpoints…', browse: true });
  const picks = await vscode.window.showQuickPick(items, {
    canPickMany: true,
    placeHolder: 'Checkpoints of one run (bundles), or a folder of them',
  });
  if (!picks?.length) return undefined;
  const out: Checkpoint[] = [];
  for (const p of picks) {
    if (p.browse) {
      const f = await pickFolder(undefined, 'Use These Checkpoints');
      if (f) out.push(...s.files.checkpoints(f));
    } else if (p.dir) {
      out.push(...s.files.checkpoints(p.dir));
    }
  }
  return out;
}

/** Whether labels are of the kind a model of `family` takes (Infinity: captions; VAR: classes or none). */
export function labelsFit(labels: LabelSource, family: ModelFamily | undefined): boolean {
  return family === undefined || (labels.kind === 'captions') === (family === 'infinity');
}
