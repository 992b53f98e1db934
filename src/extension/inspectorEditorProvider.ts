/** Opens images in the inspector: a read-only custom editor (images are never modified). */
import type * as vscode from 'vscode';
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
