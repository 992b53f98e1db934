/**
 * `varscope evaluate FOLDER`: a model over a folder of images (per-scale metrics and baselines), JSON and CSV
 * out; a progress line with the ETA on a terminal's stderr; Ctrl-C stops after the current batch and still
 * writes what was measured (marked cancelled).
 */
import type { ConsistencyWarning } from '../shared/consistency';
import type { AnyDatasetEvaluation, EvaluationProgress, LabelSource } from '../shared/evaluation';
import * as os from 'os';
import * as path from 'path';
import { freeRunningCsv, imagesCsv, scalesCsv, timelineCsv } from '../shared/evaluationCsv';
import { FREE_RUN_MODES, type FreeRunMode } from '../shared/evaluation';
import type { ModelInfo } from '../shared/results';
import type { ModelFamily } from '../shared/manifest';
import { VarScopeError } from '../shared/errors';
import { noUsableImagesError, someImagesFailed } from '../engine/engine';
import { writeOutput } from './outputPaths';
import { CheckpointBundler } from '../client/checkpointBundler';
import { evaluateCheckpointFile } from '../client/runWatch';
import { bundleCheckpoint, Checkpoint, listCheckpoints, sortCheckpoints } from '../node/checkpointList';
import type { EngineApi } from '../shared/engineApi';
import { orderByStep, shapeOfEvaluation, timelineMismatch } from '../shared/timeline';
import { timelineFile, type TimelineFile } from '../shared/timelineFile';
import { CommandSpec, num, ParsedArgs, UsageError } from './args';
import { stopGentlyWith } from './interrupt';
import { ProgressLine } from './progress';

/** Options of `evaluate` beyond the common ones. */
export const EVALUATE_OPTIONS: CommandSpec['options'] = {
  class: { help: 'class of every image (the null class id = no class); default: no class' },
  csv: { help: 'also write one row per scale as CSV here' },
  'images-csv': { help: 'also write one row per image as CSV here' },
  batch: {
    help: 'images per batch; each image holds memory while it is scored (its logits, attention and every scale decoded: ~25 MB for a model of 680 tokens); a batch that would not fit in the memory available is refused',
    default: '8',
  },
  limit: { help: 'only the first N images (sorted order)' },
  captions: {
    help: 'Infinity: a JSONL of captions, one line per image: {"file": ..., "caption": ... or "features": ...} (paths relative to it); default: beside each image, NAME.npy / NAME.safetensors (its T5 features) or NAME.txt (its prompt)',
  },
};

/** `evaluate --shard`: one machine's share of a split evaluation (README, Evaluation across machines). */
export const SHARD_OPTION: CommandSpec['options'] = {
  shard: {
    help: 'K/N: only shard K (0 … N-1) of N, an image by the sha256 of its path in the folder (after --limit); writes what `varscope merge` needs beside the result',
  },
};

/** `evaluate --free-running`: the model continues each image from every prefix of its own tokens (README, Dataset view). */
export const FREE_RUNNING_OPTIONS: CommandSpec['options'] = {
  'free-running-modes': {
    help: `with --free-running: comma-separated, some of ${FREE_RUN_MODES.join(', ')} (sampled: the model's sampling settings, seed 0; greedy: the most probable code)`,
    default: FREE_RUN_MODES.join(','),
  },
  'free-running-csv': { help: 'with --free-running: also write one row per mode, prefix and later scale as CSV here' },
};

/** `evaluate --free-running`. */
export const FREE_RUNNING_SWITCH: CommandSpec['switches'] = {
  'free-running':
    'also let the model continue each image from every prefix of its own tokens (K-1 generations per image and mode) and measure where it departs from them',
};

/** --free-running-modes, checked (undefined without --free-running). */
function freeRunningOf(args: ParsedArgs): { modes: FreeRunMode[] } | undefined {
  if (!args.switches.has('free-running')) {
    if (args.options['free-running-csv'] !== undefined) throw new UsageError('--free-running-csv needs --free-running', false);
    return undefined;
  }
  const modes = (args.options['free-running-modes'] ?? FREE_RUN_MODES.join(','))
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  const bad = modes.find((x) => !(FREE_RUN_MODES as readonly string[]).includes(x));
  if (bad !== undefined || !modes.length)
    throw new UsageError(
      `--free-running-modes must be some of ${FREE_RUN_MODES.join(', ')}, comma-separated; got ${JSON.stringify(bad ?? '')}`,
      false,
    );
  return { modes: modes as FreeRunMode[] };
}

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

/** The labels the flags ask for: a VAR model's classes, an Infinity model's captions. */
export function labelsOf(args: ParsedArgs, family: ModelFamily = 'var'): LabelSource {
  const fromSubfolders = args.switches.has('labels-from-subfolders');
  if (family === 'infinity') {
    if (fromSubfolders || args.options.class !== undefined)
      throw new UsageError(
        `--${fromSubfolders ? 'labels-from-subfolders' : 'class'} is for VAR models: an Infinity model's images are labelled with captions (--captions FILE.jsonl, or files beside them)`,
        false,
      );
    return args.options.captions === undefined ? { kind: 'captions' } : { kind: 'captions', jsonl: args.options.captions };
  }
  if (args.options.captions !== undefined) throw new UsageError('--captions is for Infinity models: a VAR model takes classes', false);
  if (fromSubfolders && args.options.class !== undefined) throw new UsageError('--class and --labels-from-subfolders exclude each other');
  return fromSubfolders
    ? { kind: 'subfolders' }
    : args.options.class !== undefined
      ? { kind: 'class', classId: num(args, 'class', { int: true, min: 0 }) }
      : { kind: 'none' };
}

/** --shard K/N, checked. */
function shardOf(args: ParsedArgs): { index: number; count: number } | undefined {
  const s = args.options.shard;
  if (s === undefined) return undefined;
  const m = /^(\d+)\/(\d+)$/.exec(s.trim());
  if (!m) throw new UsageError(`--shard must be K/N (shard K of N, counted from 0), got ${JSON.stringify(s)}`, false);
  const [index, count] = [Number(m[1]), Number(m[2])];
  if (count < 1 || index >= count) throw new UsageError(`--shard ${s}: K must be 0 … N-1 (shard K of N, counted from 0)`, false);
  return { index, count };
}

/** What `evaluate --json` writes: the provider that ran, the number of unreadable images when there are any, the result. */
export function evaluationJson(provider: string, r: AnyDatasetEvaluation): Record<string, unknown> {
  // A partial result says so at the top (and on stderr); a complete one is as it always was.
  return { provider, ...(r.failed.length ? { imagesFailed: r.failed.length } : {}), ...r };
}

/**
 * Memory one image of a batch holds while it is scored, in bytes: its logits [L, V], the decoded image of every
 * scale [SN, 3, S, S], the transformer's attention scores and probabilities [H, L, L] and activations [L, D], all
 * float32. The fixture model (256 px, L 680): 23 MB; its engine measured 545 MB at batch 2, 1083 MB at batch 32
 * (18 MB an image), and 7.25 GB at batch 256.
 */
export function batchImageBytes(
  m: Pick<ModelInfo, 'tokenCount' | 'vocabSize' | 'patchNums' | 'imageSize' | 'numHeads' | 'embedDim'>,
): number {
  const L = m.tokenCount;
  const S = m.imageSize;
  return 4 * (L * m.vocabSize + m.patchNums.length * 3 * S * S + 3 * m.numHeads * L * L + 8 * L * m.embedDim);
}

/**
 * Why a batch is refused, or undefined: a batch whose images would not fit in the memory available now is refused
 * before it runs, naming the largest that fits. A batch's memory grows with it (7.25 GB at --batch 256 on the
 * fixture model), and one that does not fit ends in swapping or the kernel's OOM killer, not in an error; results
 * do not depend on the batch, so a smaller one only takes a little longer.
 */
export function batchMemoryProblem(batch: number, info: ModelInfo, available = os.freemem()): string | undefined {
  const each = batchImageBytes(info);
  if (batch <= 1 || batch * each <= available) return undefined;
  const fits = Math.max(1, Math.floor(available / each));
  const gb = (b: number) => `${(b / 1e9).toFixed(1)} GB`;
  return `--batch ${batch} needs about ${gb(batch * each)} for ${info.name} (${Math.round(each / 1e6)} MB an image), more than the ${gb(available)} of memory available; use --batch ${fits} or less`;
}

/** Run `evaluate`; returns the result (written by the caller as JSON). */
export async function runEvaluate(args: ParsedArgs, engine: EngineApi, model: string, resizeRatio: number): Promise<AnyDatasetEvaluation> {
  const r = await evaluateWithSignals(args, engine, model, resizeRatio, 'evaluate');
  if (args.options.csv) await writeOutput(args.options.csv, scalesCsv(r));
  if (args.options['images-csv']) await writeOutput(args.options['images-csv'], imagesCsv(r));
  if (args.options['free-running-csv'] && r.family !== 'infinity') await writeOutput(args.options['free-running-csv'], freeRunningCsv(r));
  return r;
}

/**
 * One evaluation with Ctrl-C as cancel. Images that failed (unreadable, gone while the run went on) are reported
 * on stderr as `stats` reports them; none usable at all is an error.
 */
async function evaluateWithSignals(
  args: ParsedArgs,
  engine: EngineApi,
  model: string,
  resizeRatio: number,
  who: string,
): Promise<AnyDatasetEvaluation> {
  const folder = args.positionals[0];
  const limit = args.options.limit !== undefined ? num(args, 'limit', { int: true, min: 1 }) : undefined;
  const batch = num(args, 'batch', { int: true, min: 1, max: 256 });
  const shard = shardOf(args);
  const freeRunning = freeRunningOf(args);
  const runId = `cli-evaluate-${process.pid}`;
  const info = await engine.openModel({ model }); // first: the watchdog then knows how long one of its runs may take
  const labels = labelsOf(args, info.family);
  if (info.family === 'infinity') {
    if (freeRunning) throw new UsageError('--free-running is for VAR models (Infinity: teacher-forced bits only)', false);
  } else {
    const tooLarge = batchMemoryProblem(batch, info);
    if (tooLarge) throw new UsageError(tooLarge, false);
  }
  stopGentlyWith(() => {
    progressLine.done();
    process.stderr.write('varscope evaluate: stopping after this batch (Ctrl-C again to quit now)\n');
    void engine.cancel({ runId });
  });
  let r: AnyDatasetEvaluation;
  try {
    r = await engine.evaluateFolder({ model, runId, folder, labels, resizeRatio, batch, limit, shard, freeRunning });
  } finally {
    stopGentlyWith(undefined);
  }
  // A shard may hold no image, or only unreadable ones (its part is still needed); the folder may not.
  const none = r.shard ? !r.shard.listing.images : !r.images;
  if (none && !r.cancelled) throw noUsableImagesError(folder, r.failed);
  reportOnStderr(r, who);
  return r;
}

/** What a result's reader should know at once, on stderr: the images that failed, the consistency warnings. */
export function reportOnStderr(r: AnyDatasetEvaluation, who: string): void {
  if (r.failed.length) process.stderr.write(`varscope ${who}: ${someImagesFailed(r.failed, r.images)}\n`);
  if (r.family !== 'infinity') warnOnStderr(r.warnings, who);
}

/** Consistency warnings on stderr, one line each. */
export function warnOnStderr(warnings: ConsistencyWarning[] | undefined, who: string): void {
  for (const w of warnings ?? []) process.stderr.write(`varscope ${who}: warning: ${w.message}\n`);
}

/** Options of `timeline` beyond those of `evaluate`. */
export const TIMELINE_OPTIONS: CommandSpec['options'] = {
  models: { help: 'comma-separated bundle folders (checkpoints of one run, of one family)' },
  checkpoints: { help: "a folder of checkpoints: bundles (sub-folders with varscope.json) and .pth files (VAR's or Infinity's ar-ckpt)" },
  vae: { help: 'the VQ-VAE (Infinity: BSQ VAE) checkpoint for .pth files that hold only the transformer' },
  python: {
    help: 'the Python (torch >= 1.13, onnx) that exports a .pth no template matches (every Infinity one); default: as export finds it',
  },
  ratios: {
    help: 'Infinity .pth files: the aspect ratios h/w (template ratios of the official table, e.g. 1.0,0.75) each is exported with a schedule for; an image takes the nearest; default 1.0',
  },
};

/** --ratios, checked (undefined when not given). */
export function ratiosOf(args: ParsedArgs): number[] | undefined {
  const text = args.options.ratios;
  if (text === undefined) return undefined;
  const ratios = text.split(',').map((r) => Number(r.trim()));
  if (ratios.some((r) => !(r > 0)))
    throw new UsageError(`--ratios must be h/w numbers separated by commas (e.g. 1.0,0.75), got ${JSON.stringify(text)}`, false);
  return ratios;
}

/**
 * `varscope timeline FOLDER`: every checkpoint evaluated on the folder, ordered by training step. Its checkpoints are of
 * one family (Infinity's: of one bit width and schedule), refused in one line otherwise: bundles before anything
 * runs, PyTorch checkpoints once each is evaluated.
 */
export async function runTimeline(args: ParsedArgs, engine: EngineApi, resizeRatio: number, packageRoot: string): Promise<TimelineFile> {
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
  const ratios = ratiosOf(args);
  const refuse = (why: string | undefined) => {
    if (why) throw new VarScopeError('BadRequest', why);
  };
  refuse(timelineMismatch(list.flatMap((c) => (c.kind === 'bundle' ? [c.shape] : []))));
  const evaluations: AnyDatasetEvaluation[] = [];
  const bundler = list.some((c) => c.kind === 'needsExport') ? CheckpointBundler.forCli(packageRoot, args.options.python) : undefined;
  for (const c of sortCheckpoints(list)) {
    let r: AnyDatasetEvaluation;
    if (c.kind === 'bundle') r = await evaluateWithSignals(args, engine, c.dir, resizeRatio, `timeline (${path.basename(c.dir)})`);
    else {
      // A PyTorch checkpoint: its bundle lives while it is evaluated (VAR: from its template when one fits: no Python).
      const name = path.basename(c.file);
      const { evaluation, made } = await evaluateCheckpointFile(
        c.file,
        bundler!.workDir(),
        (out) => bundler!.make({ vae: args.options.vae ?? c.file, var: c.file }, out, { id: name, name, ratios }),
        (model) => evaluateWithSignals(args, engine, model, resizeRatio, `timeline (${name})`),
      );
      warnOnStderr(made.warnings, `timeline (${name})`);
      r = { ...evaluation, model: { ...evaluation.model, step: made.step ?? made.epoch ?? c.step } };
    }
    refuse(timelineMismatch([...evaluations, r].map(shapeOfEvaluation)));
    evaluations.push(r);
    if (r.cancelled) break;
  }
  const ordered = orderByStep(evaluations);
  if (args.options.csv) await writeOutput(args.options.csv, timelineCsv(ordered));
  return timelineFile(ordered);
}
