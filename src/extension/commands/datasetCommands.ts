/**
 * The Dataset view's commands: evaluate the model on a folder, a training run's timeline (several checkpoints on one
 * folder), reopen a saved result, open one image of a result with the model that scored it. Results go to the active
 * panel's Dataset tab (a new panel when none is open).
 */
import * as path from 'path';
import * as vscode from 'vscode';
import type { AnyDatasetEvaluation } from '../../shared/evaluation';
import { VarScopeError } from '../../shared/errors';
import { evaluateCheckpointFile } from '../../client/runWatch';
import { runFamily } from '../../node/checkpointList';
import { shapeOfEvaluation, timelineMismatch } from '../../shared/timeline';
import { pickCheckpoints, pickTarget } from './datasetPickers';
import { evaluateWithProgress, logEvaluation, showEvaluations } from './evaluationRuns';
import { evaluatedMessage } from './evaluationText';
import type { CommandServices } from './services';

/** `varscope.evaluateFolder`: the current model on a folder (the argument, else a dialog). */
export async function evaluateFolder(s: CommandServices, uri?: vscode.Uri): Promise<void> {
  const target = await pickTarget(s, uri, 'Evaluate This Folder');
  if (!target) return;
  const r = await evaluateWithProgress(s, target, `VARScope: evaluating on ${path.basename(target.folder)}`);
  logEvaluation(s, r);
  showEvaluations(s, [r], 'replace');
  void offerSave(s, r);
}

/**
 * `varscope.evaluateTimeline`: each checkpoint (bundle folders, or picked) on one folder, a point of the timeline each;
 * checkpoints of one family (Infinity's: of one bit width and schedule), refused in one line otherwise.
 */
export async function evaluateTimeline(s: CommandServices, dirs?: unknown, folderArg?: unknown): Promise<void> {
  const list = await pickCheckpoints(s, dirs);
  if (!list) return;
  if (!list.length) throw new VarScopeError('ModelNotFound', 'No checkpoint among the chosen ones.');
  for (const c of list) if (c.kind === 'bundle') await s.catalog.ensureAllowed(c.dir, true);
  const mixed = timelineMismatch(list.flatMap((c) => (c.kind === 'bundle' ? [c.shape] : [])));
  if (mixed) throw new VarScopeError('BadRequest', mixed);
  const target = await pickTarget(s, folderArg, 'Evaluate on This Folder', await runFamily(list));
  if (!target) return;
  const done: AnyDatasetEvaluation[] = [];
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    const title = `VARScope: checkpoint ${i + 1} of ${list.length} on ${path.basename(target.folder)}`;
    const evaluate = (model: string) => evaluateWithProgress(s, { model, ...target }, title);
    const r =
      c.kind === 'bundle'
        ? await evaluate(c.dir)
        : // A PyTorch checkpoint: its bundle lives while it is evaluated (from its template when one fits: no Python).
          (
            await evaluateCheckpointFile(
              c.file,
              s.checkpoints.scratchDir(),
              (out) => s.checkpoints.makeBundle(c.file, out, new AbortController().signal),
              evaluate,
            )
          ).evaluation;
    const mismatch = timelineMismatch([...done, r].map(shapeOfEvaluation));
    if (mismatch) throw new VarScopeError('BadRequest', mismatch);
    done.push(r);
    logEvaluation(s, r);
    showEvaluations(s, [r], i === 0 ? 'replace' : 'append');
    if (r.cancelled) return;
  }
}

/** `varscope.openEvaluation`: a saved result (one evaluation or a timeline) back in the Dataset tab. */
export async function openEvaluation(s: CommandServices, uri?: vscode.Uri): Promise<void> {
  const file =
    uri instanceof vscode.Uri
      ? uri.fsPath
      : (await vscode.window.showOpenDialog({ canSelectMany: false, filters: { JSON: ['json'] }, openLabel: 'Open Evaluation' }))?.[0]
          ?.fsPath;
  if (!file) return;
  showEvaluations(s, s.files.read(file), 'replace');
}

/** `varscope.openImageWithModel` (from a Dataset table row): the image in the inspector, with `model` made current. */
export async function openImageWithModel(s: CommandServices, file: string, model: string): Promise<void> {
  if (!s.files.exists(file)) throw new VarScopeError('BadImage', `${file} no longer exists`);
  if (model && s.engine.current.dir && path.resolve(model) !== path.resolve(s.engine.current.dir)) {
    await s.catalog.ensureAllowed(model, true);
    await s.catalog.choose(model);
  }
  await s.panels.openImage(vscode.Uri.file(file));
}

/** Offers to save a result as JSON (reopened by Open Evaluation) and CSV beside it. */
async function offerSave(s: CommandServices, r: AnyDatasetEvaluation): Promise<void> {
  if (s.standIns?.offerSave === false) return;
  const choice = await vscode.window.showInformationMessage(evaluatedMessage(r), 'Save Results…');
  if (choice !== 'Save Results…') return;
  const target = await vscode.window.showSaveDialog({
    defaultUri: vscode.Uri.file(path.join(path.dirname(r.folder), `varscope-evaluation-${r.model.id}.json`)),
    filters: { JSON: ['json'] },
  });
  if (!target) return;
  await s.files.save(r, target.fsPath);
}
