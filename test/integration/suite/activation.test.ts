/** The extension activates in a real VS Code and registers every command package.json contributes. */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { bundleName, EXTENSION_ID, hostState } from './testUtil';

/** The bundle folder models/default.json names (its `id`), read here independently of the extension. */
function defaultBundleFromFile(extensionPath: string): string | null {
  const file = path.join(extensionPath, 'models', 'default.json');
  if (!fs.existsSync(file)) return null;
  const spec = JSON.parse(fs.readFileSync(file, 'utf8')) as { id?: string; bundle?: string };
  const dir = path.join(extensionPath, 'models', spec.bundle ?? spec.id ?? '');
  return fs.existsSync(path.join(dir, 'varscope.json')) ? dir : null;
}

suite('activation', () => {
  test('the extension is installed and activates', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is not installed`);
    await ext.activate();
    assert.strictEqual(ext.isActive, true);
  });

  test('every command in contributes.commands is registered', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    await ext.activate();
    const contributed = (ext.packageJSON.contributes.commands as Array<{ command: string }>).map((c) => c.command);
    assert.ok(contributed.length >= 8, `package.json lists ${contributed.length} commands`);
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = contributed.filter((c) => !registered.has(c));
    assert.deepStrictEqual(missing, [], `commands not registered: ${missing.join(', ')}`);
  });

  test('the custom editor is contributed for images with priority "option"', () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    const editors = ext.packageJSON.contributes.customEditors as Array<{
      viewType: string;
      priority: string;
      selector: Array<{ filenamePattern: string }>;
    }>;
    const inspector = editors.find((e) => e.viewType === 'varscope.inspector');
    assert.ok(inspector);
    assert.strictEqual(inspector.priority, 'option');
    assert.ok(inspector.selector.some((s) => s.filenamePattern === '*.png'));
  });

  test('with nothing chosen, the model is the embedded default named by models/default.json', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    await ext.activate();
    const state = await hostState();
    const defaultDir = defaultBundleFromFile(ext.extensionPath);
    if (defaultDir) {
      assert.strictEqual(state.model.dir, defaultDir);
      assert.strictEqual(state.model.name, bundleName(defaultDir));
      assert.ok(state.statusBarText.includes(bundleName(defaultDir)), state.statusBarText);
    } else {
      // No default model in this checkout: the extension says so instead of naming one.
      assert.strictEqual(state.model.dir, null);
      assert.ok((state.model.error ?? '').length > 0);
    }
  });
});
