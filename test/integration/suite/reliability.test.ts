/**
 * Faults stay in place: a file that is not an image gets a clear error inside its panel, and a restarted
 * engine opens the model again. Runs after the panel suite (which chose the test bundle).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { bridgeUrl, readWebviews } from './harnessBridge';
import { activeExtension, hostState, waitFor } from './testUtil';

const ERRORS = '.errors';

suite('reliability', () => {
  suiteSetup(async () => {
    await activeExtension();
  });

  test('a file that is not an image shows a BadImage error in its panel, naming the file', async () => {
    const ws = vscode.workspace.workspaceFolders![0].uri.fsPath;
    const broken = path.join(ws, 'broken.png');
    fs.writeFileSync(broken, 'this is text, not a PNG');
    await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(broken), 'varscope.inspector');
    await waitFor(
      'the panel',
      async () => ((await hostState()).panels.some((p) => p.imageName === 'broken.png' && p.ready) ? true : undefined),
      120000,
    );
    const state = await hostState();
    assert.strictEqual(state.model.opened, true, `the model did not open: ${state.model.error}`);
    if (!bridgeUrl()) return;
    // The model opened; the engine refuses the file and the panel says so in place, naming it.
    const frame = await waitFor(
      'the in-place error',
      async () => (await readWebviews([ERRORS])).find((f) => (f.selected[ERRORS] ?? '').includes('broken.png')),
      60000,
    );
    assert.ok(/BadImage|not an image|could not be decoded/i.test(frame.selected[ERRORS]), frame.selected[ERRORS]);
  });

  test('Restart Engine kills the engine process and the panels open the model again', async () => {
    const before = await hostState();
    await vscode.commands.executeCommand('varscope.restartEngine');
    // The panels reload, say ready again, and their init waits for the model to open in the new process.
    const after = await waitFor(
      'the model to open again',
      async () => {
        const s = await hostState();
        return s.panels.length > 0 && s.panels.every((p) => p.ready) && s.model.opened === before.model.opened ? s : undefined;
      },
      120000,
    );
    assert.strictEqual(after.model.name, before.model.name);
    assert.strictEqual(before.model.opened, true, `the model did not open: ${before.model.error}`);
    assert.ok(before.enginePid && after.enginePid, 'an opened model has an engine process');
    assert.notStrictEqual(after.enginePid, before.enginePid, 'a new engine process');
    assert.strictEqual(after.model.provider, before.model.provider);
  });
});
