/**
 * Restoring panels after a reload: VS Code hands the serializer a fresh webview panel and the state the
 * webview saved. A usable state brings the same image back, on the same tab, with the current model; anything
 * else restores a generation panel. What the restored panel shows is read from its rendered DOM (harnessBridge).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as vscode from 'vscode';
import { APP_IMAGE, APP_MODEL, bridgeUrl, readWebviews, type WebviewFrameText } from './harnessBridge';
import { activeExtension, closeAllPanels, hostState, waitFor } from './testUtil';

/** The selected tab, and the id of each view the panel shows (the others are hidden). */
const ACTIVE_TAB = '.tabs .tab[aria-selected="true"]';
const SHOWN_VIEWS = '.view-host > .view:not([hidden])|id';

suite('panel restore', () => {
  suiteSetup(async () => {
    await activeExtension();
  });

  test('a saved image panel comes back with its image, on its tab, with the current model', async () => {
    const ws = vscode.workspace.workspaceFolders![0].uri;
    const image = fs.readdirSync(ws.fsPath).find((f) => f.endsWith('.png'))!;
    // The restored panel is then the only one showing this image: its frame is the one to read.
    await closeAllPanels();
    await vscode.commands.executeCommand('varscope.test.restore', {
      imageUri: vscode.Uri.joinPath(ws, image).toString(),
      view: 'codebook',
    });
    const panel = await waitFor('the restored panel', async () => {
      const panels = (await hostState()).panels;
      return panels.length === 1 && panels[0].imageName === image ? panels[0] : undefined;
    });
    assert.strictEqual(panel.title, `VARScope: ${image}`);
    if (!bridgeUrl()) return; // desktop VS Code: no browser to read the frame from
    // The app's header names the image once `init` came; the tab and the model are then what the state and host gave.
    const frame = await waitFor<WebviewFrameText>('the restored webview to name its image', async () =>
      (await readWebviews([APP_IMAGE, APP_MODEL, ACTIVE_TAB], [], [SHOWN_VIEWS])).find((f) => f.selected[APP_IMAGE] === image),
    );
    assert.strictEqual(frame.selected[ACTIVE_TAB], 'Codebook', 'the saved tab is the selected one');
    assert.deepStrictEqual(frame.all[SHOWN_VIEWS], ['panel-codebook'], 'only the saved view shows');
    // `init` waits for the model to open (or fail to): the header then names it, or says why there is none.
    const model = (await hostState()).model;
    if (model.opened) assert.strictEqual(frame.selected[APP_MODEL], model.name, 'the header names the current model');
    else assert.strictEqual(frame.selected[APP_MODEL], `No model: ${model.error}`, 'the header says why there is no model');
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
