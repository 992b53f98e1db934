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
import { bundleStep, defaultModelImages } from '../../unit/fixtures';

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

  test('the early checkpoint, then the final one copied in: two points, at their training steps', async function () {
    this.timeout(600000);
    const extensionPath = (await activeExtension()).extensionPath;
    const finalDir = defaultBundle(extensionPath);
    const models = path.dirname(finalDir);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-watch-'));
    const images = path.join(tmp, 'images');
    for (const img of defaultModelImages(extensionPath)) {
      fs.mkdirSync(path.join(images, img.className), { recursive: true });
      fs.copyFileSync(img.path, path.join(images, img.className, img.file));
    }
    const [early, final] = [bundleStep(path.join(models, 'emoji64-d4-early')), bundleStep(finalDir)];
    const ckpts = path.join(tmp, 'checkpoints');
    fs.mkdirSync(ckpts);
    fs.symlinkSync(path.join(models, 'emoji64-d4-early'), path.join(ckpts, 'early'));
    const ws = vscode.workspace.workspaceFolders![0].uri.fsPath;
    await openInFreshPanel(path.join(ws, IMAGE_NAME), finalDir);
    await vscode.commands.executeCommand('varscope.watchCheckpoints', ckpts, images);
    if (!bridgeUrl()) return;
    await waitFor(
      'the early checkpoint evaluated',
      async () => ((await panel([SUMMARY]))?.all[SUMMARY]?.[0]?.match(new RegExp(`\\bstep ${early}\\b[^:]* on `)) ? true : undefined),
      300000,
    );
    // a new checkpoint appears: a whole bundle folder (the final one, linked in)
    fs.symlinkSync(finalDir, path.join(ckpts, 'final'));
    const dots = await waitFor(
      'a second point on the timeline',
      async () => {
        const f = await panel([FIRST_CURVE_DOTS, SUMMARY]);
        return f && f.all[FIRST_CURVE_DOTS].length === 2 ? f : undefined;
      },
      300000,
    );
    const titles = dots.all[FIRST_CURVE_DOTS];
    assert.ok(titles[0].startsWith(`1×1 at step ${early}: `), titles[0]);
    assert.ok(titles[1].startsWith(`1×1 at step ${final}: `), titles[1]);
    assert.match(dots.all[SUMMARY][0], new RegExp(`\\bstep ${final}\\b[^:]* on .*: 2 images`));
  });
});
