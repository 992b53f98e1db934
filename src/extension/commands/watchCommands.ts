/**
 * Watch a Training Run: a run's folder is followed while it trains (src/client/runWatch.ts). Every whole version of a
 * checkpoint there (ar-ckpt-last.pth rewritten each epoch, new .pth / .safetensors files, bundle folders) is evaluated
 * on one folder of images (the last one evaluated, unless given) and added to the run's timeline in the Dataset tab;
 * the timeline persists in the run's folder, so the history is there after a restart.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { VarScopeError } from '../../shared/errors';
import { RunWatch, type RunWatchEvent } from '../../client/runWatch';
import { isCheckpointComplete } from '../../node/checkpoint';
import { runFamily, type Checkpoint } from '../../node/checkpointList';
import { labelsFit, pickFolder, pickTarget } from './datasetPickers';
import { evaluateWithProgress, logEvaluation, showEvaluations } from './evaluationRuns';
import type { CommandServices, FolderTarget, RunWatching } from './services';

/** How often a watched folder is looked at (ms). */
const WATCH_POLL_MS = 2000;
/** How long a checkpoint file must stay unchanged before it is read (ms): torch.save writes in place. */
const WATCH_SETTLE_MS = 1500;

/** `varscope.watchCheckpoints`: watch a folder of checkpoints (the argument, else a dialog); one watch at a time. */
export async function watchCheckpoints(s: CommandServices, dirArg?: unknown, folderArg?: unknown): Promise<void> {
  const dir = await pickFolder(dirArg, 'Watch This Folder');
  if (!dir) return;
  // The run's family (its first checkpoint's, else the current model's) says whether images take classes or captions.
  const family = (await runFamily(checkpointsNow(s, dir))) ?? s.engine.current.info?.family;
  const target =
    folderArg === undefined && s.session.lastFolder && labelsFit(s.session.lastFolder.labels, family)
      ? s.session.lastFolder
      : await pickTarget(s, folderArg, 'Evaluate New Checkpoints on This Folder', family);
  if (!target) return;
  s.session.watching?.dispose();
  const watcher = new CheckpointWatcher(s, dir, target);
  s.session.watching = watcher;
  await watcher.start();
}

/** The checkpoints in the run's folder now: none while it is not there yet (the trainer makes it). */
function checkpointsNow(s: CommandServices, dir: string): Checkpoint[] {
  try {
    return s.files.checkpoints(dir);
  } catch {
    return [];
  }
}

/** `varscope.stopWatching`. */
export function stopWatching(s: CommandServices): void {
  s.session.watching?.dispose();
  s.session.watching = undefined;
}

/** Follows one run folder (RunWatch) on a timer, one look at a time; the status bar shows the latest change. */
class CheckpointWatcher implements RunWatching {
  readonly said: string[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private busy = false;
  private readonly stop = new AbortController();
  private readonly watch: RunWatch;
  private readonly status = vscode.window.createStatusBarItem('varscope.watch', vscode.StatusBarAlignment.Left, 50);

  constructor(
    private readonly s: CommandServices,
    private readonly dir: string,
    target: FolderTarget,
  ) {
    this.watch = new RunWatch({
      runDir: dir,
      workDir: s.checkpoints.scratchDir(),
      settleMs: WATCH_SETTLE_MS,
      isComplete: isCheckpointComplete,
      makeBundle: (file, out, signal) => s.checkpoints.makeBundle(file, out, signal),
      evaluate: (model, name) => evaluateWithProgress(s, { model, ...target }, `VARScope: ${path.basename(dir)}: ${name}`),
      onEvent: (e) => this.onEvent(e),
    });
    this.status.name = 'VARScope training run';
    this.status.command = 'varscope.stopWatching';
    this.status.tooltip = `Watching ${dir} (click to stop)`;
  }

  /** The run's history (its timeline file) first, then a look every WATCH_POLL_MS. */
  async start(): Promise<void> {
    const history = this.watch.history();
    if (history.length) showEvaluations(this.s, history, 'replace');
    this.setStatus(history.length ? `${history.length} version${history.length === 1 ? '' : 's'} so far` : 'waiting for a checkpoint');
    this.status.show();
    await this.look();
    if (this.stop.signal.aborted) return; // stopped meanwhile
    this.s.log.info(`watching ${this.dir} (timeline: ${this.watch.timelinePath})`);
    this.timer = setInterval(() => void this.look(), WATCH_POLL_MS);
    this.tell('info', `VARScope: watching ${path.basename(this.dir)}; every new checkpoint is evaluated.`);
  }

  dispose(): void {
    this.stop.abort();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.status.dispose();
  }

  private async look(): Promise<void> {
    if (this.busy || this.stop.signal.aborted) return;
    this.busy = true;
    try {
      await this.watch.step(this.stop.signal);
    } catch (e) {
      this.s.log.warn(`watch: ${VarScopeError.toWire(e).message}`);
    } finally {
      this.busy = false;
    }
  }

  private onEvent(e: RunWatchEvent): void {
    if (e.kind === 'started') this.setStatus(`evaluating ${e.name}…`);
    else if (e.kind === 'same') this.s.log.info(`watch: ${e.version.file} holds the same weights as ${e.sameAs}`);
    else if (e.kind === 'failed') {
      this.s.log.warn(`watch: ${e.message}`);
      this.tell('warning', `VARScope: ${e.message}`);
    } else {
      logEvaluation(this.s, e.evaluation);
      this.s.log.info(
        `watch: ${e.headline} (bundle ${e.made.via} ${(e.made.ms / 1000).toFixed(1)} s, hash ${(e.hashMs / 1000).toFixed(1)} s, evaluation ${(e.evaluateMs / 1000).toFixed(1)} s)`,
      );
      showEvaluations(this.s, [e.evaluation], 'append');
      this.setStatus(e.headline);
      this.tell('info', `VARScope: ${e.headline}`);
    }
  }

  private tell(level: 'info' | 'warning', message: string): void {
    this.said.push(message);
    void (level === 'info' ? vscode.window.showInformationMessage(message) : vscode.window.showWarningMessage(message));
  }

  private setStatus(text: string): void {
    this.status.text = `$(eye) ${text}`;
  }
}
