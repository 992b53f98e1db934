/**
 * Every command of package.json's contributes.commands, in one table: its id and the body that runs it. Each body gets
 * the services and the command's arguments; a failure reaches the log and the user (ErrorReporter.guard).
 */
import * as vscode from 'vscode';
import type { ErrorReporter } from '../errorReporter';
import { clearCheckpointCache, openCheckpoint } from './checkpointCommands';
import { evaluateFolder, evaluateTimeline, openEvaluation, openImageWithModel } from './datasetCommands';
import { compareModels, exportView, generateImage, inspectImage } from './inspectCommands';
import { chooseModel, restartEngine, showLog } from './modelCommands';
import type { CommandServices } from './services';
import { stopWatching, watchCheckpoints } from './watchCommands';

/** A command's body: the services, then the arguments it was invoked with (from a menu, a keybinding or a test). */
type CommandBody = (s: CommandServices, ...args: never[]) => unknown;

/** The registration table: command id -> body. A new command is a row here, its body in its group's file, and package.json. */
const COMMANDS: Record<string, CommandBody> = {
  // the inspector (inspectCommands.ts)
  'varscope.inspectImage': inspectImage,
  'varscope.generateImage': generateImage,
  'varscope.exportView': exportView,
  'varscope.compareModels': compareModels,
  // the model (modelCommands.ts)
  'varscope.chooseModel': chooseModel,
  'varscope.restartEngine': restartEngine,
  'varscope.showLog': showLog,
  // checkpoints (checkpointCommands.ts)
  'varscope.openCheckpoint': openCheckpoint,
  'varscope.clearCheckpointCache': clearCheckpointCache,
  // the Dataset view (datasetCommands.ts)
  'varscope.evaluateFolder': evaluateFolder,
  'varscope.evaluateTimeline': evaluateTimeline,
  'varscope.openEvaluation': openEvaluation,
  'varscope.openImageWithModel': openImageWithModel,
  // watch mode (watchCommands.ts)
  'varscope.watchCheckpoints': watchCheckpoints,
  'varscope.stopWatching': stopWatching,
};

/** What the registration needs: the services (the session included: the test hooks read it too) and where failures go. */
export type CommandDeps = CommandServices & { errors: ErrorReporter };

/** Registers every command; returns their disposables and the session's. */
export function registerCommands({ errors, ...s }: CommandDeps): vscode.Disposable[] {
  const session = s.session;
  return [
    ...Object.entries(COMMANDS).map(([id, body]) =>
      vscode.commands.registerCommand(
        id,
        errors.guard(id, (...args: never[]) => body(s, ...args)),
      ),
    ),
    session,
  ];
}
