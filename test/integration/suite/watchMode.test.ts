/**
 * Watch mode in a real VS Code: a folder of checkpoints is watched; the checkpoint already there is evaluated on an
 * ImageFolder of two emoji (one point); a bundle copied into the folder afterwards is evaluated and the Dataset
 * tab's timeline grows to two points, ordered by training step.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import { bridgeUrl, imagePanel } from './harnessBridge';
import { activeExtension, closeAllPanels, defaultBundle, openInFreshPanel, waitFor } from './testUtil';

const IMAGE_NAME = 'sample.png';
const SUMMARY = '.view-dataset .dataset-summary';
const FIRST_CURVE_DOTS = '.view-dataset .dataset-timeline .chart:first-child .series:first-child circle.dot title';

suite('watch mode: a new checkpoint in a watched folder adds a point', () => {
  const { read: panel } = imagePanel(IMAGE_NAME);
  let tmp: string;

  suiteTeardown(async function () {
    this.timeout(60000);
    await vscode.commands.executeCommand('varscope.stopWatching');
    await closeAllPanels();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the early checkpoint, then the final one copied in: two points, steps 419 and 4187', async function () {
    this.timeout(600000);
    const extensionPath = (await activeExtension()).extensionPath;
    const finalDir = defaultBundle(extensionPath);
    const models = path.dirname(finalDir);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-watch-'));
    const images = path.join(tmp, 'images');
    const fix = path.join(extensionPath, 'test', 'fixtures', 'default-model');
    for (const [cls, img] of [['Animals & Nature', 'img0.png'], ['Smileys & Emotion', 'img1.png']]) {
      fs.mkdirSync(path.join(images, cls), { recursive: true });
      fs.copyFileSync(path.join(fix, img), path.join(images, cls, img));
    }
    const ckpts = path.join(tmp, 'checkpoints');
    fs.mkdirSync(ckpts);
    fs.symlinkSync(path.join(models, 'emoji64-d4-early'), path.join(ckpts, 'early'));
    const ws = vscode.workspace.workspaceFolders![0].uri.fsPath;
    await openInFreshPanel(path.join(ws, IMAGE_NAME), finalDir);
    await vscode.commands.executeCommand('varscope.watchCheckpoints', ckpts, images);
    if (!bridgeUrl()) return;
    await waitFor('the early checkpoint evaluated', async () => ((await panel([SUMMARY]))?.all[SUMMARY]?.[0]?.includes('(step 419) on') ? true : undefined), 300000);
    // a new checkpoint appears: a whole bundle folder (the final one, linked in)
    fs.symlinkSync(finalDir, path.join(ckpts, 'final'));
    const dots = await waitFor('a second point on the timeline', async () => {
      const f = await panel([FIRST_CURVE_DOTS, SUMMARY]);
      return f && f.all[FIRST_CURVE_DOTS].length === 2 ? f : undefined;
    }, 300000);
    const titles = dots.all[FIRST_CURVE_DOTS];
    assert.match(titles[0], /^1×1 at step 419: /);
    assert.match(titles[1], /^1×1 at step 4187: /);
    assert.match(dots.all[SUMMARY][0], /\(step 4187\) on .*: 2 images/);
  });
});
