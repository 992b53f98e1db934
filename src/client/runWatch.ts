/**
 * A training run followed while it trains (`varscope watch`, VARScope: Watch a Training Run…). Each whole version of a
 * checkpoint in the run's folder (RunFollower) becomes a bundle (from an architecture template when one matches, else
 * through the Python export), is evaluated on a folder of images, and joins the run's timeline at the epoch and iter
 * the checkpoint stores. The timeline is a file in the run's folder (`varscope-timeline.json`, a timeline file that
 * Open Evaluation reads), so a restart of the editor or of the CLI shows the history. Only metrics are kept: a
 * version's bundle is deleted once it is evaluated, so a run of 100 versions holds one bundle at most.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { ConsistencyWarning } from '../shared/consistency';
import type { AnyDatasetEvaluation } from '../shared/evaluation';
import { oneLine, VarScopeError } from '../shared/errors';
import { parseEvaluationFile } from '../shared/evaluationFile';
import { orderByStep, shapeOfEvaluation, timelineMismatch } from '../shared/timeline';
import { timelineFile } from '../shared/timelineFile';
import { writeFileAtomic } from '../node/atomicWrite';
import { FileChangedError } from '../node/checkpoint';
import { bundleCheckpoint } from '../node/checkpointList';
import { RunFollower, type CheckpointVersion } from '../node/runFollower';
import { sha256File } from '../node/sha256File';

/** The run's timeline, in the run's folder. */
export const RUN_TIMELINE = 'varscope-timeline.json';

/** What a made bundle says about the checkpoint it came from. */
export interface MadeBundle {
  /** Training position stored in the checkpoint (the official trainer's `epoch` and `iter`). */
  epoch?: number;
  iter?: number;
  /** The training step, when known otherwise (a bundle's provenance; an Infinity trainer's global iteration). */
  step?: number;
  /** 'template' when no Python ran; 'bundle' when the version already was a bundle. */
  via: 'template' | 'python' | 'bundle';
  /** Milliseconds spent: reading the checkpoint and writing the bundle. */
  ms: number;
  /** Where the checkpoint disagrees with the bundle made of it (its trainer's args, its paired VQ-VAE). */
  warnings?: ConsistencyWarning[];
}

/** Writes the bundle of checkpoint `file` at `out`; `signal` cancels. */
export type BundleMaker = (file: string, out: string, signal: AbortSignal) => Promise<MadeBundle>;

/** What happened to one version. */
export type RunWatchEvent =
  | { kind: 'started'; version: CheckpointVersion; name: string }
  | { kind: 'evaluated'; evaluation: AnyDatasetEvaluation; headline: string; made: MadeBundle; hashMs: number; evaluateMs: number }
  | { kind: 'same'; version: CheckpointVersion; sameAs: string }
  | { kind: 'failed'; version: CheckpointVersion; message: string };

export interface RunWatchOptions {
  runDir: string;
  /** Evaluates a bundle on the run's images (`name` says which version, for progress). */
  evaluate: (model: string, name: string) => Promise<AnyDatasetEvaluation>;
  makeBundle: BundleMaker;
  /** A folder of the watch's own for the bundle being evaluated (emptied as it goes). */
  workDir: string;
  /** How long a file must stay unchanged before it is read (ms). */
  settleMs: number;
  isComplete: (file: string) => Promise<boolean>;
  onEvent: (e: RunWatchEvent) => void;
}

/** Errors that mean "the file changed under the read": the version is looked at again, not reported. */
const CHANGED_WHILE_READ = /changed while|truncated|cut short|incomplete|end of (central directory|file)/i;

/** Follows one run; its owner calls `step()` on a timer, one at a time. */
export class RunWatch {
  readonly timelinePath: string;
  private readonly follower: RunFollower;
  private readonly evaluations: AnyDatasetEvaluation[];

  constructor(private readonly o: RunWatchOptions) {
    this.timelinePath = path.join(o.runDir, RUN_TIMELINE);
    this.follower = new RunFollower(o.runDir, { settleMs: o.settleMs, isComplete: o.isComplete });
    this.evaluations = readTimeline(this.timelinePath);
  }

  /** The run's evaluations so far (those of earlier sessions first), ordered by training position. */
  history(): AnyDatasetEvaluation[] {
    return orderByStep(this.evaluations);
  }

  /** One look at the folder; every new whole version is evaluated, in turn. */
  async step(signal: AbortSignal): Promise<void> {
    for (const version of await this.follower.poll()) {
      if (signal.aborted) return;
      await this.process(version, signal);
    }
  }

  private async process(version: CheckpointVersion, signal: AbortSignal): Promise<void> {
    const name = path.basename(version.file);
    try {
      const t0 = Date.now();
      const bundle = version.kind === 'bundle';
      const sha256 = await sha256File(bundle ? path.join(version.file, 'varscope.json') : version.file, signal);
      const hashMs = Date.now() - t0;
      const seen = this.evaluations.find((e) => e.model.checkpoint?.sha256 === sha256);
      if (seen) {
        this.o.onEvent({ kind: 'same', version, sameAs: seen.model.name });
        return;
      }
      this.o.onEvent({ kind: 'started', version, name });
      const {
        evaluation: e,
        made,
        evaluateMs,
      } = bundle
        ? await evaluateBundleVersion(version.file, (model) => this.o.evaluate(model, name))
        : await evaluateCheckpointFile(
            version.file,
            this.o.workDir,
            (out) => this.o.makeBundle(version.file, out, signal),
            (model) => this.o.evaluate(model, name),
          );
      if (e.cancelled) return;
      // A version of another family, bit width or schedule than the run's timeline is said, not added to it.
      const mismatch = this.evaluations.length ? timelineMismatch([shapeOfEvaluation(this.history()[0]), shapeOfEvaluation(e)]) : undefined;
      if (mismatch) {
        this.o.onEvent({ kind: 'failed', version, message: mismatch }); // it names the version
        return;
      }
      const evaluation: AnyDatasetEvaluation = {
        ...e,
        model: {
          ...e.model,
          id: `${e.model.id}-${sha256.slice(0, 8)}`,
          checkpoint: {
            file: version.file,
            sha256,
            size: version.stamp.size,
            mtimeMs: version.stamp.mtimeMs,
            epoch: made.epoch,
            iter: made.iter,
          },
        },
      };
      const previous = this.history()
        .filter((e) => (e.model.step ?? -Infinity) <= (evaluation.model.step ?? Infinity))
        .pop();
      this.evaluations.push(evaluation);
      await writeFileAtomic(this.timelinePath, JSON.stringify(timelineFile(this.history()), null, 1) + '\n');
      this.o.onEvent({ kind: 'evaluated', evaluation, headline: headline(evaluation, previous), made, hashMs, evaluateMs });
    } catch (e) {
      if (signal.aborted) return;
      const message = VarScopeError.toWire(e).message;
      if (e instanceof FileChangedError || CHANGED_WHILE_READ.test(message)) this.follower.retry(version);
      else this.o.onEvent({ kind: 'failed', version, message: `${name}: ${oneLine(message)}` });
    }
  }
}

/** An evaluation and how it was made. */
interface VersionEvaluation {
  evaluation: AnyDatasetEvaluation;
  made: MadeBundle;
  evaluateMs: number;
}

/**
 * A checkpoint file evaluated through a bundle that lives only while it is evaluated (in a fresh folder under
 * `workDir`, deleted whatever happens); the result names the file and its training position, and keeps the
 * consistency warnings of the checkpoint against its bundle beside those of the evaluation.
 */
export async function evaluateCheckpointFile(
  file: string,
  workDir: string,
  make: (out: string) => Promise<MadeBundle>,
  evaluate: (model: string) => Promise<AnyDatasetEvaluation>,
): Promise<VersionEvaluation> {
  fs.mkdirSync(workDir, { recursive: true });
  removeAbandonedBundles(workDir);
  const tmp = fs.mkdtempSync(path.join(workDir, `bundle-${process.pid}-`));
  try {
    const out = path.join(tmp, 'bundle');
    const made = await make(out);
    const t0 = Date.now();
    const r = await evaluate(out);
    const at = positionText(made);
    const name = at ? `${path.basename(file)} ${at}` : path.basename(file);
    const model = { ...r.model, name, dir: file, step: made.step ?? made.epoch ?? null };
    const warnings = [...(made.warnings ?? []), ...(r.family === 'infinity' ? [] : (r.warnings ?? []))];
    return {
      evaluation: r.family === 'infinity' ? { ...r, model } : { ...r, model, ...(warnings.length ? { warnings } : {}) },
      made,
      evaluateMs: Date.now() - t0,
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Removes the scratch bundles of processes that are gone (killed while evaluating, so their `finally` never ran):
 * each is named `bundle-<pid>-*` by the process that made it; one whose process no longer exists is abandoned.
 * Returns the folders removed.
 */
export function removeAbandonedBundles(workDir: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(workDir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const pid = /^bundle-(\d+)-/.exec(name)?.[1];
    if (pid === undefined || processExists(Number(pid))) continue;
    fs.rmSync(path.join(workDir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by another user
  }
}

/** A bundle folder of the run evaluated where it is, under its own name, at the step its manifest gives. */
async function evaluateBundleVersion(dir: string, evaluate: (model: string) => Promise<AnyDatasetEvaluation>): Promise<VersionEvaluation> {
  const c = bundleCheckpoint(dir);
  const made: MadeBundle = { step: c.step ?? undefined, via: 'bundle', ms: 0 };
  const t0 = Date.now();
  const r = await evaluate(c.kind === 'bundle' ? c.dir : dir); // its real path: a bundle may name graphs relative to it (../other/x.onnx)
  return {
    evaluation: { ...r, model: { ...r.model, step: made.step ?? null } },
    made,
    evaluateMs: Date.now() - t0,
  };
}

/** "epoch 12" / "epoch 12, iter 300" / "" from what the checkpoint stores. */
function positionText(m: { epoch?: number; iter?: number; step?: number }): string {
  if (m.epoch === undefined) return m.step !== undefined ? `step ${m.step}` : '';
  return m.iter ? `epoch ${m.epoch}, iter ${m.iter}` : `epoch ${m.epoch}`;
}

/**
 * The change a new version brings at the finest scale, in one line: "epoch 12: 16×16 accuracy 4.1 % (+0.3)"
 * (Infinity: "epoch 1, iter 200: 16×16 bit accuracy 81.2 % (+0.3), token accuracy 2.0 % (+0.1)").
 */
export function headline(e: AnyDatasetEvaluation, previous: AnyDatasetEvaluation | undefined): string {
  const pct = (x: number) => (x * 100).toFixed(1);
  const delta = (now: number, before: number | undefined) =>
    before === undefined ? '' : ` (${now >= before ? '+' : '−'}${Math.abs((now - before) * 100).toFixed(1)})`;
  const at = positionText(e.model.checkpoint ?? { step: e.model.step ?? undefined }) || e.model.name;
  if (e.family === 'infinity') {
    const k = e.scales.length - 1;
    const last = e.scales[k];
    const before = previous?.family === 'infinity' ? previous.scales[k] : undefined;
    const name = last.grid ? `${last.grid.h}×${last.grid.w}` : `scale ${k}`;
    return (
      `${at}: ${name} bit accuracy ${pct(last.bitAccuracy)} %${delta(last.bitAccuracy, before?.bitAccuracy)}, ` +
      `token accuracy ${pct(last.tokenAccuracy)} %${delta(last.tokenAccuracy, before?.tokenAccuracy)}`
    );
  }
  const last = e.scales[e.scales.length - 1];
  const before = previous?.family !== 'infinity' ? previous?.scales[previous.scales.length - 1] : undefined;
  return `${at}: ${last.pn}×${last.pn} accuracy ${pct(last.accuracy)} %${delta(last.accuracy, before?.accuracy)}`;
}

/** The evaluations of a run's timeline file; none when there is none yet. A broken file is an error, not lost. */
function readTimeline(file: string): AnyDatasetEvaluation[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new VarScopeError('BadRequest', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return parseEvaluationFile(text, file);
}
