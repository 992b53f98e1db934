/**
 * The Dataset view's commands: evaluate the model on a folder, a training run's timeline (several checkpoints on
 * one folder), watch a folder for new checkpoints, reopen a saved result, open one image with a given model.
 * Results go to the active panel's Dataset tab (a new panel when none is open).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { writeFileAtomic } from '../engine/atomicWrite';
import { Checkpoint, listCheckpoints } from '../engine/checkpointList';
import type { DatasetEvaluation, EvaluationProgress, LabelSource } from '../shared/evaluation';
import { evaluationFiles, parseEvaluationFile } from '../shared/evaluationFile';
import { VarScopeError } from '../shared/errors';
import type { CommandDeps } from './commands';

/** How often a watched folder is listed for new checkpoints (ms). */
const WATCH_POLL_MS = 2000;

/** The last folder evaluated and its labels: the timeline and watch mode evaluate new checkpoints on it. */
let lastFolder: { folder: string; labels: LabelSource } | undefined;

/** Registers the dataset commands. */
export function registerDatasetCommands(
  deps: CommandDeps,
  reg: (id: string, fn: (...args: never[]) => unknown) => vscode.Disposable,
): vscode.Disposable[] {
  const watcher = new CheckpointWatcher(deps);
  return [
    reg('varscope.evaluateFolder', (uri?: vscode.Uri) => evaluateFolderCommand(deps, uri)),
    reg('varscope.evaluateTimeline', (dirs?: unknown, folder?: unknown) => evaluateTimeline(deps, dirs, folder)),
    reg('varscope.openEvaluation', (uri?: vscode.Uri) => openEvaluation(deps, uri)),
    reg('varscope.watchCheckpoints', (dir?: unknown, folder?: unknown) => watcher.start(dir, folder)),
    reg('varscope.stopWatching', () => watcher.stop()),
    reg('varscope.openImageWithModel', (file: string, model: string) => openImageWithModel(deps, file, model)),
    watcher,
  ];
}

/** The folder from the argument or a dialog. */
async function pickFolder(arg: unknown, openLabel: string): Promise<string | undefined> {
  if (arg instanceof vscode.Uri) return arg.fsPath;
  if (typeof arg === 'string' && arg) return arg;
  return (await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel }))?.[0]?.fsPath;
}

/** Where labels come from: sub-folders when there are any, else asked (no class, or one class for all). */
async function pickLabels(deps: CommandDeps, folder: string): Promise<LabelSource | undefined> {
  const hasSubfolders = fs.readdirSync(folder, { withFileTypes: true }).some((e) => e.isDirectory());
  if (deps.standIns) return deps.standIns.labels(hasSubfolders);
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
  const info = deps.engine.current.info;
  const classes = info?.classes ?? [];
  const c = await vscode.window.showQuickPick(
    classes.map((name, i) => ({ label: `${i}: ${name}`, id: i })),
    { placeHolder: 'Class of every image' },
  );
  return c ? { kind: 'class', classId: c.id } : undefined;
}

/** One evaluation with a cancellable progress notification (images done, ETA). */
async function evaluateWithProgress(
  deps: CommandDeps,
  p: { model?: string; folder: string; labels: LabelSource },
  title: string,
): Promise<DatasetEvaluation> {
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title, cancellable: true },
    async (progress, token) => {
      let last = 0;
      const onProgress = (e: EvaluationProgress) => {
        const rate = e.done / Math.max(1e-3, e.elapsedMs / 1000);
        const eta = rate > 0 ? Math.round((e.total - e.done) / rate) : NaN;
        progress.report({
          increment: e.total ? ((e.done - last) / e.total) * 100 : 0,
          message: `${e.done}/${e.total} images${Number.isFinite(eta) && !e.finished ? `, about ${eta} s left` : ''}`,
        });
        last = e.done;
      };
      return deps.engine.evaluateFolder(p, token, onProgress);
    },
  );
}

/** Show results in the Dataset tab of the active panel (or a new one). */
function show(deps: CommandDeps, evaluations: DatasetEvaluation[], mode: 'replace' | 'append'): void {
  const panel = deps.panels.activePanel ?? deps.panels.openGeneration();
  panel.engineContext.emit('dataset', { evaluations, mode }); // the panel switches to its Dataset tab
}

function logResult(deps: CommandDeps, r: DatasetEvaluation): void {
  deps.log.info(
    `evaluated ${r.model.dir} on ${r.folder}: ${r.images} images in ${(r.elapsedMs / 1000).toFixed(1)} s, accuracy ${(r.overall.accuracy * 100).toFixed(2)} %, NLL ${r.overall.nll.toFixed(3)}${r.cancelled ? ' (cancelled)' : ''}`,
  );
  for (const f of r.failed) deps.log.warn(`  skipped ${f.file}: ${f.message}`);
}

/** Offer to save a result as JSON (reopened by Open Evaluation) and CSV beside it. */
async function offerSave(deps: CommandDeps, r: DatasetEvaluation): Promise<void> {
  if (deps.standIns?.offerSave === false) return;
  const msg = `VARScope: ${r.images} images evaluated${r.cancelled ? ' (cancelled)' : ''}; accuracy ${(r.overall.accuracy * 100).toFixed(1)} %.${r.failed.length ? ` ${r.failed.length} files could not be read (see the log).` : ''}`;
  const choice = await vscode.window.showInformationMessage(msg, 'Save Results…');
  if (choice !== 'Save Results…') return;
  const target = await vscode.window.showSaveDialog({
    defaultUri: vscode.Uri.file(path.join(path.dirname(r.folder), `varscope-evaluation-${r.model.id}.json`)),
    filters: { JSON: ['json'] },
  });
  if (!target) return;
  await saveResult(r, target.fsPath);
}

/** Write a result as FILE.json, FILE.csv (per scale) and FILE-images.csv (per image). */
export async function saveResult(r: DatasetEvaluation, jsonFile: string): Promise<void> {
  for (const f of evaluationFiles(r, jsonFile)) await writeFileAtomic(f.file, f.text);
}

async function evaluateFolderCommand(deps: CommandDeps, uri?: vscode.Uri): Promise<void> {
  const folder = await pickFolder(uri, 'Evaluate This Folder');
  if (!folder) return;
  const labels = await pickLabels(deps, folder);
  if (!labels) return;
  lastFolder = { folder, labels };
  const r = await evaluateWithProgress(deps, { folder, labels }, `VARScope: evaluating on ${path.basename(folder)}`);
  logResult(deps, r);
  show(deps, [r], 'replace');
  void offerSave(deps, r);
}

/** Checkpoints from the argument (bundle folders) or a pick: a folder of checkpoints, or the listed bundles. */
async function pickCheckpoints(deps: CommandDeps, dirs: unknown): Promise<Checkpoint[] | undefined> {
  if (Array.isArray(dirs)) return dirs.flatMap((d) => listCheckpoints(String(d)));
  if (typeof dirs === 'string') return listCheckpoints(dirs);
  type Item = vscode.QuickPickItem & { dir?: string; browse?: boolean };
  const items: Item[] = deps.catalog.listBundles().map((b) => ({ label: b.name, description: b.id, detail: b.dir, dir: b.dir }));
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
      if (f) out.push(...listCheckpoints(f));
    } else if (p.dir) {
      out.push(...listCheckpoints(p.dir));
    }
  }
  return out;
}

/** Bundles only: PyTorch checkpoints go through the exporter first (said once, in the log and a warning). */
function bundlesOf(deps: CommandDeps, list: Checkpoint[]): string[] {
  const skipped = list.filter((c) => c.kind === 'needsExport');
  for (const c of skipped)
    deps.log.warn(`timeline: ${(c as { file: string }).file} is a PyTorch checkpoint; export it to a bundle to include it`);
  if (skipped.length)
    void vscode.window.showWarningMessage(
      `VARScope: ${skipped.length} PyTorch checkpoints left out: export them to bundles first (see the log).`,
    );
  return list.flatMap((c) => (c.kind === 'bundle' ? [c.dir] : []));
}

async function evaluateTimeline(deps: CommandDeps, dirs?: unknown, folderArg?: unknown): Promise<void> {
  const list = await pickCheckpoints(deps, dirs);
  if (!list) return;
  const models = bundlesOf(deps, list);
  if (!models.length) throw new VarScopeError('ModelNotFound', 'No model bundle among the chosen checkpoints.');
  for (const m of models) await deps.catalog.ensureAllowed(m, true);
  const folder = await pickFolder(folderArg, 'Evaluate on This Folder');
  if (!folder) return;
  const labels = await pickLabels(deps, folder);
  if (!labels) return;
  lastFolder = { folder, labels };
  for (let i = 0; i < models.length; i++) {
    const r = await evaluateWithProgress(
      deps,
      { model: models[i], folder, labels },
      `VARScope: checkpoint ${i + 1} of ${models.length} on ${path.basename(folder)}`,
    );
    logResult(deps, r);
    show(deps, [r], i === 0 ? 'replace' : 'append');
    if (r.cancelled) return;
  }
}

async function openEvaluation(deps: CommandDeps, uri?: vscode.Uri): Promise<void> {
  const file =
    uri instanceof vscode.Uri
      ? uri.fsPath
      : (await vscode.window.showOpenDialog({ canSelectMany: false, filters: { JSON: ['json'] }, openLabel: 'Open Evaluation' }))?.[0]
          ?.fsPath;
  if (!file) return;
  const evaluations = readEvaluations(file);
  show(deps, evaluations, 'replace');
}

/** The evaluations of a saved result (one evaluation, or a timeline's list); BadRequest when it is neither. */
export function readEvaluations(file: string): DatasetEvaluation[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new VarScopeError('BadRequest', `${path.basename(file)} is not a readable JSON file: ${(e as Error).message}`);
  }
  return parseEvaluationFile(text, path.basename(file));
}

async function openImageWithModel(deps: CommandDeps, file: string, model: string): Promise<void> {
  if (!fs.existsSync(file)) throw new VarScopeError('BadImage', `${file} no longer exists`);
  if (model && deps.engine.current.dir && path.resolve(model) !== path.resolve(deps.engine.current.dir)) {
    await deps.catalog.ensureAllowed(model, true);
    await deps.catalog.choose(model);
  }
  await deps.panels.openImage(vscode.Uri.file(file));
}

/** Watch mode: new bundles in a folder are evaluated on the last folder and added to the timeline. */
class CheckpointWatcher implements vscode.Disposable {
  private timer: ReturnType<typeof setInterval> | undefined;
  private seen = new Set<string>();
  private busy = false;

  constructor(private readonly deps: CommandDeps) {}

  async start(dirArg?: unknown, folderArg?: unknown): Promise<void> {
    const dir = await pickFolder(dirArg, 'Watch This Folder');
    if (!dir) return;
    let target = lastFolder;
    if (folderArg !== undefined || !target) {
      const folder = await pickFolder(folderArg, 'Evaluate New Checkpoints on This Folder');
      if (!folder) return;
      const labels = await pickLabels(this.deps, folder);
      if (!labels) return;
      target = lastFolder = { folder, labels };
    }
    this.stop();
    // checkpoints already there are the run so far: the timeline starts with them
    const existing = bundlesOf(this.deps, listCheckpoints(dir));
    this.seen = new Set(existing);
    const fixed = target;
    for (let i = 0; i < existing.length; i++) {
      const r = await evaluateWithProgress(
        this.deps,
        { model: existing[i], folder: fixed.folder, labels: fixed.labels },
        `VARScope: checkpoint ${i + 1} of ${existing.length}`,
      );
      show(this.deps, [r], i === 0 ? 'replace' : 'append');
    }
    this.deps.log.info(`watching ${dir} for new checkpoints (evaluated on ${fixed.folder})`);
    this.timer = setInterval(() => void this.poll(dir, fixed), WATCH_POLL_MS);
    void vscode.window.showInformationMessage(`VARScope: watching ${path.basename(dir)} for new checkpoints.`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  dispose(): void {
    this.stop();
  }

  private async poll(dir: string, target: { folder: string; labels: LabelSource }): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      let list: Checkpoint[];
      try {
        list = listCheckpoints(dir);
      } catch {
        return; // a bundle being copied (half-written varscope.json): next time
      }
      for (const c of list) {
        if (c.kind !== 'bundle' || this.seen.has(c.dir)) continue;
        this.seen.add(c.dir);
        try {
          const r = await evaluateWithProgress(
            this.deps,
            { model: c.dir, folder: target.folder, labels: target.labels },
            `VARScope: new checkpoint ${path.basename(c.dir)}`,
          );
          logResult(this.deps, r);
          show(this.deps, [r], 'append');
          void vscode.window.showInformationMessage(
            `VARScope: new checkpoint ${path.basename(c.dir)}${r.model.step !== null ? ` (step ${r.model.step})` : ''} evaluated: accuracy ${(r.overall.accuracy * 100).toFixed(1)} %, NLL ${r.overall.nll.toFixed(3)}.`,
          );
        } catch (e) {
          this.seen.delete(c.dir); // perhaps still being copied: try again at the next poll
          this.deps.log.warn(`watch: ${c.dir}: ${VarScopeError.toWire(e).message}`);
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
