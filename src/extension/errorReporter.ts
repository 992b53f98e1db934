/**
 * Where errors end up: full detail in the "VARScope" log, a short message with actions for the user,
 * silence on Cancelled (the user asked for it).
 */
import * as vscode from 'vscode';
import { VarScopeError } from '../shared/errors';

const SHOW_LOG = 'Show Log';
const OPEN_SETTINGS = 'Open Settings';
const RESTART_ENGINE = 'Restart Engine';

/** Logs and shows errors caught where a command or a request enters the extension. */
export class ErrorReporter {
  constructor(private readonly log: vscode.LogOutputChannel) {}

  /** Full detail to the log, a short notification to the user (not awaited), nothing on Cancelled. */
  report(e: unknown, context: string): void {
    const wire = VarScopeError.toWire(e);
    if (wire.code === 'Cancelled') {
      this.log.debug(`${context}: cancelled`);
      return;
    }
    this.log.error(`${context}: [${wire.code}] ${wire.message}${wire.detail ? `\n${wire.detail}` : ''}`);
    const settingsHelps = wire.code === 'ModelNotFound' || wire.code === 'ModelLoad';
    // A crashed engine (out of memory, say) restarts with the next request; the action also reopens the model now.
    const engineEnded = wire.code === 'EngineCrashed' || wire.code === 'OutOfMemory';
    const actions = settingsHelps ? [SHOW_LOG, OPEN_SETTINGS] : engineEnded ? [RESTART_ENGINE, SHOW_LOG] : [SHOW_LOG];
    void vscode.window.showErrorMessage(`VARScope: ${wire.message}`, ...actions).then((choice) => {
      if (choice === SHOW_LOG) this.log.show(true);
      else if (choice === OPEN_SETTINGS) void vscode.commands.executeCommand('workbench.action.openSettings', 'varscope');
      else if (choice === RESTART_ENGINE) void vscode.commands.executeCommand('varscope.restartEngine');
    });
  }

  /** Wraps a command handler so that anything it throws is reported, never lost. */
  guard<A extends unknown[], R>(context: string, fn: (...args: A) => Promise<R> | R): (...args: A) => Promise<R | undefined> {
    return async (...args: A) => {
      try {
        return await fn(...args);
      } catch (e) {
        this.report(e, context);
        return undefined;
      }
    };
  }
}
