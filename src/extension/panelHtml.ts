/**
 * The inspector's HTML: a strict CSP with a per-load nonce, the webview bundle from dist/webview,
 * and a host-rendered fallback (image and model name, image preview, in #varscope-host-fallback) that
 * shows before the script runs, or instead of it when the bundle is missing or fails; the webview app
 * may remove it once it has mounted.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type * as vscode from 'vscode';

/** What the host knows when it writes the page. */
export interface PanelHtmlInput {
  webview: vscode.Webview;
  /** dist/webview of the extension. */
  webviewDist: vscode.Uri;
  imageName: string | null;
  /** Webview URI of the image, or null. */
  imageSrc: string | null;
  /** Model display name, or null when no model is available. */
  modelName: string | null;
  /** Why there is no model (shown in place of the name). */
  modelNote?: string;
}

/** A random nonce for script-src. */
export function makeNonce(): string {
  return crypto.randomBytes(18).toString('base64').replace(/[+/=]/g, '');
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** The Content-Security-Policy of the panel: nothing inline, scripts only with the nonce. */
export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource}`,
    `img-src ${cspSource} data: blob:`,
    `font-src ${cspSource}`,
  ].join('; ');
}

/** The complete page. */
export function panelHtml(input: PanelHtmlInput): string {
  const { webview, webviewDist } = input;
  const nonce = makeNonce();
  const distUri = (file: string) => webview.asWebviewUri(webviewDist.with({ path: `${webviewDist.path}/${file}` })).toString();
  const hasScript = fs.existsSync(path.join(webviewDist.fsPath, 'main.js'));
  const hasCss = fs.existsSync(path.join(webviewDist.fsPath, 'main.css'));
  const model = input.modelName
    ? `<span class="varscope-model-name" id="varscope-model-name">${escapeHtml(input.modelName)}</span>`
    : `<span class="varscope-model-name varscope-no-model" id="varscope-model-name">no model${input.modelNote ? ` (${escapeHtml(input.modelNote)})` : ''}</span>`;
  const image = input.imageName
    ? `<span class="varscope-image-name" id="varscope-image-name">${escapeHtml(input.imageName)}</span>`
    : `<span class="varscope-image-name" id="varscope-image-name">generation</span>`;
  const preview = input.imageSrc
    ? `<img class="varscope-preview" id="varscope-preview" alt="${escapeHtml(input.imageName ?? '')}" src="${escapeHtml(input.imageSrc)}">`
    : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy(webview.cspSource, nonce)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
${hasCss ? `<link rel="stylesheet" href="${distUri('main.css')}">` : ''}
<title>VARScope</title>
</head>
<body>
<div class="varscope-host-fallback" id="varscope-host-fallback">
<header class="varscope-host-header" id="varscope-host-header">${image} · ${model}</header>
${preview}
</div>
<div id="app"></div>
${hasScript ? `<script nonce="${nonce}" src="${distUri('main.js')}"></script>` : '<p class="varscope-no-script">The webview bundle (dist/webview/main.js) is not built.</p>'}
</body>
</html>`;
}
