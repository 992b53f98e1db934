/**
 * What the commands are given: the extension's services, and the session the registration owns (what the commands
 * remember between runs). A command file imports `vscode`, src/shared and these types, nothing else of the extension.
 */
import type * as vscode from 'vscode';
import type { LabelSource } from '../../shared/evaluation';
import type { CheckpointOpener } from '../checkpointOpener';
import type { DatasetFiles } from '../datasetFiles';
import type { EngineHost } from '../engineHost';
import type { ModelCatalog } from '../modelCatalog';
import type { PanelManager } from '../panelManager';
import type { TestStandIns } from '../testHooks';

/** The services every command body receives. */
export interface CommandServices {
  log: vscode.LogOutputChannel;
  catalog: ModelCatalog;
  engine: EngineHost;
  panels: PanelManager;
  checkpoints: CheckpointOpener;
  files: DatasetFiles;
  /** Set while the integration suite runs: what it gets instead of quick picks and dialogs. */
  standIns: TestStandIns | undefined;
  session: CommandSession;
}

/** A folder of images evaluated, and where its labels come from. */
export interface FolderTarget {
  folder: string;
  labels: LabelSource;
}

/** A training run being followed: what it has told the user so far (notifications and warnings, in order). */
export interface RunWatching extends vscode.Disposable {
  readonly said: readonly string[];
}

/** What the commands remember between runs; the registration creates it and disposes it. */
export class CommandSession implements vscode.Disposable {
  /** The last folder evaluated: the timeline and watch mode evaluate new checkpoints on it. */
  lastFolder: FolderTarget | undefined;
  /** Watch mode's follower, while one runs. */
  watching: RunWatching | undefined;

  dispose(): void {
    this.watching?.dispose();
    this.watching = undefined;
  }
}
