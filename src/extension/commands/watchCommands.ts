/**
 * Watch mode: the checkpoints in a folder are evaluated on one folder of images (the last one evaluated, unless given)
 * and drawn as a timeline; bundles that appear in the folder later are evaluated and added as they arrive.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { VarScopeError } from '../../shared/errors';
import type { Checkpoint } from '../datasetFiles';
import { bundlesOf, pickFolder, pickTarget } from './datasetPickers';
import { evaluateWithProgress, logEvaluation, showEvaluations } from './evaluationRuns';
import { newCheckpointMessage } from './evaluationText';
import type { CommandServices, FolderTarget } from './services';

/** How often a watched folder is listed for new checkpoints (ms). */
const WATCH_POLL_MS = 2000;

/** `varscope.watchCheckpoints`: watch a folder of checkpoints (the argument, else a dialog); one watch at a time. */
export async function watchCheckpoints(s: CommandServices, dirArg?: unknown, folderArg?: unknown): Promise<void> {
  const dir = await pickFolder(dirArg, 'Watch This Folder');
  if (!dir) return;
  const target =
    folderArg === undefined && s.session.lastFolder
      ? s.session.lastFolder
      : await pickTarget(s, folderArg, 'Evaluate New Checkpoints on This Folder');
  if (!target) return;
  s.session.watching?.dispose();
  const watcher = new CheckpointWatcher(s, dir, target);
  s.session.watching = watcher;
  await watcher.start();
}

/** `varscope.stopWatching`. */
export function stopWatching(s: CommandServices): void {
  s.session.watching?.dispose();
  s.session.watching = undefined;
}

/** Polls one folder for new bundles and evaluates each on the target folder. */
class CheckpointWatcher implements vscode.Disposable {
  private timer: ReturnType<typeof setInterval> | undefined;
  private seen = new Set<string>();
  private busy = false;
  private disposed = false;

  constructor(
    private readonly s: CommandServices,
    private readonly dir: string,
    private readonly target: FolderTarget,
  ) {}

  /** The checkpoints already there are the run so far: the timeline starts with them; then the polling. */
  async start(): Promise<void> {
    const existing = bundlesOf(this.s, this.s.files.checkpoints(this.dir));
    this.seen = new Set(existing);
    for (let i = 0; i < existing.length; i++) {
      const r = await evaluateWithProgress(
        this.s,
        { model: existing[i], ...this.target },
        `VARScope: checkpoint ${i + 1} of ${existing.length}`,
      );
      showEvaluations(this.s, [r], i === 0 ? 'replace' : 'append');
    }
    if (this.disposed) return; // stopped meanwhile
    this.s.log.info(`watching ${this.dir} for new checkpoints (evaluated on ${this.target.folder})`);
    this.timer = setInterval(() => void this.poll(), WATCH_POLL_MS);
    void vscode.window.showInformationMessage(`VARScope: watching ${path.basename(this.dir)} for new checkpoints.`);
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async poll(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      let list: Checkpoint[];
      try {
        list = this.s.files.checkpoints(this.dir);
      } catch {
        return; // a bundle being copied (half-written varscope.json): next time
      }
      for (const c of list) {
        if (c.kind !== 'bundle' || this.seen.has(c.dir)) continue;
        this.seen.add(c.dir);
        try {
          const r = await evaluateWithProgress(
            this.s,
            { model: c.dir, ...this.target },
            `VARScope: new checkpoint ${path.basename(c.dir)}`,
          );
          logEvaluation(this.s, r);
          showEvaluations(this.s, [r], 'append');
          void vscode.window.showInformationMessage(newCheckpointMessage(r, path.basename(c.dir)));
        } catch (e) {
          this.seen.delete(c.dir); // perhaps still being copied: try again at the next poll
          this.s.log.warn(`watch: ${c.dir}: ${VarScopeError.toWire(e).message}`);
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
