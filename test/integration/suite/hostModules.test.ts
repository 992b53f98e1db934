/**
 * The extension's own modules in the real extension host: message validation, the panel's HTML and CSP,
 * and the model catalog (bundles in varscope.modelFolders, the picker's choice per workspace).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { checkParams, isPanelState, validEnvelope } from '../../../src/extension/messageValidator';
import { contentSecurityPolicy, escapeHtml } from '../../../src/extension/panelHtml';
import { findBundles, isInsideWorkspace, readBundleSummary } from '../../../src/extension/modelCatalog';
import { VarScopeError } from '../../../src/shared/errors';
import { bundleName, hostState, manifestOnlyBundle, waitFor } from './testUtil';

const badRequest = (fn: () => void) => assert.throws(fn, (e: unknown) => e instanceof VarScopeError && e.code === 'BadRequest');
const settings = { classId: 3, seed: 7, cfg: 4, topK: 900, topP: 0.96 };

suite('webview message validation', () => {
  test('only requests and the ready event pass the envelope check', () => {
    assert.ok(validEnvelope({ kind: 'request', id: 1, method: 'inspect', params: {} }));
    assert.ok(validEnvelope({ kind: 'event', name: 'ready', payload: {} }));
    assert.strictEqual(validEnvelope({ kind: 'event', name: 'init', payload: {} }), null);
    assert.strictEqual(validEnvelope({ kind: 'reply', id: 1, ok: 1 }), null);
    assert.strictEqual(validEnvelope({ kind: 'request', id: '1', method: 'inspect' }), null);
    assert.strictEqual(validEnvelope({ kind: 'request', id: -1, method: 'inspect' }), null);
    assert.strictEqual(validEnvelope('inspect'), null);
    assert.strictEqual(validEnvelope(null), null);
  });

  test('params of every method are checked', () => {
    checkParams('inspect', {});
    checkParams('evaluate', { classId: 3 });
    checkParams('attention', { classId: 3, layer: 0, head: 'mean' });
    checkParams('generationStart', { settings });
    checkParams('edit', { scaleIndex: 2, positions: [0, 4], tokens: [5, 6], settings });
    checkParams('edit', { scaleIndex: 2, positions: [0], tokens: 'resample', settings });
    checkParams('saveExport', { suggestedName: 'pyramid.png', mime: 'image/png', data: new Uint8Array(4) });
    checkParams('runCommand', { command: 'varscope.chooseModel' });
    badRequest(() => checkParams('evaluate', { classId: -1 }));
    badRequest(() => checkParams('evaluate', { classId: 1.5 }));
    badRequest(() => checkParams('attention', { classId: 3, layer: 0, head: 'max' }));
    badRequest(() => checkParams('generationStart', { settings: { ...settings, topP: 2 } }));
    badRequest(() => checkParams('generationStart', { settings: { ...settings, cfg: Number.NaN } }));
    badRequest(() => checkParams('edit', { scaleIndex: 2, positions: [0, 4], tokens: [5], settings }));
    badRequest(() => checkParams('saveExport', { suggestedName: '../../etc/passwd', mime: 'image/png', data: 'x' }));
    badRequest(() => checkParams('saveExport', { suggestedName: 'a.png', mime: 'text/html', data: 'x' }));
    badRequest(() => checkParams('runCommand', { command: 'workbench.action.terminal.new' }));
    badRequest(() => checkParams('deleteEverything', {}));
  });

  test('restored panel state is checked before use', () => {
    assert.strictEqual(isPanelState({ imageUri: null, view: 'pyramid' }), true);
    assert.strictEqual(isPanelState({ imageUri: 'file:///a.png', generation: settings }), true);
    assert.strictEqual(isPanelState({ imageUri: 3 }), false);
    assert.strictEqual(isPanelState({ imageUri: null, view: 'nope' }), false);
    assert.strictEqual(isPanelState(undefined), false);
  });
});

suite('panel HTML', () => {
  test('the CSP allows scripts only with the nonce and nothing inline', () => {
    const csp = contentSecurityPolicy('https://webview.example', 'abc123');
    assert.ok(csp.includes("default-src 'none'"));
    assert.ok(csp.includes("script-src 'nonce-abc123'"));
    assert.ok(csp.includes('style-src https://webview.example'));
    assert.ok(csp.includes('img-src https://webview.example data: blob:'));
    assert.ok(!csp.includes('unsafe-inline'));
    assert.ok(!csp.includes('unsafe-eval'));
  });

  test('names are escaped before they reach the page', () => {
    assert.strictEqual(escapeHtml('<img src=x onerror="a">&\''), '&lt;img src=x onerror=&quot;a&quot;&gt;&amp;&#39;');
  });
});

suite('model catalog', () => {
  test('a bundle folder and a folder of bundles are both found; broken manifests are skipped', () => {
    const a = manifestOnlyBundle('Catalog A');
    assert.deepStrictEqual(
      findBundles(a).map((b) => b.name),
      [bundleName(a)],
    );
    const parent = path.dirname(a);
    assert.ok(findBundles(parent).some((b) => b.dir === a));
    assert.throws(
      () => readBundleSummary(path.join(a, 'missing')),
      (e: unknown) => e instanceof VarScopeError && e.code === 'ModelNotFound',
    );
  });

  test('only folders inside the workspace count as workspace bundles', () => {
    const ws = vscode.workspace.workspaceFolders![0].uri.fsPath;
    assert.strictEqual(isInsideWorkspace(path.join(ws, 'models', 'x')), true);
    assert.strictEqual(isInsideWorkspace(ws), true);
    assert.strictEqual(isInsideWorkspace(path.join(ws, '..', 'elsewhere')), false);
  });

  test("the picker lists every bundle folder in the extension's models/", async () => {
    const models = path.join(vscode.extensions.getExtension('varscope.varscope')!.extensionPath, 'models');
    const expected = (fs.existsSync(models) ? fs.readdirSync(models) : [])
      .map((d) => path.join(models, d))
      .filter((d) => fs.existsSync(path.join(d, 'varscope.json')))
      .sort();
    const listed = (await hostState()).bundles
      .map((b) => b.dir)
      .filter((d) => path.dirname(d) === models)
      .sort();
    assert.deepStrictEqual(listed, expected);
  });

  test('bundles in varscope.modelFolders are listed for the picker', async () => {
    const b = manifestOnlyBundle('Listed');
    await vscode.workspace.getConfiguration('varscope').update('modelFolders', [path.dirname(b)], vscode.ConfigurationTarget.Workspace);
    try {
      const listed = await waitFor('the bundle in the list', async () => (await hostState()).bundles.find((x) => x.dir === b));
      assert.strictEqual(listed.name, bundleName(b));
    } finally {
      await vscode.workspace.getConfiguration('varscope').update('modelFolders', undefined, vscode.ConfigurationTarget.Workspace);
    }
  });
});
