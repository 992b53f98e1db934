/**
 * Keeps track of the open inspector panels: which one is active (for commands such as Export View and
 * the `varscope.panelActive` context key), and tells all of them when the model changes.
 */
import * as vscode from 'vscode';
import type { PanelState } from '../shared/protocol';
import { InspectorPanel, type PanelDeps } from './inspectorPanel';

/** The custom editor's view type; generation panels use it too so one serializer restores them. */
export const INSPECTOR_VIEW_TYPE = 'varscope.inspector';

/** All open panels of the extension. */
export class PanelManager implements vscode.Disposable {
  private readonly panels = new Set<InspectorPanel>();
  private active: InspectorPanel | undefined;

  constructor(private readonly deps: PanelDeps) {}

  /** Wraps a webview panel VS Code created (custom editor or restored panel). */
  adopt(webviewPanel: vscode.WebviewPanel, imageUri: vscode.Uri | null, restored?: PanelState): InspectorPanel {
    const panel = new InspectorPanel(webviewPanel, imageUri, this.deps, restored);
    this.panels.add(panel);
    const track = () => {
      if (webviewPanel.active) this.setActive(panel);
      else if (this.active === panel) this.setActive(undefined);
    };
    const sub = webviewPanel.onDidChangeViewState(track);
    panel.onDidDispose(() => {
      sub.dispose();
      this.panels.delete(panel);
      if (this.active === panel) this.setActive(undefined);
    });
    track();
    return panel;
  }

  /** Opens a new panel without an image: the step-through generation view. */
  openGeneration(): InspectorPanel {
    const webviewPanel = vscode.window.createWebviewPanel(INSPECTOR_VIEW_TYPE, 'VARScope: Generate', vscode.ViewColumn.Active, {
      enableScripts: true,
      retainContextWhenHidden: true,
    });
    return this.adopt(webviewPanel, null, { imageUri: null, view: 'stepThrough' });
  }

  /** Opens an image in the inspector (its custom editor). */
  async openImage(uri: vscode.Uri): Promise<void> {
    await vscode.commands.executeCommand('vscode.openWith', uri, INSPECTOR_VIEW_TYPE);
  }

  /** The focused panel, or the last one opened. */
  get activePanel(): InspectorPanel | undefined {
    return this.active ?? [...this.panels].pop();
  }

  /** Every open panel. */
  get all(): InspectorPanel[] {
    return [...this.panels];
  }

  /** Every panel re-reads the model. */
  modelChanged(): void {
    for (const p of this.panels) p.modelChanged();
  }

  dispose(): void {
    for (const p of [...this.panels]) p.webviewPanel.dispose();
  }

  private setActive(panel: InspectorPanel | undefined): void {
    this.active = panel;
    void vscode.commands.executeCommand('setContext', 'varscope.panelActive', panel !== undefined);
  }
}
