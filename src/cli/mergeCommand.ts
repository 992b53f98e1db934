/**
 * `varscope merge PARTS...`: the parts of a split evaluation (`varscope evaluate --shard K/N`, K = 0 … N-1, on any
 * machines) as the result of one `varscope evaluate` over the whole folder, number for number; the same JSON and CSV.
 * No model is opened: every part carries its images' statistics (src/engine/dataset/shards.ts).
 */
import * as fs from 'fs';
import type { AnyDatasetEvaluation } from '../shared/evaluation';
import { freeRunningCsv, imagesCsv, scalesCsv } from '../shared/evaluationCsv';
import { parseEvaluationFile } from '../shared/evaluationFile';
import { VarScopeError } from '../shared/errors';
import { mergeParts, noUsableImagesError } from '../engine/engine';
import type { ParsedArgs } from './args';
import { evaluationJson, reportOnStderr } from './evaluateCommand';
import { writeOutput } from './outputPaths';

/** One part file: exactly one evaluation. */
function readPart(file: string): AnyDatasetEvaluation {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new VarScopeError('BadRequest', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const evaluations = parseEvaluationFile(text, file);
  if (evaluations.length !== 1)
    throw new VarScopeError('BadRequest', `${file} is a timeline of ${evaluations.length} evaluations, not a part`);
  return evaluations[0];
}

/** Run `merge`: writes the CSV files asked for and returns the JSON (as `evaluate` writes it). */
export async function runMerge(args: ParsedArgs): Promise<Record<string, unknown>> {
  const parts = args.positionals.map((file) => ({ name: file, evaluation: readPart(file) }));
  const r = mergeParts(parts);
  if (!r.images) throw noUsableImagesError(r.folder, r.failed);
  reportOnStderr(r, 'merge');
  if (args.options.csv) await writeOutput(args.options.csv, scalesCsv(r));
  if (args.options['images-csv']) await writeOutput(args.options['images-csv'], imagesCsv(r));
  if (args.options['free-running-csv'] && r.family !== 'infinity') await writeOutput(args.options['free-running-csv'], freeRunningCsv(r));
  return evaluationJson(parts[0].evaluation.shard!.settings.provider, r);
}
