/**
 * `varscope evaluate FOLDER`: a model over a folder of images (per-scale metrics and baselines), JSON and CSV
 * out; a progress line with the ETA on a terminal's stderr; Ctrl-C stops after the current batch and still
 * writes what was measured (marked cancelled).
 */
import type { DatasetEvaluation, EvaluationProgress, LabelSource } from '../shared/evaluation';
import { imagesCsv, scalesCsv, timelineCsv } from '../shared/evaluationCsv';
import { writeOutput } from './outputPaths';
import { bundleCheckpoint, Checkpoint, listCheckpoints, sortCheckpoints } from '../engine/checkpointList';
import type { Engine } from '../engine/engine';
import { orderByStep } from '../shared/timeline';
import { timelineFile, type TimelineFile } from '../shared/timelineFile';
import { CommandSpec, num, ParsedArgs, UsageError } from './args';
import { ProgressLine } from './progress';

/** Options of `evaluate` beyond the common ones. */
export const EVALUATE_OPTIONS: CommandSpec['options'] = {
  class: { help: 'class of every image (the null class id = no class); default: no class' },
  csv: { help: 'also write one row per scale as CSV here' },
  'images-csv': { help: 'also write one row per image as CSV here' },
  batch: { help: 'images per batch', default: '8' },
  limit: { help: 'only the first N images (sorted order)' },
};

/** Switches of `evaluate`. */
export const EVALUATE_SWITCHES: CommandSpec['switches'] = {
  'labels-from-subfolders': 'ImageFolder layout: each sub-folder is a class (by class name, else index, else sorted order)',
};

/** Seconds as "1m05s". */
function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
}

const progressLine = new ProgressLine();

/** Shows an `evaluateFolder` progress event as the terminal's progress line (nothing when stderr is not a terminal). */
export function printProgress(p: EvaluationProgress): void {
  const rate = p.done / Math.max(1e-3, p.elapsedMs / 1000);
  if (p.finished) {
    progressLine.done();
    if (process.stderr.isTTY)
      process.stderr.write(
        `evaluate: ${p.done}/${p.total} images${p.failed ? ` (${p.failed} unreadable)` : ''} done in ${duration(p.elapsedMs / 1000)}\n`,
      );
    return;
  }
  progressLine.update(
    `evaluate: ${p.done}/${p.total} images${p.failed ? ` (${p.failed} unreadable)` : ''}, ${rate.toFixed(1)} img/s, ETA ${duration((p.total - p.done) / rate)}`,
  );
}

/** The labels the flags ask for. */
function labelsOf(args: ParsedArgs): LabelSource {
  const fromSubfolders = args.switches.has('labels-from-subfolders');
  if (fromSubfolders && args.options.class !== undefined) throw new UsageError('--class and --labels-from-subfolders exclude each other');
  return fromSubfolders
    ? { kind: 'subfolders' }
    : args.options.class !== undefined
      ? { kind: 'class', classId: num(args, 'class', { int: true, min: 0 }) }
      : { kind: 'none' };
}

/** Run `evaluate`; returns the result (written by the caller as JSON). */
export async function runEvaluate(args: ParsedArgs, engine: Engine, model: string, resizeRatio: number): Promise<DatasetEvaluation> {
  const r = await evaluateWithSignals(args, engine, model, resizeRatio);
  if (args.options.csv) await writeOutput(args.options.csv, scalesCsv(r));
  if (args.options['images-csv']) await writeOutput(args.options['images-csv'], imagesCsv(r));
  return r;
}

/** One evaluation with Ctrl-C as cancel. */
async function evaluateWithSignals(args: ParsedArgs, engine: Engine, model: string, resizeRatio: number): Promise<DatasetEvaluation> {
  const folder = args.positionals[0];
  const labels = labelsOf(args);
  const limit = args.options.limit !== undefined ? num(args, 'limit', { int: true, min: 1 }) : undefined;
  const batch = num(args, 'batch', { int: true, min: 1, max: 256 });
  const runId = `cli-evaluate-${process.pid}`;
  let cancels = 0;
  const onSigint = () => {
    if (++cancels > 1) process.exit(130);
    process.stderr.write('\nvarscope evaluate: stopping after this batch (Ctrl-C again to quit now)\n');
    void engine.cancel({ runId });
  };
  process.on('SIGINT', onSigint);
  try {
    return await engine.evaluateFolder({ model, runId, folder, labels, resizeRatio, batch, limit });
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** Options of `timeline` beyond those of `evaluate`. */
export const TIMELINE_OPTIONS: CommandSpec['options'] = {
  models: { help: 'comma-separated bundle folders (checkpoints of one run)' },
  checkpoints: { help: 'a folder of bundles (each sub-folder with varscope.json)' },
};

/** `varscope timeline FOLDER`: every checkpoint evaluated on the folder, ordered by training step. */
export async function runTimeline(args: ParsedArgs, engine: Engine, resizeRatio: number): Promise<TimelineFile> {
  const list: Checkpoint[] = [];
  if (args.options.models)
    list.push(
      ...args.options.models
        .split(',')
        .filter(Boolean)
        .map((d) => bundleCheckpoint(d)),
    );
  if (args.options.checkpoints) list.push(...listCheckpoints(args.options.checkpoints));
  if (!list.length) throw new UsageError('give --models DIR,DIR... or --checkpoints FOLDER');
  const evaluations: DatasetEvaluation[] = [];
  for (const c of sortCheckpoints(list)) {
    if (c.kind === 'needsExport') throw new UsageError(`${c.file} is a PyTorch checkpoint: export it to a bundle first (varscope export)`);
    const r = await evaluateWithSignals(args, engine, c.dir, resizeRatio);
    evaluations.push(r);
    if (r.cancelled) break;
  }
  const ordered = orderByStep(evaluations);
  if (args.options.csv) await writeOutput(args.options.csv, timelineCsv(ordered));
  return timelineFile(ordered);
}
