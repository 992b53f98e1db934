/**
 * What exists only while the integration suite runs the extension (VARSCOPE_TEST=1): commands that let it look at host
 * state (the webview DOM itself is read by the test harness through the browser), and stand-ins for the quick picks and
 * dialogs it cannot click. The one place that reads VARSCOPE_TEST.
 */
import * as vscode from 'vscode';
import type { LabelSource } from '../shared/evaluation';
import type { EditRequest } from '../shared/protocol';
import type { EngineHost } from './engineHost';
import type { InspectorPanelSerializer } from './inspectorPanelSerializer';
import type { ModelCatalog } from './modelCatalog';
import { INSPECTOR_VIEW_TYPE, type PanelManager } from './panelManager';
import type { ModelStatusBar } from './statusBar';

/** Whether the integration suite runs the extension. */
const TESTING = process.env.VARSCOPE_TEST === '1';

/** What the integration suite cannot click, and what it gets instead. */
export interface TestStandIns {
  /** Where an evaluated folder's labels come from, instead of the quick pick: its sub-folders when it has any. */
  labels(hasSubfolders: boolean): LabelSource;
  /** The folder a panel's export is written to, instead of the save dialog (VARSCOPE_TEST_EXPORT_DIR). */
  exportDir: string | undefined;
  /** No "Save Results…" notification after an evaluation: nobody would answer it. */
  offerSave: false;
}

/** The stand-ins under the integration suite; undefined otherwise (the real quick picks and dialogs). */
export function testStandIns(): TestStandIns | undefined {
  if (!TESTING) return undefined;
  return {
    labels: (hasSubfolders) => (hasSubfolders ? { kind: 'subfolders' } : { kind: 'none' }),
    exportDir: process.env.VARSCOPE_TEST_EXPORT_DIR,
    offerSave: false,
  };
}

/** Host-side view of the panels, returned by `varscope.test.state`. */
export interface TestState {
  panels: Array<{ imageName: string | null; ready: boolean; active: boolean; title: string }>;
  model: { dir: string | null; name: string | null; error: string | null; opened: boolean; provider: string | null };
  /** What the model picker would list. */
  bundles: Array<{ name: string; dir: string }>;
  statusBarText: string;
  enginePid: number | null;
  /** What the training run being watched has told the user, in order; null when none is watched. */
  watchSaid: string[] | null;
}

/** What `varscope.test.edit` returns: the edited pyramid, tokens per scale (all scales). */
export interface TestEdit {
  tokens: number[][];
}

/** What the test hooks look at. */
export interface TestHookDeps {
  panels: PanelManager;
  engine: EngineHost;
  catalog: ModelCatalog;
  statusBar: ModelStatusBar;
  serializer: InspectorPanelSerializer;
  /** What the training run being watched has told the user (commands/services.ts CommandSession). */
  watchSaid: () => string[] | null;
}

/** Registers the test-only commands when VARSCOPE_TEST=1; otherwise registers nothing. */
export function registerTestHooks({ panels, engine, catalog, statusBar, serializer, watchSaid }: TestHookDeps): vscode.Disposable[] {
  if (!TESTING) return [];
  return [
    // What VS Code does after a reload: a fresh panel of our view type handed to the serializer with the saved state.
    vscode.commands.registerCommand('varscope.test.restore', async (state: unknown) => {
      const panel = vscode.window.createWebviewPanel(INSPECTOR_VIEW_TYPE, 'VARScope', vscode.ViewColumn.Active, { enableScripts: true });
      await serializer.deserializeWebviewPanel(panel, state);
    }),
    vscode.commands.registerCommand('varscope.test.state', (): TestState => ({
      panels: panels.all.map((p) => ({
        imageName: p.imageName,
        ready: p.isReady,
        active: p.webviewPanel.active,
        title: p.webviewPanel.title,
      })),
      model: {
        dir: engine.current.dir,
        name: engine.current.info?.name ?? engine.current.summary?.name ?? null,
        error: engine.current.error?.message ?? null,
        opened: engine.current.info !== null,
        provider: engine.current.info?.provider ?? null,
      },
      bundles: catalog.listBundles().map((b) => ({ name: b.name, dir: b.dir })),
      statusBarText: statusBar.text,
      enginePid: engine.enginePid ?? null,
      watchSaid: watchSaid(),
    })),
    // Back to the setting or the default model (what the picker's last item does), so later tests are not pinned to a
    // model an earlier one chose (Open Checkpoint chooses the exported bundle).
    vscode.commands.registerCommand('varscope.test.resetModelChoice', () => catalog.choose(null)),
    // The engine's answer to a what-if edit of `imagePath` with the current model, asked outside any panel (a
    // context with no panel behind it), so a test can hold the panel's drawing against it.
    vscode.commands.registerCommand('varscope.test.edit', async (imagePath: string, request: EditRequest): Promise<TestEdit> => {
      const context = { imageUri: vscode.Uri.file(imagePath), state: { imageUri: null }, emit: () => undefined };
      const result = await engine.engineHandlers(context).edit(request);
      if (result.family === 'infinity') throw new Error('varscope.test.edit edits VAR pyramids');
      return { tokens: result.tokens.map((t) => Array.from(t)) };
    }),
  ];
}
