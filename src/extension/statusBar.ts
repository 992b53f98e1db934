/**
 * The status bar item: the model's name and the execution provider, with fallback reasons and where each graph's
 * nodes ran in the tooltip.
 */
import * as vscode from 'vscode';
import { describePlacement } from '../shared/nodePlacement';
import type { ModelStatus } from './modelStatus';

/** Shows which model and provider the inspector uses; clicking it opens the model picker. */
export class ModelStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('varscope.model', vscode.StatusBarAlignment.Right, 100);

  constructor() {
    this.item.name = 'VARScope Model';
    this.item.command = 'varscope.chooseModel';
  }

  /** Redraws from the current model state. */
  update(status: ModelStatus): void {
    const name = status.info?.name ?? status.summary?.name ?? 'no model';
    const provider = status.info?.provider;
    this.item.text = `$(telescope) ${name}${provider ? ` · ${provider}` : ''}`;
    const tip = new vscode.MarkdownString(undefined, true);
    tip.appendMarkdown(`**VARScope model:** ${escapeMd(name)}\n\n`);
    if (status.dir) tip.appendMarkdown(`Folder: \`${status.dir}\`\n\n`);
    if (provider) tip.appendMarkdown(`Execution provider: **${provider}**\n\n`);
    for (const f of status.info?.providerFallbacks ?? []) tip.appendMarkdown(`- ${f.provider} skipped: ${escapeMd(f.reason)}\n`);
    const placed = Object.entries((status.info?.family === 'var' && status.info.nodePlacement) || {});
    if (provider && placed.length) {
      tip.appendMarkdown('\nNodes per provider (graphs that have run):\n\n');
      for (const [role, p] of placed) tip.appendMarkdown(`- ${role}: ${escapeMd(describePlacement(p, provider))}\n`);
    }
    if (!status.info && status.error) tip.appendMarkdown(`\n${escapeMd(status.error.message)}\n`);
    tip.appendMarkdown('\nClick to choose another model.');
    this.item.tooltip = tip;
    this.item.show();
  }

  /** The text shown, for tests. */
  get text(): string {
    return this.item.text;
  }

  dispose(): void {
    this.item.dispose();
  }
}

function escapeMd(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}
