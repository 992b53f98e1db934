/**
 * Brings panels back after a reload: VS Code hands over a fresh webview panel of the inspector's view type and the
 * state the webview saved; anything unreadable restores as a fresh generation panel.
 */
import * as vscode from 'vscode';
import { isPanelState } from './messageValidator';
import type { PanelManager } from './panelManager';

/** Restores panels created with createWebviewPanel (generation) from their webview state. */
export class InspectorPanelSerializer implements vscode.WebviewPanelSerializer {
  constructor(
    private readonly panels: PanelManager,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  async deserializeWebviewPanel(webviewPanel: vscode.WebviewPanel, state: unknown): Promise<void> {
    // The webview keeps its PanelState with setState; anything unreadable restores as a fresh generation panel.
    const restored = isPanelState(state) ? state : { imageUri: null };
    let image: vscode.Uri | null = null;
    if (restored.imageUri) {
      try {
        image = vscode.Uri.parse(restored.imageUri, true);
      } catch {
        this.log.warn(`restore: ignoring bad image URI ${restored.imageUri}`);
      }
    }
    this.panels.adopt(webviewPanel, image, restored);
  }
}
