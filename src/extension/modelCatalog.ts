/**
 * Finds model bundles (folders holding varscope.json) and decides which one a workspace uses:
 * the picker's choice (workspaceState), else the `varscope.model` setting, else the embedded default
 * named by models/default.json. Bundles inside an untrusted workspace need the user's consent.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { BundleManifest } from '../shared/manifest';
import { VarScopeError } from '../shared/errors';

/** What the picker and the status bar know about a bundle without loading it. */
export interface BundleSummary {
  id: string;
  name: string;
  /** Absolute folder holding varscope.json. */
  dir: string;
  description?: string;
}

const CHOICE_KEY = 'varscope.model';
const CONSENT_KEY = 'varscope.modelConsent';

/** Reads the name and id of a bundle; throws ModelNotFound / ModelLoad with a readable message. */
export function readBundleSummary(dir: string): BundleSummary {
  const file = path.join(dir, 'varscope.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new VarScopeError('ModelNotFound', `No model bundle at ${dir} (varscope.json missing)`, String(e));
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new VarScopeError('ModelLoad', `${file} is not valid JSON`, String(e));
  }
  // Own fields of the right type only: the engine checks the rest when it opens the bundle.
  const field = (k: keyof BundleManifest) =>
    parsed && typeof parsed === 'object' && !Array.isArray(parsed) && Object.hasOwn(parsed, k)
      ? (parsed as Record<string, unknown>)[k]
      : undefined;
  const [format, name, id, description] = [field('format'), field('name'), field('id'), field('description')];
  if (format !== 'varscope-bundle' || typeof name !== 'string') {
    throw new VarScopeError('ModelLoad', `${file} is not a VARScope bundle manifest (format/name missing)`);
  }
  return {
    id: typeof id === 'string' ? id : path.basename(dir),
    name,
    dir,
    description: typeof description === 'string' ? description : undefined,
  };
}

/** Bundles in `folder` itself or in its direct subfolders; unreadable ones are skipped. */
export function findBundles(folder: string): BundleSummary[] {
  const found: BundleSummary[] = [];
  const tryDir = (dir: string) => {
    try {
      found.push(readBundleSummary(dir));
    } catch {
      // not a bundle; the picker lists only what loads
    }
  };
  if (fs.existsSync(path.join(folder, 'varscope.json'))) {
    tryDir(folder);
    return found;
  }
  let entries: fs.Dirent[] = [];
  try {
    entries = fs.readdirSync(folder, { withFileTypes: true });
  } catch {
    return found;
  }
  for (const e of entries)
    if (e.isDirectory() && fs.existsSync(path.join(folder, e.name, 'varscope.json'))) tryDir(path.join(folder, e.name));
  return found;
}

/** The embedded default bundle folder named by models/default.json, or null when there is none yet. */
export function defaultBundleDir(extensionPath: string): string | null {
  const modelsDir = path.join(extensionPath, 'models');
  try {
    const spec = JSON.parse(fs.readFileSync(path.join(modelsDir, 'default.json'), 'utf8')) as Record<string, unknown>;
    // The file names the bundle folder; accept the key spellings a writer might reasonably use.
    const name = [spec.bundle, spec.folder, spec.dir, spec.path, spec.id].find((v) => typeof v === 'string') as string | undefined;
    if (!name) return null;
    const dir = path.resolve(modelsDir, name);
    return fs.existsSync(path.join(dir, 'varscope.json')) ? dir : null;
  } catch {
    return null;
  }
}

/** True when `dir` lies inside one of the open workspace folders. */
export function isInsideWorkspace(dir: string): boolean {
  const abs = path.resolve(dir);
  return (vscode.workspace.workspaceFolders ?? []).some((f) => {
    const rel = path.relative(f.uri.fsPath, abs);
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  });
}

/** Which bundle a workspace uses, and the picker's list. */
export class ModelCatalog {
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when the chosen model changes (picker or setting). */
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
    /** Folders of bundles the extension made itself (the checkpoint cache). */
    private readonly ownFolders: string[] = [],
  ) {
    context.subscriptions.push(
      this.changed,
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('varscope.model') || e.affectsConfiguration('varscope.modelFolders')) this.changed.fire();
      }),
    );
  }

  /** Every bundle in models/ of the extension, the checkpoint cache and the `varscope.modelFolders` setting. */
  listBundles(): BundleSummary[] {
    const folders = [path.join(this.context.extensionPath, 'models'), ...this.ownFolders, ...this.settingFolders()];
    const seen = new Set<string>();
    const out: BundleSummary[] = [];
    for (const folder of folders) {
      for (const b of findBundles(folder)) {
        if (!seen.has(b.dir)) {
          seen.add(b.dir);
          out.push(b);
        }
      }
    }
    return out;
  }

  /** The bundle folder to load, or null when no model exists ("no model" in the panel). */
  currentDir(): string | null {
    const chosen = this.context.workspaceState.get<string>(CHOICE_KEY);
    if (chosen) return chosen;
    // An untrusted workspace could point varscope.model anywhere: only the user's own value counts there.
    const config = vscode.workspace.getConfiguration('varscope');
    const setting = (
      vscode.workspace.isTrusted ? config.get<string>('model', '') : (config.inspect<string>('model')?.globalValue ?? '')
    ).trim();
    if (setting) return this.resolveSettingPath(setting);
    return defaultBundleDir(this.context.extensionPath);
  }

  /** Remembers the choice for this workspace (null: back to setting / default). */
  async choose(dir: string | null): Promise<void> {
    await this.context.workspaceState.update(CHOICE_KEY, dir ?? undefined);
    this.log.info(`model for this workspace: ${dir ?? '(setting or default)'}`);
    this.changed.fire();
  }

  /**
   * Throws ModelLoad unless the bundle may be loaded: bundles inside an untrusted workspace need consent,
   * asked once per folder when `ask` is set and remembered for the workspace.
   */
  async ensureAllowed(dir: string, ask: boolean): Promise<void> {
    if (vscode.workspace.isTrusted || !isInsideWorkspace(dir)) return;
    const consented = this.context.workspaceState.get<string[]>(CONSENT_KEY, []);
    if (consented.includes(dir)) return;
    if (ask) {
      const allow = 'Load Model';
      const choice = await vscode.window.showWarningMessage(
        `This workspace is not trusted. Load the model bundle at ${dir}? Model graphs run native code paths of onnxruntime.`,
        { modal: true },
        allow,
      );
      if (choice === allow) {
        await this.context.workspaceState.update(CONSENT_KEY, [...consented, dir]);
        return;
      }
    }
    throw new VarScopeError('ModelLoad', `Model bundle in an untrusted workspace was not loaded: ${dir}`);
  }

  private settingFolders(): string[] {
    const folders = vscode.workspace.getConfiguration('varscope').get<string[]>('modelFolders', []);
    return folders.filter((f) => typeof f === 'string' && f.trim()).map((f) => this.resolveSettingPath(f.trim()));
  }

  /** Relative setting paths are relative to the first workspace folder. */
  private resolveSettingPath(p: string): string {
    if (path.isAbsolute(p)) return p;
    const base = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? this.context.extensionPath;
    return path.resolve(base, p);
  }
}
