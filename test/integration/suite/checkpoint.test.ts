/**
 * Open Checkpoint from the editor, as the Explorer's context menu runs it: a VAR state_dict in the workspace is
 * paired with the VQ-VAE file beside it, exported through the user's Python with a progress that names every
 * stage, and the inspector opens on it; a second open is a cache hit that runs no Python.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { activeExtension, fixtureCheckpoints, hostState, waitFor } from './testUtil';

/** What varscope.openCheckpoint returns (src/extension/commands/checkpointCommands.ts). */
interface OpenResult {
  dir: string;
  vae: string;
  var: string;
  cacheHit: boolean;
  stages: string[];
}

suite('open checkpoint', () => {
  let ckptDir: string;

  suiteSetup(async () => {
    const ext = await activeExtension();
    const ws = vscode.workspace.workspaceFolders![0].uri.fsPath;
    ckptDir = path.join(ws, 'checkpoints');
    fs.mkdirSync(ckptDir, { recursive: true });
    const src = fixtureCheckpoints(ext.extensionPath);
    fs.copyFileSync(path.join(src, 'var.pth'), path.join(ckptDir, 'var_d2.pth'));
    fs.copyFileSync(path.join(src, 'vae.pth'), path.join(ckptDir, 'vae_ch32v512z16.pth'));
  });

  suiteTeardown(async () => {
    await vscode.commands.executeCommand('varscope.test.resetModelChoice');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('the Explorer menu offers it on checkpoint files', async () => {
    const ext = await activeExtension();
    const menu = (ext.packageJSON.contributes.menus['explorer/context'] as Array<{ command: string; when: string }>).find(
      (m) => m.command === 'varscope.openCheckpoint',
    );
    assert.ok(menu, 'no Explorer context menu entry');
    const re = /\/\^\\\.\((.*)\)\$\/i/.exec(menu.when);
    assert.ok(re, menu.when);
    assert.deepStrictEqual(re[1].split('|').sort(), ['bin', 'ckpt', 'pt', 'pth', 'safetensors']);
  });

  test('a VAR file is paired with the VAE beside it, exported with progress, and opens in the inspector; the second open is a cache hit', async function () {
    this.timeout(600000);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const varFile = path.join(ckptDir, 'var_d2.pth');
    const first = (await vscode.commands.executeCommand('varscope.openCheckpoint', vscode.Uri.file(varFile))) as OpenResult | undefined;
    assert.ok(first, 'the command failed: see the VARScope log');
    assert.strictEqual(first.cacheHit, false);
    assert.strictEqual(first.var, varFile);
    assert.strictEqual(first.vae, path.join(ckptDir, 'vae_ch32v512z16.pth'));
    for (const s of [
      'read the checkpoint',
      'hash the checkpoints',
      'load the checkpoints',
      'infer the configuration',
      'export graph 1 of 7 (encoder)',
      'export graph 7 of 7 (transformerStep)',
      'verify: the graphs in onnxruntime',
      'open the model',
      'done',
    ]) {
      assert.ok(first.stages.includes(s), `stage "${s}" missing from ${JSON.stringify(first.stages)}`);
    }
    const manifest = JSON.parse(fs.readFileSync(path.join(first.dir, 'varscope.json'), 'utf8')) as {
      name: string;
      provenance: { verification: Record<string, number> };
    };
    assert.strictEqual(manifest.name, 'var_d2.pth + vae_ch32v512z16.pth');
    assert.ok(Object.keys(manifest.provenance.verification).length > 0, 'the bundle was verified');
    assert.ok(!first.dir.startsWith(vscode.workspace.workspaceFolders![0].uri.fsPath), 'the cache is outside the workspace');

    const state = await waitFor(
      'the exported model open in a ready panel',
      async () => {
        const s = await hostState();
        return s.model.dir === first.dir && s.model.opened && s.panels.some((p) => p.ready) ? s : undefined;
      },
      120000,
    );
    assert.strictEqual(state.model.name, manifest.name);
    assert.ok(state.statusBarText.includes(manifest.name), state.statusBarText);
    assert.ok(
      state.bundles.some((b) => b.dir === first.dir),
      'Choose Model lists the cached bundle',
    );

    const t0 = Date.now();
    const second = (await vscode.commands.executeCommand('varscope.openCheckpoint', vscode.Uri.file(varFile))) as OpenResult | undefined;
    assert.ok(second);
    assert.strictEqual(second.cacheHit, true);
    assert.strictEqual(second.dir, first.dir);
    assert.ok(
      !second.stages.some((s) => s.startsWith('export graph') || s === 'find Python' || s === 'read the checkpoint'),
      `the second open ran Python: ${JSON.stringify(second.stages)}`,
    );
    console.log(`second open (cache hit) took ${Date.now() - t0} ms`);
  });

  test('another checkpoint of that architecture (an official trainer ar-ckpt) opens from its template, with Python out of reach', async function () {
    this.timeout(600000);
    const ext = await activeExtension();
    const src = fixtureCheckpoints(ext.extensionPath);
    const run = path.join(ckptDir, 'local_output');
    execFileSync(
      '/usr/bin/python3',
      [
        path.join(ext.extensionPath, 'test', 'integration', 'simulated_trainer.py'),
        '--vae',
        path.join(src, 'vae.pth'),
        '--var',
        path.join(src, 'var.pth'),
      ].concat(['--out', run, '--epochs', '1', '--every', '0']),
      { stdio: 'pipe' },
    );
    const config = vscode.workspace.getConfiguration('varscope');
    await config.update('pythonPath', '/nonexistent/python3', vscode.ConfigurationTarget.Global);
    try {
      const file = path.join(run, 'ar-ckpt-last.pth');
      const r = (await vscode.commands.executeCommand('varscope.openCheckpoint', vscode.Uri.file(file))) as OpenResult | undefined;
      assert.ok(r, 'the command failed: see the VARScope log');
      assert.deepStrictEqual([r.cacheHit, r.vae, r.var], [false, file, file]);
      assert.ok(r.stages.includes('write the bundle from its architecture template'), JSON.stringify(r.stages));
      assert.ok(!r.stages.some((s) => s.startsWith('export graph') || s === 'find Python'), `Python ran: ${JSON.stringify(r.stages)}`);
      const state = await waitFor(
        'the template-written model open',
        async () => {
          const st = await hostState();
          return st.model.dir === r.dir && st.model.opened ? st : undefined;
        },
        120000,
      );
      assert.strictEqual(state.model.error, null);
    } finally {
      await config.update('pythonPath', undefined, vscode.ConfigurationTarget.Global);
    }
  });
});
