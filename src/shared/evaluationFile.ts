/**
 * Saved evaluations: the JSON that `varscope evaluate --json`, `varscope timeline --json` and the Dataset view's export
 * write and Open Evaluation reads back, and the three files Save Results writes. Text in, text out: the caller does
 * the file I/O.
 */
import type { AnyDatasetEvaluation, DatasetEvaluation } from './evaluation';
import { freeRunningCsv, imagesCsv, scalesCsv } from './evaluationCsv';
import { VarScopeError } from './errors';
import { TIMELINE_FORMAT } from './timelineFile';

const EVALUATION_FORMAT: DatasetEvaluation['format'] = 'varscope-evaluation';

/** Whether `x` is one evaluation (of either family): its format, and the per-scale and per-image rows the Dataset view draws. */
export function isEvaluation(x: unknown): x is AnyDatasetEvaluation {
  const e = x as Partial<DatasetEvaluation> | null;
  return !!e && typeof e === 'object' && e.format === EVALUATION_FORMAT && Array.isArray(e.scales) && Array.isArray(e.perImage);
}

/**
 * The evaluations in a saved file's text: one evaluation, or a timeline file's non-empty list. BadRequest when the
 * text is not JSON or holds neither; `name` (the file's name) is for the message.
 */
export function parseEvaluationFile(text: string, name: string): AnyDatasetEvaluation[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new VarScopeError('BadRequest', `${name} is not a readable JSON file: ${(e as Error).message}`);
  }
  if (isEvaluation(data)) return [data];
  const file = data as { format?: unknown; evaluations?: unknown } | null;
  const list = file?.evaluations;
  if (file?.format === TIMELINE_FORMAT && Array.isArray(list) && list.length > 0 && list.every(isEvaluation)) return list;
  throw new VarScopeError('BadRequest', `${name} is not a VARScope evaluation (varscope evaluate --json, or a Dataset view export)`);
}

/**
 * What Save Results writes for `jsonFile`: FILE.json (reopened by Open Evaluation), FILE.csv per scale, FILE-images.csv
 * per image, and FILE-free-running.csv when the evaluation ran free.
 */
export function evaluationFiles(r: AnyDatasetEvaluation, jsonFile: string): Array<{ file: string; text: string }> {
  const base = jsonFile.replace(/\.json$/i, '');
  return [
    { file: `${base}.json`, text: JSON.stringify(r, null, 1) + '\n' },
    { file: `${base}.csv`, text: scalesCsv(r) },
    { file: `${base}-images.csv`, text: imagesCsv(r) },
    ...(r.family !== 'infinity' && r.freeRunning ? [{ file: `${base}-free-running.csv`, text: freeRunningCsv(r) }] : []),
  ];
}
