/**
 * An Infinity model's bit usage over a folder (Engine.folderUsage on an Infinity bundle): the per-image usage of
 * every image (inspectBits) summed, its different codes the union of theirs; unreadable files listed; progress
 * streamed; a cancel stops between images.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Engine } from '../../../../src/engine/engine';
import type { EngineEvents } from '../../../../src/shared/engineApi';
import type { BitsInspectResult, BitUsage } from '../../../../src/shared/results';
import { fixture } from '../../fixtures';
import { infinityBundle, infinityFixture } from '../../infinityFixtures';

describe('bit usage of a folder (Infinity folderUsage)', function () {
  this.timeout(300000);
  const events: Array<EngineEvents['folderUsage']> = [];
  let engine: Engine;
  let dir: string;
  const model = () => infinityBundle('infinity-A');

  before(async () => {
    engine = new Engine((name, payload) => {
      if (name !== 'folderUsage') return;
      const e = payload as EngineEvents['folderUsage'];
      events.push(e);
      if (e.runId === 'bits-cancel' && !e.finished) void engine.cancel({ runId: e.runId }); // after the first image
    });
    await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-bits-folder-'));
    // Fixture A's image and a VAR fixture image (256², both at A's 1:1 schedule); fixture B's image is 3:4, a ratio
    // fixture A has no schedule near, and a file that is no PNG: both listed as failed.
    fs.copyFileSync(infinityFixture('infinity-A', 'image.png'), path.join(dir, 'a.png'));
    fs.mkdirSync(path.join(dir, 'more'));
    fs.copyFileSync(fixture('img2.png'), path.join(dir, 'more', 'b.png'));
    fs.copyFileSync(infinityFixture('infinity-B', 'image.png'), path.join(dir, 'more', 'c.png'));
    fs.writeFileSync(path.join(dir, 'broken.png'), 'not a png');
  });
  after(async () => {
    await engine?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sums the per-image counts; its different codes are the union of the images’ codes', async () => {
    const r = await engine.folderUsage({ model: model(), runId: 'bits-folder', folder: dir, every: 1 });
    const u = r.usage as BitUsage;
    assert.strictEqual(u.kind, 'bits');
    assert.deepStrictEqual(
      r.failed.map((f) => path.basename(f.file)),
      ['broken.png', 'c.png'],
    );
    assert.match(r.failed[1].message, /no schedule near h:w 0\.750/);
    assert.deepStrictEqual([r.cancelled, u.images, u.schedules], [false, 2, ['hw1.000-0.06M']]);
    const each: BitsInspectResult[] = [];
    for (const f of [path.join(dir, 'a.png'), path.join(dir, 'more', 'b.png')])
      each.push(await engine.inspectBits({ model: model(), image: { path: f } }));
    const d = u.bits;
    const key = (bits: Uint8Array, t: number) => Array.from(bits.subarray(t * d, (t + 1) * d)).join('');
    const all = new Set<string>();
    u.perScale.forEach((s, k) => {
      const ones = new Array(d).fill(0);
      const codes = new Set<string>();
      for (const r1 of each) {
        r1.usage.perScale[k].ones.forEach((v, j) => (ones[j] += v));
        const bits = r1.scales[k].bits;
        for (let t = 0; t < bits.length / d; t++) codes.add(key(bits, t));
      }
      codes.forEach((c) => all.add(c));
      assert.deepStrictEqual(Array.from(s.ones), ones, `scale ${k} ones`);
      assert.strictEqual(s.tokens, each[0].usage.perScale[k].tokens + each[1].usage.perScale[k].tokens, `scale ${k} tokens`);
      assert.strictEqual(s.distinct, codes.size, `scale ${k} different codes`);
      s.balance.forEach((b, j) => assert.strictEqual(b, ones[j] / s.tokens));
    });
    assert.strictEqual(u.distinct, all.size);
    assert.ok(u.distinct > Math.max(each[0].usage.distinct, each[1].usage.distinct), 'the second image adds codes');
    // The image A's own usage is fixture A's bits: 505 different codes (test/unit/engine/analysis/bitStats.test.ts).
    assert.strictEqual(each[0].usage.distinct, 505);
    // Streamed after every image counted (`done` counts the files listed, a failed one included), the last one
    // finished with the result's counts.
    const mine = events.filter((e) => e.runId === 'bits-folder');
    assert.deepStrictEqual(
      mine.map((e) => [e.done, e.finished]),
      [
        [1, false],
        [3, false],
        [4, true],
      ],
    );
    assert.deepStrictEqual(mine[mine.length - 1].usage, u);
  });

  it('a run cancelled after its first image stops there', async () => {
    const r = await engine.folderUsage({ model: model(), runId: 'bits-cancel', folder: dir, every: 1 });
    assert.deepStrictEqual([r.cancelled, r.usage.images, r.failed.length], [true, 1, 0]);
  });
});
