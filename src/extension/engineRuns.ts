/**
 * The engine runs that commands start, not panels: several models on one image for the comparison view, one model
 * over a folder for the Dataset view. Each stops when its token is cancelled and reports progress as it goes.
 */
import type * as vscode from 'vscode';
import type { EngineClient } from '../client/engineClient';
import type { AnyDatasetEvaluation, EvaluationProgress, LabelSource } from '../shared/evaluation';
import { VarScopeError } from '../shared/errors';
import type { ComparedModel, HostEvents } from '../shared/protocol';
import { newRunId } from '../shared/runId';
import { varModelOf } from '../shared/modelFamily';

/**
 * Inspects `image` with each model of `dirs` and evaluates it teacher-forced with its own null class. Models run one
 * after the other (the engine keeps two open); `onModel` reports each one done, `token` stops between models.
 */
export async function compareOnImage(
  client: EngineClient,
  dirs: string[],
  image: vscode.Uri,
  token?: vscode.CancellationToken,
  onModel?: (done: number, total: number) => void,
): Promise<HostEvents['comparison']> {
  const source = { path: image.fsPath };
  const models: ComparedModel[] = [];
  for (const dir of dirs) {
    if (token?.isCancellationRequested) throw new VarScopeError('Cancelled', 'comparison cancelled');
    const model = varModelOf(await client.call('openModel', { model: dir }), 'Compare');
    const inspect = await client.call('inspect', { model: dir, image: source });
    const evaluation = await client.call('evaluate', { model: dir, image: source, classId: model.nullClass });
    models.push({ model, inspect, evaluation });
    onModel?.(models.length, dirs.length);
  }
  return { models };
}

/** The model at `p.model` over a folder; progress through `onProgress`, cancelled through `token`. */
export async function evaluateFolder(
  client: EngineClient,
  p: { model: string; folder: string; labels: LabelSource },
  token: vscode.CancellationToken,
  onProgress: (e: EvaluationProgress) => void,
): Promise<AnyDatasetEvaluation> {
  const runId = newRunId('evaluate');
  const off = client.on('evaluateFolder', (e) => e.runId === runId && onProgress(e));
  const sub = token.onCancellationRequested(() => void client.cancel(runId));
  try {
    return await client.call('evaluateFolder', { model: p.model, runId, folder: p.folder, labels: p.labels });
  } finally {
    sub.dispose();
    off();
  }
}
