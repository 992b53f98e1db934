/**
 * Opening an image in the inspector shows a webview whose rendered DOM names the image and the model.
 * The DOM is read by the harness's browser (the real frames), not from host-side state.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { bridgeUrl, readWebviews, screenshot, type WebviewFrameText } from './harnessBridge';
import { activeExtension, bundleName, hostState, testBundle, waitFor } from './testUtil';

/** Selectors of the webview app's own header (src/webview/app.ts), filled from the `init` event. */
const APP_IMAGE = '.app-header .image-name';
const APP_MODEL = '.app-header .model-name';

suite('inspector panel', () => {
  let imageUri: vscode.Uri;
  let imageName: string;
  let bundle: string;
  let expectedModel: string;

  suiteSetup(async () => {
    const ext = await activeExtension();
    const ws = vscode.workspace.workspaceFolders?.[0];
    assert.ok(ws, 'the harness opens a workspace folder');
    const image = fs.readdirSync(ws.uri.fsPath).find((f) => f.endsWith('.png'));
    assert.ok(image, 'the harness copies a PNG into the workspace');
    imageUri = vscode.Uri.joinPath(ws.uri, image);
    imageName = image;
    bundle = testBundle(ext.extensionPath);
    expectedModel = bundleName(bundle);
    await vscode.workspace.getConfiguration('varscope').update('model', bundle, vscode.ConfigurationTarget.Workspace);
    await waitFor('the model setting to load', async () => ((await hostState()).model.dir === bundle ? true : undefined));
  });

  test('the status bar names the chosen model', async () => {
    const state = await hostState();
    assert.strictEqual(state.model.name, expectedModel);
    assert.ok(state.statusBarText.includes(expectedModel), state.statusBarText);
  });

  test('openWith shows the image and model name in the webview DOM', async () => {
    await vscode.commands.executeCommand('vscode.openWith', imageUri, 'varscope.inspector');
    const panel = await waitFor('the panel', async () => (await hostState()).panels.find((p) => p.imageName === imageName));
    assert.strictEqual(panel.title, `VARScope: ${imageName}`);
    if (!bridgeUrl()) {
      // Desktop VS Code (test-electron) has no browser to read the frames from: the host side must still agree.
      assert.ok(panel.active);
      return;
    }
    // The host's fallback header names both at once; the app's header replaces it once the model opened.
    const shown = (f: WebviewFrameText) =>
      (f.ids['varscope-image-name'] === imageName && f.ids['varscope-model-name'] === expectedModel) ||
      (f.selected[APP_IMAGE] === imageName && f.selected[APP_MODEL] === expectedModel);
    const frame = await waitFor<WebviewFrameText>('a webview showing the image and model names', async () =>
      (await readWebviews([APP_IMAGE, APP_MODEL])).find(shown),
    );
    assert.ok(frame.text.includes(imageName) && frame.text.includes(expectedModel), frame.text.slice(0, 300));
  });

  test('the webview says ready, gets init, and its own header shows what init carried', async function () {
    const ext = await activeExtension();
    assert.ok(fs.existsSync(path.join(ext.extensionPath, 'dist', 'webview', 'main.js')), 'the webview bundle is built');
    // init waits for the engine to open the model (or fail to).
    await waitFor(
      'ready + init',
      async () => ((await hostState()).panels.find((p) => p.imageName === imageName)?.ready ? true : undefined),
      120000,
    );
    const state = await hostState();
    assert.strictEqual(state.model.opened, true, `the test bundle did not open: ${state.model.error}`);
    if (!bridgeUrl()) return;
    const frame = await waitFor<WebviewFrameText>('the app header', async () =>
      (await readWebviews([APP_IMAGE, APP_MODEL])).find((f) => f.selected[APP_IMAGE] === imageName),
    );
    assert.strictEqual(frame.selected[APP_MODEL], expectedModel);
    assert.ok(state.model.provider, 'an opened model reports its execution provider');
    assert.ok(state.statusBarText.includes(state.model.provider!), `status bar shows the provider: ${state.statusBarText}`);
  });

  test('the engine inspects the image and the pyramid shows one grid per scale of the bundle', async function () {
    const state = await hostState();
    assert.strictEqual(state.model.opened, true, `the test bundle did not open: ${state.model.error}`);
    if (!bridgeUrl()) return;
    const patchNums = (JSON.parse(fs.readFileSync(path.join(bundle, 'varscope.json'), 'utf8')) as { patchNums: number[] }).patchNums;
    const GRIDS = '.pyramid-strip figure[data-scale]';
    const counted = await waitFor(
      'the pyramid grids',
      async () => {
        const n = Math.max(0, ...(await readWebviews([], [GRIDS])).map((f) => f.counts[GRIDS] ?? 0));
        return n > 0 ? n : undefined;
      },
      120000,
    );
    assert.strictEqual(counted, patchNums.length);
    const shot = await screenshot('integration-panel.png');
    assert.ok(fs.statSync(shot).size > 10000, 'screenshot written');
  });

  test('Export View writes the active view as PNG and as JSON through the host', async function () {
    const dir = process.env.VARSCOPE_TEST_EXPORT_DIR;
    assert.ok(dir && fs.existsSync(dir), 'the harness gives an export folder');
    const state = await hostState();
    assert.strictEqual(state.model.opened, true, `the test bundle did not open: ${state.model.error}`);
    await vscode.commands.executeCommand('vscode.openWith', imageUri, 'varscope.inspector'); // focus the image panel
    const written = async (ext: string) =>
      waitFor(`a .${ext} export`, async () => fs.readdirSync(dir).find((f) => f.endsWith(`.${ext}`)), 60000);
    await vscode.commands.executeCommand('varscope.exportView', 'png');
    const png = fs.readFileSync(path.join(dir, await written('png')));
    assert.deepStrictEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
    assert.ok(png.readUInt32BE(16) > 0 && png.readUInt32BE(20) > 0, 'IHDR width and height');
    await vscode.commands.executeCommand('varscope.exportView', 'json');
    const json = fs.readFileSync(path.join(dir, await written('json')), 'utf8');
    assert.ok(Object.keys(JSON.parse(json) as object).length > 0, json.slice(0, 200));
  });

  test('switching to the embedded default model reloads the panel with it, opened and drawn', async function () {
    const ext = await activeExtension();
    const spec = path.join(ext.extensionPath, 'models', 'default.json');
    const id = fs.existsSync(spec) ? (JSON.parse(fs.readFileSync(spec, 'utf8')) as { id?: string }).id : undefined;
    const dir = id ? path.join(ext.extensionPath, 'models', id) : '';
    assert.ok(id && fs.existsSync(path.join(dir, 'varscope.json')), `models/default.json names a bundle in models/: ${id}`);
    const name = bundleName(dir);
    const patchNums = (JSON.parse(fs.readFileSync(path.join(dir, 'varscope.json'), 'utf8')) as { patchNums: number[] }).patchNums;
    await vscode.workspace.getConfiguration('varscope').update('model', dir, vscode.ConfigurationTarget.Workspace);
    const state = await waitFor(
      'the default model to open in the panel',
      async () => {
        const s = await hostState();
        return s.model.dir === dir && s.panels.find((p) => p.imageName === imageName)?.ready ? s : undefined;
      },
      120000,
    );
    assert.strictEqual(state.model.opened, true, `the default model did not open: ${state.model.error}`);
    if (!bridgeUrl()) return;
    const GRIDS = '.pyramid-strip figure[data-scale]';
    const frame = await waitFor(
      'the default model in the app header and its pyramid',
      async () => (await readWebviews([APP_MODEL], [GRIDS])).find((f) => f.selected[APP_MODEL] === name && f.counts[GRIDS] > 0),
      120000,
    );
    assert.strictEqual(frame.counts[GRIDS], patchNums.length);
    assert.ok(fs.statSync(await screenshot('integration-default-model.png')).size > 10000, 'screenshot written');
  });

  test('a generation panel opens without an image', async () => {
    const before = (await hostState()).panels.length;
    await vscode.commands.executeCommand('varscope.generateImage');
    const panels = await waitFor('a second panel', async () => {
      const p = (await hostState()).panels;
      return p.length === before + 1 ? p : undefined;
    });
    const gen = panels.find((p) => p.imageName === null);
    assert.ok(gen);
    assert.strictEqual(gen.title, 'VARScope: Generate');
  });
});
