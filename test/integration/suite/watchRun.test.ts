/**
 * Watch a Training Run in a real VS Code, against a simulated official trainer (test/integration/simulated_trainer.py):
 * it rewrites ar-ckpt-last.pth in place every few seconds in the official layout, copies it to ar-ckpt-best.pth, and
 * one of its saves is killed halfway. Every epoch becomes one point of the run's timeline, at its epoch; the
 * half-written file is waited for, never reported; the copy is not evaluated twice; no bundle is left behind; the
 * timeline is in the run's folder for the next session.
 */
import * as assert from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import { activeExtension, fixtureCheckpoints, hostState, waitFor } from './testUtil';

interface TimelineFile {
  evaluations: Array<{ model: { name: string; step: number | null; checkpoint?: { epoch?: number; sha256: string } } }>;
}

suite('watch a training run: the official trainer writing in place, one save killed halfway', () => {
  let tmp: string;

  suiteTeardown(async function () {
    this.timeout(60000);
    await vscode.commands.executeCommand('varscope.stopWatching');
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('three epochs, one point each at its epoch; the killed save and the best copy add nothing', async function () {
    this.timeout(900000);
    const ext = await activeExtension();
    const fixtures = fixtureCheckpoints(ext.extensionPath);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-watch-run-'));
    const run = path.join(tmp, 'local_output');
    const images = path.join(tmp, 'images');
    fs.mkdirSync(run);
    fs.mkdirSync(images);
    for (const name of ['a.png', 'b.png']) fs.copyFileSync(path.join(fixtures, 'img0.png'), path.join(images, name));
    await vscode.commands.executeCommand('varscope.watchCheckpoints', run, images);

    const trainer = spawn(
      '/usr/bin/python3',
      [
        path.join(ext.extensionPath, 'test', 'integration', 'simulated_trainer.py'),
        ...['--vae', path.join(fixtures, 'vae.pth'), '--var', path.join(fixtures, 'var.pth'), '--out', run],
        ...['--epochs', '3', '--every', '15', '--kill-at', '2', '--best', '1'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let trainerOutput = '';
    trainer.stdout.on('data', (d) => (trainerOutput += String(d)));
    trainer.stderr.on('data', (d) => (trainerOutput += String(d)));
    const trainerDone = new Promise<number | null>((resolve) => trainer.on('exit', resolve));

    const timelinePath = path.join(run, 'varscope-timeline.json');
    const timeline = await waitFor(
      'three epochs on the timeline',
      async () => {
        if (!fs.existsSync(timelinePath))
          throw new Error(`no timeline yet; the user was told ${JSON.stringify((await hostState()).watchSaid)}`);
        const t = JSON.parse(fs.readFileSync(timelinePath, 'utf8')) as TimelineFile;
        return t.evaluations.length >= 3 ? t : undefined;
      },
      600000,
    );
    assert.strictEqual(await trainerDone, 0, trainerOutput);
    assert.match(trainerOutput, /epoch 2: killed halfway through saving/);
    await new Promise((r) => setTimeout(r, 5000)); // a late duplicate would show by now
    const final = JSON.parse(fs.readFileSync(timelinePath, 'utf8')) as TimelineFile;
    assert.deepStrictEqual(
      final.evaluations.map((e) => [e.model.step, e.model.checkpoint?.epoch]),
      [1, 2, 3].map((n) => [n, n]),
      'one point per epoch (ar-ckpt-best.pth is a copy of epoch 1)',
    );
    // Epoch 1's point is named after whichever of last and best (the same bytes) was looked at first.
    final.evaluations.forEach((e, i) => assert.match(e.model.name, new RegExp(`^ar-ckpt-(last|best)\\.pth epoch ${i + 1}$`)));
    assert.strictEqual(new Set(final.evaluations.map((e) => e.model.checkpoint?.sha256)).size, 3);
    assert.deepStrictEqual(timeline.evaluations.length, 3);

    const said = (await hostState()).watchSaid ?? [];
    assert.deepStrictEqual(
      said.filter((m) => !/^VARScope: watching /.test(m)).map((m) => m.replace(/ accuracy .*/, '')),
      ['VARScope: epoch 1: 16×16', 'VARScope: epoch 2: 16×16', 'VARScope: epoch 3: 16×16'],
      `what the user was told: ${JSON.stringify(said)}`,
    );
    const leftovers = fs.readdirSync(run).filter((n) => !['ar-ckpt-last.pth', 'ar-ckpt-best.pth', 'varscope-timeline.json'].includes(n));
    assert.deepStrictEqual(leftovers, [], 'nothing else in the run folder');
  });
});
