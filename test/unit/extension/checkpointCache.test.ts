/**
 * The checkpoint cache: content hashes remembered by path + size + mtime, a bundle appears only whole, and a
 * cancelled real export (the fixture checkpoints through /usr/bin/python3) leaves the cache as it was and no
 * process behind. Clear frees what it says.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { VarScopeError } from '../../../src/shared/errors';
import {
  describeCheckpoints,
  exportCheckpoint,
  parseExportLine,
  pythonPackageDir,
  type ExportStage,
} from '../../../src/client/checkpointExport';
import { CheckpointCache, folderBytes } from '../../../src/extension/checkpointCache';
import { fixture, ROOT } from '../fixtures';

/** An in-memory Memento. */
function memo() {
  const m = new Map<string, unknown>();
  return { get: <T>(k: string) => m.get(k) as T | undefined, update: (k: string, v: unknown) => void m.set(k, v), map: m };
}

/** Process ids whose command line mentions `text` (ps, this user's processes). */
function processesMentioning(text: string): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.includes(text) && !l.includes('ps -eo'))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

describe('checkpoint cache', function () {
  this.timeout(300000);
  let tmp: string;
  const run = () => ({ python: '/usr/bin/python3', packageDir: pythonPackageDir(ROOT), nodePath: process.execPath });

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-cache-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('hashes a file once per size and mtime', async () => {
    const m = memo();
    const cache = new CheckpointCache(path.join(tmp, 'c1'), m, 'v1');
    const file = path.join(tmp, 'a.pth');
    fs.writeFileSync(file, 'first contents');
    const h1 = await cache.hashFile(file);
    assert.strictEqual(h1, createHash('sha256').update('first contents').digest('hex'));
    // Same size and mtime: the memo answers (a changed memo entry proves the file was not read again).
    const stamps = m.get<Record<string, string>>('varscope.checkpointHashes')!;
    const stamp = Object.keys(stamps)[0];
    m.update('varscope.checkpointHashes', { [stamp]: 'remembered' });
    assert.strictEqual(await cache.hashFile(file), 'remembered');
    // New contents and mtime: hashed again, the old stamp dropped.
    fs.writeFileSync(file, 'second contents!');
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    assert.strictEqual(await cache.hashFile(file), createHash('sha256').update('second contents!').digest('hex'));
    assert.strictEqual(Object.keys(m.get<Record<string, string>>('varscope.checkpointHashes')!).length, 1);
    assert.notStrictEqual(cache.keyOf('a', 'b'), cache.keyOf('b', 'a'));
    assert.notStrictEqual(cache.keyOf('a', 'b'), new CheckpointCache(tmp, m, 'v2').keyOf('a', 'b'));
  });

  it('keeps a bundle only when its producer succeeded, and clear reports what it freed', async () => {
    const cache = new CheckpointCache(path.join(tmp, 'c2'), memo(), 'v1');
    const good = await cache.build('a'.repeat(24), async (out) => {
      fs.mkdirSync(out);
      fs.writeFileSync(path.join(out, 'varscope.json'), '{}');
      fs.writeFileSync(path.join(out, 'weights.bin'), Buffer.alloc(1000));
    });
    assert.ok(cache.has('a'.repeat(24)));
    await assert.rejects(
      cache.build('b'.repeat(24), async (out) => {
        fs.mkdirSync(out);
        fs.writeFileSync(path.join(out, 'weights.bin'), Buffer.alloc(500));
        throw new Error('export failed halfway');
      }),
      /export failed halfway/,
    );
    assert.deepStrictEqual(fs.readdirSync(cache.root), ['a'.repeat(24)]);
    assert.deepStrictEqual(cache.usage(), { entries: 1, bytes: 1002 });
    fs.writeFileSync(path.join(cache.root, 'not-ours.txt'), 'keep me');
    // Temporary folders: one left by a crash a week ago goes, a fresh one (another window's export) stays.
    const stale = path.join(cache.root, '.tmp-0a0a0a');
    const fresh = path.join(cache.root, '.tmp-0b0b0b');
    for (const d of [stale, fresh]) {
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, 'part'), Buffer.alloc(10));
    }
    const weekAgo = new Date(Date.now() - 7 * 24 * 3600 * 1000);
    fs.utimesSync(stale, weekAgo, weekAgo);
    assert.deepStrictEqual(cache.clear(), { entries: 1, bytes: 1012 });
    assert.ok(!fs.existsSync(good));
    assert.deepStrictEqual(
      fs.readdirSync(cache.root).sort(),
      ['.tmp-0b0b0b', 'not-ours.txt'],
      'clear removes only what the cache made, and no export in flight',
    );
  });

  it('reads which models a file holds', async () => {
    const junk = path.join(tmp, 'junk.pth');
    fs.writeFileSync(junk, Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 256)));
    const d = await describeCheckpoints(run(), [fixture('var.pth'), fixture('vae.pth'), junk]);
    assert.deepStrictEqual(
      d.map((f) => f.roles),
      [['var'], ['vae'], []],
    );
    assert.match(d[2].error!, /not a PyTorch checkpoint/);
    assert.doesNotMatch(d[2].error!, /weights_only/);
  });

  it('a cancelled export leaves the cache intact and no process behind', async () => {
    const cache = new CheckpointCache(path.join(tmp, 'c3'), memo(), 'v1');
    const kept = await cache.build('c'.repeat(24), async (out) => {
      fs.mkdirSync(out);
      fs.writeFileSync(path.join(out, 'varscope.json'), '{"kept":true}');
    });
    const before = folderBytes(cache.root);
    const abort = new AbortController();
    const stages: ExportStage[] = [];
    const marker = `cancel-${process.pid}-${Date.now()}`;
    await assert.rejects(
      cache.build('d'.repeat(24), (out) =>
        exportCheckpoint(
          { ...run(), signal: abort.signal },
          {
            vae: fixture('vae.pth'),
            var: fixture('var.pth'),
            out,
            id: marker,
            name: marker,
            onStage: (s) => {
              stages.push(s);
              if (s.stage === 'graph' && s.k === 2) abort.abort(); // mid-export: graph 1 is on disk
            },
          },
        ),
      ),
      (e: unknown) => e instanceof VarScopeError && e.code === 'Cancelled',
    );
    assert.deepStrictEqual(
      stages.map((s) => s.stage),
      ['load', 'config', 'graph', 'graph'],
    );
    assert.strictEqual(stages[2].message, 'export graph 1 of 7 (encoder)');
    assert.deepStrictEqual(fs.readdirSync(cache.root), ['c'.repeat(24)], 'no new entry, no temporary folder');
    assert.strictEqual(fs.readFileSync(path.join(kept, 'varscope.json'), 'utf8'), '{"kept":true}');
    assert.strictEqual(folderBytes(cache.root), before);
    assert.deepStrictEqual(processesMentioning(marker), [], 'the exporter process group was killed');
  });

  it('parses every stage line the exporter prints', () => {
    assert.deepStrictEqual(parseExportLine('exporting transformerStep.onnx (graph 6 of 6)'), {
      stage: 'graph',
      message: 'export graph 6 of 6 (transformerStep)',
      k: 6,
      n: 6,
    });
    assert.strictEqual(parseExportLine('loading a.pth and b.pth')?.stage, 'load');
    assert.strictEqual(parseExportLine('config: {}')?.stage, 'config');
    assert.strictEqual(parseExportLine('computing PyTorch reference outputs')?.stage, 'verify');
    assert.strictEqual(parseExportLine('ok: bundle x verified and written to y in 3.0 s')?.stage, 'done');
    assert.strictEqual(parseExportLine('  encoder.f: max abs diff 1e-7'), undefined);
  });
});
