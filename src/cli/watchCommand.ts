/**
 * `varscope watch RUN_DIR --images FOLDER`: a training run followed while it trains (src/client/runWatch.ts). Every
 * whole version of a checkpoint in RUN_DIR is made into a bundle (from an architecture template without Python when
 * one matches), evaluated on the images and added to RUN_DIR/varscope-timeline.json; one line per version on stderr;
 * Ctrl-C stops after the version in progress and writes the run's timeline as JSON.
 */
import type { EngineApi } from '../shared/engineApi';
import { timelineFile, type TimelineFile } from '../shared/timelineFile';
import { CheckpointBundler } from '../client/checkpointBundler';
import { RunWatch, type RunWatchEvent } from '../client/runWatch';
import { isCheckpointComplete } from '../node/checkpoint';
import { CommandSpec, num, ParsedArgs } from './args';
import { EVALUATE_OPTIONS, EVALUATE_SWITCHES, labelsOf, ratiosOf, TIMELINE_OPTIONS, warnOnStderr } from './evaluateCommand';
import { stopGentlyWith } from './interrupt';

/** Options of `watch` beyond the common ones. */
export const WATCH_OPTIONS: CommandSpec['options'] = {
  images: { help: 'the folder of images every version is evaluated on (recursive)', required: true },
  class: EVALUATE_OPTIONS.class,
  captions: EVALUATE_OPTIONS.captions,
  batch: EVALUATE_OPTIONS.batch,
  limit: EVALUATE_OPTIONS.limit,
  vae: {
    help: 'the VQ-VAE (Infinity: BSQ VAE) checkpoint, for runs whose files hold only the transformer (the official trainers store both)',
  },
  python: {
    help: 'the Python (torch >= 1.13, onnx) that exports a checkpoint no template matches (every Infinity one); default: as export finds it',
  },
  ratios: TIMELINE_OPTIONS.ratios,
  every: { help: 'seconds between looks at the folder', default: '2' },
  settle: { help: 'seconds a file must stay unchanged before it is read (torch.save writes in place)', default: '1.5' },
};

export const WATCH_SWITCHES: CommandSpec['switches'] = {
  ...EVALUATE_SWITCHES,
  once: 'look at the folder once: evaluate every whole version there now, then write the timeline and exit',
};

/** One line per version on stderr, then the checkpoint's consistency warnings. */
function report(e: RunWatchEvent): void {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const line =
    e.kind === 'started'
      ? `${e.name}: reading (${(e.version.stamp.size / 1e6).toFixed(1)} MB)`
      : e.kind === 'same'
        ? `${e.version.file}: the same weights as ${e.sameAs}, not evaluated again`
        : e.kind === 'failed'
          ? e.message
          : `${e.headline}  [bundle ${e.made.via} ${s(e.made.ms)}, hash ${s(e.hashMs)}, evaluation ${s(e.evaluateMs)}]`;
  process.stderr.write(`varscope watch: ${line}\n`);
  if (e.kind === 'evaluated') warnOnStderr(e.made.warnings, `watch (${e.evaluation.model.name})`);
}

/** Runs until Ctrl-C (or one look with --once); resolves with the run's whole timeline. */
export async function runWatchCommand(
  args: ParsedArgs,
  engine: EngineApi,
  resizeRatio: number,
  packageRoot: string,
): Promise<TimelineFile> {
  const runDir = args.positionals[0];
  // The flags checked now; each version is labelled as its family is (VAR: classes, Infinity: captions).
  labelsOf(args, args.options.captions === undefined ? 'var' : 'infinity');
  const batch = num(args, 'batch', { int: true, min: 1, max: 256 });
  const limit = args.options.limit !== undefined ? num(args, 'limit', { int: true, min: 1 }) : undefined;
  const everyMs = num(args, 'every', { min: 0.1, max: 3600 }) * 1000;
  const settleMs = num(args, 'settle', { min: 0, max: 3600 }) * 1000;
  const ratios = ratiosOf(args);
  const bundler = CheckpointBundler.forCli(packageRoot, args.options.python);
  const stop = new AbortController();
  let evaluations = 0;
  const watch = new RunWatch({
    runDir,
    workDir: bundler.workDir(),
    settleMs,
    isComplete: isCheckpointComplete,
    makeBundle: (file, out, signal) =>
      bundler.make({ vae: args.options.vae ?? file, var: file }, out, { signal, id: 'watched', name: 'watched checkpoint', ratios }),
    evaluate: async (model, name) => {
      const info = await engine.openModel({ model }); // first: the engine's watchdog then knows how long one of its runs may take
      return engine.evaluateFolder({
        model,
        runId: `watch-${process.pid}-${++evaluations}-${name}`,
        folder: args.options.images,
        labels: labelsOf(args, info.family),
        resizeRatio,
        batch,
        limit,
      });
    },
    onEvent: report,
  });
  const history = watch.history();
  process.stderr.write(
    `varscope watch: ${runDir}: ${history.length ? `${history.length} versions so far (${watch.timelinePath})` : 'no version evaluated yet'}\n`,
  );
  stopGentlyWith(() => {
    process.stderr.write('varscope watch: stopping after this version (Ctrl-C again to quit now)\n');
    stop.abort();
  });
  try {
    for (;;) {
      await watch.step(stop.signal);
      if (args.switches.has('once') || stop.signal.aborted) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, everyMs);
        stop.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
      if (stop.signal.aborted) break;
    }
  } finally {
    stopGentlyWith(undefined);
  }
  return timelineFile(watch.history());
}
