/**
 * The checkpoint commands: open a PyTorch or safetensors checkpoint in the inspector (under a cancellable progress
 * notification whose stages the result lists), and clear the cache of exported bundles.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import type { OpenedCheckpoint } from '../checkpointOpener';
import { CHECKPOINT_EXTENSIONS } from '../checkpointNames';
import { StageProgress } from '../exportProgress';
import { formatBytes } from '../formatBytes';
import type { CommandServices } from './services';

/** What `varscope.openCheckpoint` returns (the integration tests read it). */
export interface OpenCheckpointResult extends OpenedCheckpoint {
  /** The progress messages shown, in order. */
  stages: string[];
}

/** `varscope.openCheckpoint`: `uri` from the Explorer, else a file picker. */
export async function openCheckpoint(s: CommandServices, uri?: vscode.Uri): Promise<OpenCheckpointResult | undefined> {
  let file = uri instanceof vscode.Uri ? uri.fsPath : undefined;
  if (!file) {
    const picked = await vscode.window.showOpenDialog({
      canSelectMany: false,
      filters: { Checkpoints: CHECKPOINT_EXTENSIONS },
      openLabel: 'Open Checkpoint',
    });
    file = picked?.[0]?.fsPath;
  }
  if (!file) return undefined;
  const chosen = file;
  const stages: string[] = [];
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `VARScope: ${path.basename(chosen)}`, cancellable: true },
    async (progress, token) => {
      const abort = new AbortController();
      const sub = token.onCancellationRequested(() => abort.abort());
      const bar = new StageProgress();
      const stage = (message: string, upTo?: number) => {
        stages.push(message);
        s.log.info(`open checkpoint: ${message}`);
        progress.report({ message, increment: bar.advance(upTo) });
      };
      try {
        return await s.checkpoints.open(chosen, stage, abort.signal);
      } finally {
        sub.dispose();
      }
    },
  );
  return { ...result, stages };
}

/** `varscope.clearCheckpointCache`: frees everything but the bundle in use, and says how much. */
export function clearCheckpointCache(s: CommandServices): { entries: number; bytes: number } {
  const { entries, bytes, keptInUse } = s.checkpoints.clearCache();
  const message = `VARScope: checkpoint cache cleared, ${entries} bundle${entries === 1 ? '' : 's'}, ${formatBytes(bytes)} freed${keptInUse ? ' (the model in use is kept)' : ''}.`;
  s.log.info(message);
  void vscode.window.showInformationMessage(message);
  return { entries, bytes };
}
