/** The extension activates in a real VS Code and registers every command package.json contributes. */
import * as assert from 'assert';
import * as vscode from 'vscode';

const EXTENSION_ID = 'varscope.varscope';

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
    const editors = ext.packageJSON.contributes.customEditors as Array<{ viewType: string; priority: string; selector: Array<{ filenamePattern: string }> }>;
    const inspector = editors.find((e) => e.viewType === 'varscope.inspector');
    assert.ok(inspector);
    assert.strictEqual(inspector.priority, 'option');
    assert.ok(inspector.selector.some((s) => s.filenamePattern === '*.png'));
  });

  test('the test-only state command reports the model the extension resolved', async () => {
    const state = (await vscode.commands.executeCommand('varscope.test.state')) as { model: { name: string | null; error: string | null } };
    // With no model chosen, the extension must report either a name or why there is none, never neither.
    assert.ok(state.model.name !== null || (state.model.error ?? '').length > 0, JSON.stringify(state.model));
  });
});
