/** The checkpoint commands: open a PyTorch or safetensors checkpoint in the inspector, clear the cache of exported bundles. */
import type * as vscode from 'vscode';
import type { CommandServices } from './services';

/** `varscope.openCheckpoint`: `uri` from the Explorer, else a file picker. */
export const openCheckpoint = (s: CommandServices, uri?: vscode.Uri) => s.checkpoints.open(uri);

/** `varscope.clearCheckpointCache`: frees everything but the bundle in use, and says how much. */
export const clearCheckpointCache = (s: CommandServices) => s.checkpoints.clearCache();
