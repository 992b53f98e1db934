/**
 * `varscope evaluate --shard K/N` and `varscope merge` end to end (bin/varscope.js on the tsc build): four parts of a
 * small ImageFolder, merged, are the JSON and CSV of one run over the whole folder, number for number (with free running
 * too); the extension
 * opens the merged file; every bad input is refused with one line that names what is wrong.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { shardOf } from '../../../src/engine/dataset/shards';
import { datasetFiles } from '../../../src/extension/datasetFiles';
import type { DatasetEvaluation } from '../../../src/shared/evaluation';
import { defaultModelImages, ROOT, runCli } from '../fixtures';

const MODEL = path.join(ROOT, 'models', 'emoji64-d4');
const EARLY = path.join(ROOT, 'models', 'emoji64-d4-early');

/** The fields of a result that name its run rather than measure the folder: the merge adds up the parts' durations. */
const RUN_FIELDS = ['elapsedMs'] as const;

type Json = DatasetEvaluation & { provider: string; imagesFailed?: number };

const read = (file: string): Json => JSON.parse(fs.readFileSync(file, 'utf8'));
const withoutRun = (j: Json) => ({ ...j, ...Object.fromEntries(RUN_FIELDS.map((f) => [f, undefined])) });

describe('evaluate --shard K/N and merge', function () {
  this.timeout(600000);
  let tmp: string;
  let dir: string;
  const part = (k: number, n = 4) => path.join(tmp, `part-${k}-of-${n}.json`);
  const evaluate = (...args: string[]) => {
    const r = runCli(['evaluate', dir, '--model', MODEL, '--labels-from-subfolders', '--provider', 'cpu', '--threads', '1', ...args]);
    assert.strictEqual(r.code, 0, r.stderr);
  };
  /** `merge FILES` refused: exit 1 and one line. */
  const refusal = (...files: string[]): string => {
    const r = runCli(['merge', ...files, '--json', path.join(tmp, 'refused.json')]);
    assert.strictEqual(r.code, 1, `${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /^varscope merge: [^\n]+\n$/);
    assert.ok(!fs.existsSync(path.join(tmp, 'refused.json')));
    return r.stderr.slice('varscope merge: '.length, -1);
  };
  /** A copy of part `k` changed by `edit`. */
  const edited = (k: number, name: string, edit: (j: Json) => void): string => {
    const j = read(part(k));
    edit(j);
    const file = path.join(tmp, name);
    fs.writeFileSync(file, JSON.stringify(j));
    return file;
  };
  const parts = () => [0, 1, 2, 3].map((k) => part(k));

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-merge-'));
    dir = path.join(tmp, 'images');
    // Eight emoji (two, each as it is, mirrored, rotated, flipped) in their class folders, one unreadable file, one
    // image outside the class folders (left out): every shard of 4 holds at least one image.
    for (const img of defaultModelImages()) {
      const sub = path.join(dir, img.className);
      fs.mkdirSync(sub, { recursive: true });
      await sharp(img.path).png().toFile(path.join(sub, 'a.png'));
      await sharp(img.path).flop().png().toFile(path.join(sub, 'b.png'));
      await sharp(img.path).rotate(90).png().toFile(path.join(sub, 'c.png'));
      await sharp(img.path).flip().png().toFile(path.join(sub, 'd.png'));
    }
    fs.writeFileSync(path.join(dir, defaultModelImages()[0].className, 'broken.png'), 'not a png');
    fs.copyFileSync(defaultModelImages()[0].path, path.join(dir, 'unlabelled.png'));
    evaluate('--batch', '3', '--json', path.join(tmp, 'single.json'), '--csv', path.join(tmp, 'single.csv'));
    for (let k = 0; k < 4; k++) evaluate('--shard', `${k}/4`, '--json', part(k));
  });
  after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

  it('each part holds the images whose path hashes to it, and only those', () => {
    const single = read(path.join(tmp, 'single.json'));
    assert.strictEqual(single.images, 8);
    assert.strictEqual(single.failed.length, 1);
    const all = [...single.perImage.map((r) => r.file), ...single.failed.map((f) => f.file)];
    for (let k = 0; k < 4; k++) {
      const p = read(part(k));
      const mine = all.filter((f) => shardOf(path.relative(dir, f).split(path.sep).join('/'), 4) === k);
      assert.ok(p.images > 0, `shard ${k} is empty`);
      assert.deepStrictEqual([...p.perImage.map((r) => r.file), ...p.failed.map((f) => f.file)].sort(), mine.sort());
      assert.deepStrictEqual(
        p.shard!.stats.map((s) => s.file),
        p.perImage.map((r) => r.file),
      );
      assert.deepStrictEqual(
        { index: p.shard!.index, count: p.shard!.count, listed: p.shard!.listing.images },
        { index: k, count: 4, listed: 9 },
      );
    }
  });

  it('4 parts merged are one run over the folder, number for number (JSON and both CSV files); the extension opens the result', () => {
    const merged = path.join(tmp, 'merged.json');
    const csv = path.join(tmp, 'merged.csv');
    const imagesCsv = path.join(tmp, 'merged-images.csv');
    // given in any order
    const r = runCli(['merge', part(2), part(0), part(3), part(1), '--json', merged, '--csv', csv, '--images-csv', imagesCsv]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(r.stderr, /^varscope merge: 1 of 9 image files failed/); // as `evaluate` says it
    const one = read(path.join(tmp, 'single.json'));
    const m = read(merged);
    assert.deepStrictEqual(withoutRun(m), withoutRun(one));
    assert.strictEqual(m.shard, undefined);
    assert.strictEqual(
      m.elapsedMs,
      parts().reduce((a, p) => a + read(p).elapsedMs, 0),
    );
    assert.strictEqual(fs.readFileSync(csv, 'utf8'), fs.readFileSync(path.join(tmp, 'single.csv'), 'utf8'));
    const singleImages = runCli(['merge', ...parts(), '--json', path.join(tmp, 'again.json'), '--images-csv', path.join(tmp, 'again.csv')]);
    assert.strictEqual(singleImages.code, 0, singleImages.stderr);
    assert.strictEqual(fs.readFileSync(imagesCsv, 'utf8'), fs.readFileSync(path.join(tmp, 'again.csv'), 'utf8'));
    assert.strictEqual(fs.readFileSync(imagesCsv, 'utf8').trim().split('\n').length, 9);
    // Open Evaluation Results… reads it as one evaluation, per-image rows included; a part opens too
    const [opened] = datasetFiles.read(merged);
    assert.deepStrictEqual(opened, m);
    assert.strictEqual(opened.perImage.length, 8);
    assert.strictEqual(datasetFiles.read(part(1))[0].images, read(part(1)).images);
  });

  it('with --free-running (both modes): 4 parts merged are one run, curves and CSV included; other free-running settings are refused', () => {
    // The first four files (--limit 4: three images and the unreadable one) keep the continuations' cost down.
    const free = (k: number | null) => path.join(tmp, k === null ? 'free-single.json' : `free-part-${k}.json`);
    const run = (...args: string[]) => {
      const r = runCli(
        ['evaluate', dir, '--model', MODEL, '--labels-from-subfolders', '--provider', 'cpu', '--limit', '4', '--free-running', ...args],
        {},
        1800000,
      );
      assert.strictEqual(r.code, 0, r.stderr);
    };
    run('--json', free(null), '--free-running-csv', path.join(tmp, 'free-single.csv'));
    for (let k = 0; k < 4; k++) run('--shard', `${k}/4`, '--json', free(k));
    const merged = path.join(tmp, 'free-merged.json');
    const csv = path.join(tmp, 'free-merged.csv');
    const r = runCli(['merge', ...[3, 1, 0, 2].map(free), '--json', merged, '--free-running-csv', csv]);
    assert.strictEqual(r.code, 0, r.stderr);
    const one = read(free(null));
    const m = read(merged);
    assert.deepStrictEqual(withoutRun(m), withoutRun(one));
    assert.deepStrictEqual(m.freeRunning!.modes, ['sampled', 'greedy']);
    assert.strictEqual(m.freeRunning!.classSource, 'labels');
    assert.strictEqual(m.images, 3);
    assert.strictEqual(m.freeRunning!.generations, 3 * 9 * 2);
    assert.strictEqual(m.freeRunning!.perImage.length, 3);
    assert.strictEqual(fs.readFileSync(csv, 'utf8'), fs.readFileSync(path.join(tmp, 'free-single.csv'), 'utf8'));
    assert.strictEqual(fs.readFileSync(csv, 'utf8').trim().split('\n').length, 1 + 2 * 45);
    const settings = 'sampled,greedy (cfg 3.5, top-k 100, top-p 0.95, seed 0, labels)';
    const [p0, p2, p3] = [0, 2, 3].map(free);
    const edit = (name: string, fn: (j: Json) => void) => {
      const j = read(free(1));
      fn(j);
      const file = path.join(tmp, name);
      fs.writeFileSync(file, JSON.stringify(j));
      return file;
    };
    const greedyOnly = edit(
      'free-greedy.json',
      (j) => (j.shard!.settings.freeRunning = { ...j.shard!.settings.freeRunning!, modes: ['greedy'] }),
    );
    assert.strictEqual(
      refusal(p0, greedyOnly, p2, p3),
      `${p0} and ${greedyOnly} differ in the --free-running: ${settings} vs greedy (cfg 3.5, top-k 100, top-p 0.95, seed 0, labels)`,
    );
    const none = edit('free-none.json', (j) => delete j.shard!.settings.freeRunning);
    assert.strictEqual(refusal(p0, none, p2, p3), `${p0} and ${none} differ in the --free-running: ${settings} vs none`);
    const unrun = edit('free-unrun.json', (j) => delete j.shard!.stats[0].freeRunning);
    assert.strictEqual(
      refusal(p0, unrun),
      `${unrun} has a damaged "shard" (its stats of ${read(free(1)).shard!.stats[0].file}): write it again with varscope evaluate --shard K/N`,
    );
  });

  it('--shard that is not K/N with 0 <= K < N is a usage error', () => {
    for (const [value, message] of [
      ['4/4', /--shard 4\/4: K must be 0 … N-1/],
      ['0/0', /--shard 0\/0: K must be 0 … N-1/],
      ['1', /--shard must be K\/N \(shard K of N, counted from 0\), got "1"/],
      ['-1/4', /--shard must be K\/N/],
    ] as const) {
      const r = runCli(['evaluate', dir, '--model', MODEL, '--shard', value, '--json', path.join(tmp, 'x.json')]);
      assert.strictEqual(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    }
  });

  it('refuses parts of another model, naming both', () => {
    const other = path.join(tmp, 'early-1.json');
    const r = runCli([
      'evaluate',
      dir,
      '--model',
      EARLY,
      '--labels-from-subfolders',
      '--provider',
      'cpu',
      '--shard',
      '1/4',
      '--json',
      other,
    ]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(
      refusal(part(0), other, part(2), part(3)),
      new RegExp(
        `^${esc(part(0))} and ${esc(other)} differ in the model: emoji64-d4 \\(bundle [0-9a-f]{12}\\) vs emoji64-d4-early \\(bundle [0-9a-f]{12}\\)$`,
      ),
    );
  });

  it('refuses parts of other folders or settings, naming the difference', () => {
    const cases: Array<[string, (j: Json) => void, string]> = [
      ['folder', (j) => (j.folder = '/elsewhere/images'), `folder: ${dir} vs /elsewhere/images`],
      ['labels', (j) => (j.labels = { kind: 'class', classId: 3 }), 'labels: labels from sub-folders vs class 3'],
      ['limit', (j) => (j.shard!.settings.limit = 5), '--limit: none vs 5'],
      ['resize', (j) => (j.shard!.settings.resizeRatio = 1.125), '--resize-ratio: 1 vs 1.125'],
      ['pixels', (j) => (j.shard!.settings.maxImagePixels = 1000), `--max-pixels: ${read(part(0)).shard!.settings.maxImagePixels} vs 1000`],
      ['provider', (j) => (j.shard!.settings.provider = 'cuda'), 'provider: cpu vs cuda'],
      ['count', (j) => (j.shard!.count = 8), 'shard count: N = 4 vs N = 8'],
    ];
    for (const [name, edit, difference] of cases) {
      const changed = edited(1, `${name}.json`, edit);
      assert.strictEqual(refusal(part(0), changed, part(2), part(3)), `${part(0)} and ${changed} differ in the ${difference}`);
    }
    const listing = edited(1, 'listing.json', (j) => (j.shard!.listing = { images: 10, sha256: 'f'.repeat(64) }));
    assert.match(
      refusal(part(0), listing, part(2), part(3)),
      /differ in the listed images: 9 images, paths sha256 [0-9a-f]{12} vs 10 images, paths sha256 ffffffffffff$/,
    );
  });

  it("names a missing shard, refuses a shard given twice, a cancelled part, a part with another shard's image, a damaged part, and a file that is not a part", () => {
    assert.strictEqual(refusal(part(0), part(1), part(3)), 'shard 2/4 is missing (3 of 4 parts given)');
    assert.strictEqual(refusal(part(3), part(1)), 'shards 0/4, 2/4 are missing (2 of 4 parts given)');
    const copy = path.join(tmp, 'copy-of-2.json');
    fs.copyFileSync(part(2), copy);
    assert.strictEqual(refusal(...parts(), copy), `shard 2/4 is given twice: ${part(2)} and ${copy}`);
    const cancelled = edited(3, 'cancelled.json', (j) => (j.cancelled = true));
    assert.strictEqual(
      refusal(part(0), part(1), part(2), cancelled),
      `${cancelled} (shard 3/4) was cancelled before its end: run that shard again`,
    );
    const stray = read(part(1)).shard!.stats[0];
    const holding = edited(0, 'holding.json', (j) => j.shard!.stats.push(stray));
    assert.strictEqual(refusal(holding, part(1), part(2), part(3)), `${holding} (shard 0/4) holds ${stray.file}, an image of shard 1/4`);
    const single = path.join(tmp, 'single.json');
    assert.strictEqual(
      refusal(single, part(1)),
      `${single} is not a part of a split evaluation (it has no "shard": parts are written by varscope evaluate --shard K/N)`,
    );
    const damaged = edited(1, 'damaged.json', (j) => delete (j.shard as Partial<Json['shard']>)!.settings);
    assert.strictEqual(
      refusal(part(0), damaged),
      `${damaged} has a damaged "shard" (its settings): write it again with varscope evaluate --shard K/N`,
    );
    const short = edited(1, 'short.json', (j) => j.shard!.stats[0].tokens.pop());
    assert.strictEqual(
      refusal(part(0), short),
      `${short} has a damaged "shard" (its stats of ${read(part(1)).shard!.stats[0].file}): write it again with varscope evaluate --shard K/N`,
    );
    const absent = path.join(tmp, 'absent.json');
    assert.strictEqual(refusal(...parts(), absent), `cannot read ${absent}: ENOENT`);
  });
});

/** `s` as a literal inside a RegExp. */
function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
