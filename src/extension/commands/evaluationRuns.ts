/**
 * Running an evaluation for a command: a cancellable progress notification (images done, time left), the result in
 * the log and in the active panel's Dataset tab.
 */
import * as vscode from 'vscode';
import type { AnyDatasetEvaluation, EvaluationProgress, LabelSource } from '../../shared/evaluation';
import { evaluationLogLine, progressMessage } from './evaluationText';
import type { CommandServices } from './services';

/** One evaluation of a model (default: the current one) over a folder, under a cancellable progress notification. */
export async function evaluateWithProgress(
  s: CommandServices,
  p: { model?: string; folder: string; labels: LabelSource },
  title: string,
): Promise<AnyDatasetEvaluation> {
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title, cancellable: true },
    async (progress, token) => {
      let last = 0;
      const onProgress = (e: EvaluationProgress) => {
        progress.report({ increment: e.total ? ((e.done - last) / e.total) * 100 : 0, message: progressMessage(e) });
        last = e.done;
      };
      return s.engine.evaluateFolder(p, token, onProgress);
    },
  );
}

/** Shows results in the Dataset tab of the active panel (a new panel when none is open): replacing, or added to a timeline. */
export function showEvaluations(s: CommandServices, evaluations: AnyDatasetEvaluation[], mode: 'replace' | 'append'): void {
  const panel = s.panels.activePanel ?? s.panels.openGeneration();
  // A part of a split run (evaluate --shard) shows as the evaluation of its share: its per-image statistics are for
  // `varscope merge`, not for the view (nor the panel's saved state).
  const shown = evaluations.map(({ shard: _shard, ...e }) => e);
  panel.engineContext.emit('dataset', { evaluations: shown, mode }); // the panel switches to its Dataset tab
}

/** The result in the log, with every file it skipped and every consistency warning. */
export function logEvaluation(s: CommandServices, r: AnyDatasetEvaluation): void {
  s.log.info(evaluationLogLine(r));
  for (const f of r.failed) s.log.warn(`  skipped ${f.file}: ${f.message}`);
  for (const w of r.family === 'infinity' ? [] : (r.warnings ?? [])) s.log.warn(`  warning: ${w.message}`);
}
