/**
 * Restoring panels after a reload: VS Code hands the serializer a fresh webview panel and the state the
 * webview saved. A usable state brings the same image back; anything else restores a generation panel.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as vscode from 'vscode';
import { activeExtension, hostState, waitFor } from './testUtil';

suite('panel restore', () => {
  suiteSetup(async () => {
    await activeExtension();
  });

  test('a saved image panel comes back with its image', async () => {
    const ws = vscode.workspace.workspaceFolders![0].uri;
    const image = fs.readdirSync(ws.fsPath).find((f) => f.endsWith('.png'))!;
    const before = (await hostState()).panels.filter((p) => p.imageName === image).length;
    await vscode.commands.executeCommand('varscope.test.restore', {
      imageUri: vscode.Uri.joinPath(ws, image).toString(),
      view: 'codebook',
    });
    const count = await waitFor('the restored panel', async () => {
      const n = (await hostState()).panels.filter((p) => p.imageName === image).length;
      return n === before + 1 ? n : undefined;
    });
    assert.strictEqual(count, before + 1);
  });

  test('an unreadable saved state restores a generation panel instead of failing', async () => {
    const before = (await hostState()).panels.filter((p) => p.imageName === null).length;
    await vscode.commands.executeCommand('varscope.test.restore', { imageUri: 42, view: 'nonsense' });
    const gens = await waitFor('the generation panel', async () => {
      const n = (await hostState()).panels.filter((p) => p.imageName === null);
      return n.length === before + 1 ? n : undefined;
    });
    assert.ok(gens.every((p) => p.title === 'VARScope: Generate'));
  });
});
