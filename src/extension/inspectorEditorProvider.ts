/**
 * Opens images in the inspector: a read-only custom editor (images are never modified), and a
 * serializer that brings generation panels back after a reload.
 */
import * as vscode from 'vscode';
import { isPanelState } from './messageValidator';
import type { PanelManager } from './panelManager';

/** The custom editor provider for viewType varscope.inspector. */
export class InspectorEditorProvider implements vscode.CustomReadonlyEditorProvider<vscode.CustomDocument> {
  constructor(private readonly panels: PanelManager) {}

  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => undefined };
  }

  resolveCustomEditor(document: vscode.CustomDocument, webviewPanel: vscode.WebviewPanel): void {
    this.panels.adopt(webviewPanel, document.uri);
  }
}

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
