/** Helpers shared by the integration tests: the extension's test-only state and polling. */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import type { EditRequest } from '../../../src/shared/protocol';

/** The extension id (publisher.name of package.json). */
export const EXTENSION_ID = 'varscope.varscope';

/** What `varscope.test.state` returns (src/extension/testHooks.ts). */
export interface HostState {
  panels: Array<{ imageName: string | null; ready: boolean; active: boolean; title: string }>;
  model: { dir: string | null; name: string | null; error: string | null; opened: boolean; provider: string | null };
  bundles: Array<{ name: string; dir: string }>;
  statusBarText: string;
  enginePid: number | null;
  watchSaid: string[] | null;
}

/** The extension's host-side state. */
export async function hostState(): Promise<HostState> {
  return (await vscode.commands.executeCommand('varscope.test.state')) as HostState;
}

/** The activated extension. */
export async function activeExtension(): Promise<vscode.Extension<unknown>> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  if (!ext) throw new Error(`${EXTENSION_ID} is not installed`);
  await ext.activate();
  return ext;
}

/** Polls `probe` until it returns a value other than undefined or `ms` pass; the last error explains a timeout. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 30000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** The bundle the tests load: the exported fixture bundle, else the embedded default, else a manifest written here. */
export function testBundle(extensionPath: string): string {
  const candidates = [path.join(extensionPath, 'out', 'bundles', 'official-var-A')];
  try {
    const spec = JSON.parse(fs.readFileSync(path.join(extensionPath, 'models', 'default.json'), 'utf8')) as Record<string, unknown>;
    const name = [spec.bundle, spec.folder, spec.dir, spec.path, spec.id].find((v) => typeof v === 'string') as string | undefined;
    if (name) candidates.push(path.resolve(extensionPath, 'models', name));
  } catch {
    // no default model yet
  }
  const found = candidates.find((d) => fs.existsSync(path.join(d, 'varscope.json')));
  if (found) return found;
  return manifestOnlyBundle('Manifest Only');
}

/** A folder holding only a varscope.json (name and id): enough for the picker, not for the engine. */
export function manifestOnlyBundle(namePrefix: string): string {
  // Its own parent folder, so a test can list "a folder of bundles" without scanning anything else.
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-manifest-'));
  const dir = path.join(parent, 'bundle');
  fs.mkdirSync(dir);
  const name = `${namePrefix} ${path.basename(parent)}`;
  fs.writeFileSync(
    path.join(dir, 'varscope.json'),
    JSON.stringify({ format: 'varscope-bundle', version: 1, id: path.basename(parent), name }),
  );
  return dir;
}

/** Closes every editor and waits until no VARScope panel is left (hidden panels keep their DOM alive). */
export async function closeAllPanels(): Promise<void> {
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  await waitFor('every panel closed', async () => ((await hostState()).panels.length === 0 ? true : undefined));
}

/**
 * Makes `modelDir` the workspace's model and opens `imagePath` in VARScope in a fresh panel (every other one
 * closed first); resolves with the host state once that model opened and the panel is ready.
 */
export async function openInFreshPanel(imagePath: string, modelDir: string): Promise<HostState> {
  await vscode.workspace.getConfiguration('varscope').update('model', modelDir, vscode.ConfigurationTarget.Workspace);
  await closeAllPanels();
  await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(imagePath), 'varscope.inspector');
  const imageName = path.basename(imagePath);
  return waitFor(
    `${path.basename(modelDir)} opened in the panel of ${imageName}`,
    async () => {
      const s = await hostState();
      return s.model.dir === modelDir && s.model.opened && s.panels.some((p) => p.imageName === imageName && p.ready) ? s : undefined;
    },
    120000,
  );
}

/** The `name` of a bundle's varscope.json, read independently of the extension. */
export function bundleName(dir: string): string {
  return (JSON.parse(fs.readFileSync(path.join(dir, 'varscope.json'), 'utf8')) as { name: string }).name;
}

/** The bundle folder that models/default.json names (the model the extension opens first), read independently of the extension. */
export function defaultBundle(extensionPath: string): string {
  const spec = JSON.parse(fs.readFileSync(path.join(extensionPath, 'models', 'default.json'), 'utf8')) as { id: string };
  return path.join(extensionPath, 'models', spec.id);
}

/**
 * Runs the `varscope` command line (bin/varscope.js -> dist/cli.js) in its own process and parses its JSON output:
 * the same engine code as the extension's, but another process and no VS Code, so the tests compare against it.
 */
export function varscopeCli(extensionPath: string, args: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    // In desktop VS Code process.execPath is Electron: ELECTRON_RUN_AS_NODE makes it a plain Node.
    const env = { ...process.env, ELECTRON_RUN_AS_NODE: '1' };
    execFile(
      process.execPath,
      [path.join(extensionPath, 'bin', 'varscope.js'), ...args, '--json', '-'],
      { env, maxBuffer: 64 * 1024 * 1024, timeout: 120000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`varscope ${args.join(' ')}: ${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as unknown);
      },
    );
  });
}

/** What `varscope.test.edit` returns (src/extension/testHooks.ts): the edited pyramid, tokens per scale. */
export interface HostEdit {
  tokens: number[][];
}

/** The engine's what-if edit of `imagePath` with the current model, asked outside any panel (test hook). */
export async function hostEdit(imagePath: string, request: EditRequest): Promise<HostEdit> {
  return (await vscode.commands.executeCommand('varscope.test.edit', imagePath, request)) as HostEdit;
}

/** The official-var-A fixture checkpoints: in $VARSCOPE_FIXTURES, else <repo>/../shared/fixtures (as every test layer). */
export function fixtureCheckpoints(extensionPath: string): string {
  const dir = path.join(process.env.VARSCOPE_FIXTURES ?? path.resolve(extensionPath, '..', 'shared', 'fixtures'), 'official-var-A');
  if (!['var.pth', 'vae.pth'].every((f) => fs.existsSync(path.join(dir, f))))
    throw new Error(
      `official-var-A fixture checkpoints not found in ${dir}; set VARSCOPE_FIXTURES to the folder that holds official-var-A`,
    );
  return dir;
}
