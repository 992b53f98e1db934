/**
 * Entry point: wires the log, model catalog, engine, panels, custom editor, serializer, commands
 * and status bar together. Activation reads only the model's manifest; the engine starts on demand.
 */
import * as vscode from 'vscode';
import { CheckpointOpener, checkpointCacheDir } from './checkpointOpener';
import { registerCommands } from './commands';
import { CommandSession } from './commands/services';
import { datasetFiles } from './datasetFiles';
import { EngineHost } from './engineHost';
import { ErrorReporter } from './errorReporter';
import { InspectorEditorProvider } from './inspectorEditorProvider';
import { InspectorPanelSerializer } from './inspectorPanelSerializer';
import { ModelCatalog } from './modelCatalog';
import { INSPECTOR_VIEW_TYPE, PanelManager } from './panelManager';
import { ModelStatusBar } from './statusBar';
import { registerTestHooks, testStandIns } from './testHooks';

/** Called by VS Code on the first activation event. */
export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = vscode.window.createOutputChannel('VARScope', { log: true });
  const errors = new ErrorReporter(log);
  const catalog = new ModelCatalog(context, log, [checkpointCacheDir(context)]);
  const engine = new EngineHost(context.extensionUri, log);
  const standIns = testStandIns();
  const panels = new PanelManager({ extensionUri: context.extensionUri, engine, log, exportDir: standIns?.exportDir });
  const statusBar = new ModelStatusBar();
  const session = new CommandSession();
  context.subscriptions.push(
    log,
    panels,
    statusBar,
    engine,
    engine.onDidChange((s) => statusBar.update(s)),
    engine.onDidReload(() => panels.modelChanged()),
  );

  const serializer = new InspectorPanelSerializer(panels, log);
  const reloadModel = async (): Promise<void> => {
    const dir = catalog.currentDir();
    try {
      if (dir) await catalog.ensureAllowed(dir, false);
      await engine.load(dir);
    } catch (e) {
      errors.report(e, 'loading the model');
      engine.unavailable(dir, e);
    }
  };

  context.subscriptions.push(
    vscode.window.registerCustomEditorProvider(INSPECTOR_VIEW_TYPE, new InspectorEditorProvider(panels), {
      webviewOptions: { retainContextWhenHidden: true },
      supportsMultipleEditorsPerDocument: true,
    }),
    vscode.window.registerWebviewPanelSerializer(INSPECTOR_VIEW_TYPE, serializer),
    ...registerCommands({
      log,
      errors,
      catalog,
      engine,
      panels,
      checkpoints: new CheckpointOpener({ context, log, catalog, engine, panels }),
      files: datasetFiles,
      standIns,
      session,
    }),
    ...registerTestHooks({
      panels,
      engine,
      catalog,
      statusBar,
      serializer,
      watchSaid: () => (session.watching ? [...session.watching.said] : null),
    }),
    catalog.onDidChange(() => void reloadModel()),
    vscode.workspace.onDidGrantWorkspaceTrust(() => void reloadModel()),
  );

  log.info(
    `VARScope ${context.extension.packageJSON.version} activated (${vscode.env.appName} ${vscode.version}, node ${process.version})`,
  );
  await reloadModel();
  await openRequestedImage(panels, log);
}

/** VARSCOPE_OPEN_IMAGE (set by `npm start`) names an image to open in the inspector once activated. */
async function openRequestedImage(panels: PanelManager, log: vscode.LogOutputChannel): Promise<void> {
  const file = process.env.VARSCOPE_OPEN_IMAGE;
  if (!file) return;
  try {
    await panels.openImage(vscode.Uri.file(file));
  } catch (e) {
    log.warn(`could not open ${file} on start: ${String(e)}`);
  }
}

/** Nothing to do: every resource is in context.subscriptions. */
export function deactivate(): void {}
