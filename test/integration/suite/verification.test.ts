/**
 * A bundle that fails its sha256 verification: the panel names the damaged file and the re-export command in
 * place of the model, and offers Show Log. Puts the test bundle back as the model afterwards.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import { act, APP_IMAGE, APP_MODEL, bridgeUrl, readWebviews } from './harnessBridge';
import { activeExtension, closeAllPanels, hostState, testBundle, waitFor } from './testUtil';

const SHOW_LOG = '.app-header .show-log:not([hidden])';
const ERRORS = '.errors';

suite('bundle verification', () => {
  let bundle: string;
  let damaged: string;

  suiteSetup(async () => {
    const ext = await activeExtension();
    bundle = testBundle(ext.extensionPath);
    assert.ok(fs.existsSync(path.join(bundle, 'weights.bin')), `the test bundle ${bundle} has graphs and weights`);
    // A copy with every 997th byte of weights.bin inverted; its varscope.json still records the original sha256.
    damaged = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-damaged-')), 'bundle');
    fs.cpSync(bundle, damaged, { recursive: true });
    const weights = path.join(damaged, 'weights.bin');
    const b = fs.readFileSync(weights);
    for (let i = 0; i < b.length; i += 997) b[i] = ~b[i] & 0xff;
    fs.writeFileSync(weights, b);
  });

  suiteTeardown(async () => {
    await vscode.workspace.getConfiguration('varscope').update('model', bundle, vscode.ConfigurationTarget.Workspace);
    await closeAllPanels();
    fs.rmSync(path.dirname(damaged), { recursive: true, force: true });
  });

  test('the panel names the file that fails verification and the re-export command, and offers Show Log', async () => {
    const ws = vscode.workspace.workspaceFolders![0].uri.fsPath;
    const image = fs.readdirSync(ws).find((f) => f.endsWith('.png') && f !== 'broken.png');
    assert.ok(image, 'the harness copies a PNG into the workspace');
    await vscode.workspace.getConfiguration('varscope').update('model', damaged, vscode.ConfigurationTarget.Workspace);
    await closeAllPanels();
    await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(path.join(ws, image)), 'varscope.inspector');
    const state = await waitFor(
      'the damaged model to fail',
      async () => {
        const s = await hostState();
        return s.model.dir === damaged && s.model.error?.includes('sha256') && s.panels.some((p) => p.imageName === image && p.ready)
          ? s
          : undefined;
      },
      120000,
    );
    assert.strictEqual(state.model.opened, false);
    assert.match(state.model.error!, /weights\.bin does not match the sha256 recorded at export/);
    assert.match(state.model.error!, /varscope export --vae \S+ --var \S+ --out /);
    if (!bridgeUrl()) return;
    const frame = await waitFor(
      'the message and Show Log in the panel',
      async () =>
        (await readWebviews([APP_IMAGE, APP_MODEL], [SHOW_LOG])).find(
          (f) => f.selected[APP_IMAGE] === image && (f.selected[APP_MODEL] ?? '').includes('weights.bin') && f.counts[SHOW_LOG] === 1,
        ),
      120000,
    );
    assert.match(frame.selected[APP_MODEL], /^No model: .*weights\.bin does not match the sha256/);
    await act('click', SHOW_LOG, '', { selector: APP_IMAGE, text: image });
    // The host ran the command: no in-place error about it in the panel.
    const after = (await readWebviews([APP_IMAGE, ERRORS])).find((f) => f.selected[APP_IMAGE] === image);
    assert.ok(after, 'the panel is still there');
    assert.doesNotMatch(after.selected[ERRORS] ?? '', /showLog/);
  });
});
