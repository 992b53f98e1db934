/**
 * The in-process engine API on the fixture bundle: edits keep what they must keep, folder statistics stream and
 * cancel, seeded generation is reproducible and honours forced tokens, requests are checked.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { footprintKeepMask, resizeMask } from '../../src/engine/editor';
import { Engine } from '../../src/engine/engine';
import { VarScopeError } from '../../src/shared/rpc';
import { fixture, requireBundle } from './fixtures';
import { npyInts, readNpy } from './npy';

const SETTINGS = { classId: 3, seed: 11, cfg: 4, topK: 900, topP: 0.96 };

describe('engine API (in process)', function () {
  this.timeout(300000);
  let engine: Engine;
  let model: string;
  const events: Array<{ name: string; payload: unknown }> = [];

  before(async () => {
    model = requireBundle();
    engine = new Engine((name, payload) => events.push({ name, payload }));
    await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
  });
  after(async () => engine?.dispose());

  it('edit: coarser scales and tokens outside the edited footprint keep the source; edited tokens are set', async () => {
    const idx = npyInts(readNpy(fixture('img0_idx.npy')));
    const info = await engine.openModel({ model });
    const source = info.beginEnds.map(([b, e]) => idx.slice(b, e));
    const r = await engine.edit({ model, source: { image: { path: fixture('img0.png') } }, scaleIndex: 5, positions: [0, 7], tokens: [11, 22], settings: SETTINGS });
    for (let k = 0; k < 5; k++) assert.deepStrictEqual(r.tokens[k], source[k], `scale ${k}`);
    assert.strictEqual(r.tokens[5][0], 11);
    assert.strictEqual(r.tokens[5][7], 22);
    const keep = footprintKeepMask(6, [0, 7], 16);
    for (let k = 6; k < 10; k++) {
      const kept = resizeMask(keep, 16, info.patchNums[k]);
      kept.forEach((m, i) => m && assert.strictEqual(r.tokens[k][i], source[k][i], `scale ${k} position ${i} must be kept`));
    }
    assert.deepStrictEqual(r.steps.map((s) => s.scaleIndex), [5, 6, 7, 8, 9]);
    assert.strictEqual(r.steps[4].image.width, 256);
  });

  it('generate: same seed -> same tokens; forced tokens are used', async () => {
    const a = await engine.generate({ model, settings: SETTINGS });
    const b = await engine.generate({ model, settings: SETTINGS });
    assert.deepStrictEqual(a.tokens, b.tokens);
    const c = await engine.generate({ model, settings: { ...SETTINGS, seed: 12 } });
    assert.notDeepStrictEqual(c.tokens.slice(5), a.tokens.slice(5));
    const forced = a.tokens.map((t) => Int32Array.from(t, () => -1));
    forced[3] = Int32Array.from({ length: 16 }, (_, i) => i);
    const d = await engine.generate({ model, settings: SETTINGS, forced });
    assert.deepStrictEqual(Array.from(d.tokens[3]), Array.from({ length: 16 }, (_, i) => i));
    assert.deepStrictEqual(d.tokens.slice(0, 3), a.tokens.slice(0, 3));
  });

  it('folder statistics stream progress and stop when cancelled', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-folder-'));
    try {
      for (let i = 0; i < 12; i++) fs.copyFileSync(fixture(`img${i % 3}.png`), path.join(dir, `i${String(i).padStart(2, '0')}.png`));
      events.length = 0;
      const runId = 'folder-1';
      const p = engine.folderUsage({ model, runId, folder: dir, every: 2, batch: 2 });
      // cancel as soon as the first progress event arrives
      await new Promise<void>((resolve) => {
        const t = setInterval(() => {
          if (events.some((e) => e.name === 'folderUsage')) {
            clearInterval(t);
            void engine.cancel({ runId }).then(resolve);
          }
        }, 5);
      });
      const r = await p;
      assert.strictEqual(r.cancelled, true);
      assert.ok(r.usage.images! < 12 && r.usage.images! >= 2, `counted ${r.usage.images}`);
      const progress = events.filter((e) => e.name === 'folderUsage').map((e) => e.payload as { done: number; finished: boolean });
      assert.strictEqual(progress[0].done, 2);
      assert.strictEqual(progress[progress.length - 1].finished, true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('requests are checked: class, layer, head, scale', async () => {
    const img = { path: fixture('img0.png') };
    const bad = (e: unknown) => e instanceof VarScopeError && e.code === 'BadRequest';
    await assert.rejects(engine.evaluate({ model, image: img, classId: 5000 }), bad);
    await assert.rejects(engine.attention({ model, image: img, classId: 3, layer: 99, head: 0 }), bad);
    await assert.rejects(engine.attention({ model, image: img, classId: 3, layer: 0, head: 7 }), bad);
    const { runId } = await engine.generationStart({ model, settings: SETTINGS });
    await assert.rejects(engine.generationStep({ runId, scaleIndex: 10 }), bad);
    await assert.rejects(engine.generationStep({ runId: 'nope' }), (e: unknown) => e instanceof VarScopeError && e.code === 'Cancelled');
  });

  it('evaluate with the null class and attention head-mean run on the same tokenization', async () => {
    const img = { path: fixture('img2.png') };
    const ev = await engine.evaluate({ model, image: img, classId: 1000 });
    assert.strictEqual(ev.classId, 1000);
    assert.strictEqual(ev.scales.length, 10);
    ev.scales.forEach((s) => assert.ok(s.nll > 0 && s.accuracy >= 0 && s.accuracy <= 1 && s.topK.ids.length === s.pn * s.pn * 5));
    const at = await engine.attention({ model, image: img, classId: 1000, layer: 1, head: 'mean' });
    assert.strictEqual(at.weights.length, 680 * 680);
  });
});
