/**
 * Watch mode's logic without a trainer or an engine: which versions of a run's files are read and when (RunFollower),
 * and what becomes of each (RunWatch): evaluated once, at its epoch, kept in the run's timeline file across restarts,
 * its bundle deleted; a half-written file waited for, never reported; a copy (ar-ckpt-best of ar-ckpt-last) not
 * evaluated twice. The real trainer's format and the real engine are in the integration layer (watchRun.test.ts).
 */
import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  headline,
  removeAbandonedBundles,
  RUN_TIMELINE,
  RunWatch,
  type MadeBundle,
  type RunWatchEvent,
} from '../../../src/client/runWatch';
import { RunFollower } from '../../../src/node/runFollower';
import type { ConsistencyWarning } from '../../../src/shared/consistency';
import type { DatasetEvaluation } from '../../../src/shared/evaluation';
import { varEvaluationOf } from '../../../src/shared/modelFamily';
import { bitsEvaluationOf, evaluationOf } from '../shared/evaluationFixture';

/** A stand-in checkpoint format: whole when it ends with END, and it says its epoch. */
const whole = async (file: string) => fs.readFileSync(file, 'utf8').endsWith('END');
const epochOf = (file: string) => Number(/epoch=(\d+)/.exec(fs.readFileSync(file, 'utf8'))?.[1]);

/** Writes `text` with an mtime `ago` ms in the past (a file written earlier) or now. */
function write(file: string, text: string, ago = 0): void {
  fs.writeFileSync(file, text);
  if (ago) {
    const t = new Date(Date.now() - ago);
    fs.utimesSync(file, t, t);
  }
}

describe('RunFollower', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-follow-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reports a file once it stayed unchanged for the settle time and is whole; a rewrite is a new version', async () => {
    const f = new RunFollower(dir, { settleMs: 1000, isComplete: whole });
    const file = path.join(dir, 'ar-ckpt-last.pth');
    write(file, 'epoch=1 END');
    const t = Date.now();
    assert.deepStrictEqual(await f.poll(t), [], 'just written: not settled');
    const [v] = await f.poll(t + 1500);
    assert.strictEqual(v.file, file);
    assert.strictEqual(v.kind, 'file');
    assert.deepStrictEqual(await f.poll(t + 3000), [], 'the same version is reported once');
    write(file, 'epoch=2 and more END');
    assert.deepStrictEqual(await f.poll(Date.now()), []);
    const [v2] = await f.poll(Date.now() + 1500);
    assert.strictEqual(v2.stamp.size, 'epoch=2 and more END'.length);
  });

  it('waits for a half-written file, however long it stays half-written, and reports it once whole', async () => {
    const f = new RunFollower(dir, { settleMs: 1000, isComplete: whole });
    const file = path.join(dir, 'ar-ckpt-last.pth');
    write(file, 'epoch=3 half', 60000); // a save killed halfway a minute ago
    assert.deepStrictEqual(await f.poll(), []);
    assert.deepStrictEqual(await f.poll(Date.now() + 60000), []);
    write(file, 'epoch=3 whole END', 5000);
    const found = await f.poll();
    assert.deepStrictEqual(
      found.map((v) => v.file),
      [file],
    );
  });

  it('a file already there (old mtime) is reported at the first look; only checkpoint files and bundles count', async () => {
    write(path.join(dir, 'a.pth'), 'END', 10000);
    write(path.join(dir, 'b.safetensors'), 'END', 10000);
    write(path.join(dir, 'log.txt'), 'END', 10000);
    fs.mkdirSync(path.join(dir, 'bundle-step10'));
    write(path.join(dir, 'bundle-step10', 'varscope.json'), '{}', 10000);
    const f = new RunFollower(dir, { settleMs: 1000, isComplete: whole });
    const found = await f.poll();
    assert.deepStrictEqual(
      found.map((v) => [path.basename(v.file), v.kind]),
      [
        ['a.pth', 'file'],
        ['b.safetensors', 'file'],
        ['bundle-step10', 'bundle'],
      ],
    );
  });

  it('retry() looks at a version again (its read found it changed meanwhile)', async () => {
    write(path.join(dir, 'a.pth'), 'END', 10000);
    const f = new RunFollower(dir, { settleMs: 1000, isComplete: whole });
    const [v] = await f.poll();
    f.retry(v);
    assert.strictEqual((await f.poll()).length, 1);
  });
});

describe('RunWatch', () => {
  let root: string;
  let run: string;
  let work: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-runwatch-'));
    run = path.join(root, 'run');
    work = path.join(root, 'work');
    fs.mkdirSync(run);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  /** What every bundle of the watch below says about its checkpoint. */
  const PATCH_NUMS_WARNING: ConsistencyWarning = { check: 'patchNums', model: "args.pn '1_2'", given: 'patchNums (1, 2, 3)', message: 'm' };

  /** A watch whose bundles are folders saying their epoch, evaluated to an accuracy of epoch / 10 at every scale. */
  function watch(events: RunWatchEvent[], failOnce = new Set<string>()) {
    const bundlesSeen: string[] = [];
    return {
      bundlesSeen,
      w: new RunWatch({
        runDir: run,
        workDir: work,
        settleMs: 0,
        isComplete: whole,
        makeBundle: async (file, out): Promise<MadeBundle> => {
          if (failOnce.delete(file)) throw new Error(`${file}: the file changed while it was read`);
          fs.mkdirSync(out, { recursive: true });
          fs.writeFileSync(path.join(out, 'varscope.json'), '{}');
          return { epoch: epochOf(file), iter: 0, via: 'template', ms: 1, warnings: [PATCH_NUMS_WARNING] };
        },
        evaluate: async (model): Promise<DatasetEvaluation> => {
          bundlesSeen.push(model);
          assert.ok(fs.existsSync(path.join(model, 'varscope.json')), 'the bundle exists while it is evaluated');
          return evaluationOf({ step: null, accuracy: bundlesSeen.length / 10 });
        },
        onEvent: (e) => events.push(e),
      }),
    };
  }

  it('evaluates each version once at its epoch, keeps no bundle, and says the change in one line', async () => {
    const events: RunWatchEvent[] = [];
    const { w, bundlesSeen } = watch(events);
    const last = path.join(run, 'ar-ckpt-last.pth');
    write(last, 'epoch=1 END', 5000);
    await w.step(new AbortController().signal);
    write(last, 'epoch=2 weights moved END', 5000);
    await w.step(new AbortController().signal);
    fs.copyFileSync(last, path.join(run, 'ar-ckpt-best.pth')); // best = a copy of last: the same weights
    await w.step(new AbortController().signal);
    const evaluated = events.flatMap((e) => (e.kind === 'evaluated' ? [e] : []));
    assert.deepStrictEqual(
      evaluated.map((e) => [e.evaluation.model.step, e.evaluation.model.checkpoint?.epoch]),
      [
        [1, 1],
        [2, 2],
      ],
    );
    const last1 = varEvaluationOf(evaluated[1].evaluation, 'test').scales.at(-1)!;
    assert.strictEqual(evaluated[1].headline, `epoch 2: ${last1.pn}×${last1.pn} accuracy 20.0 % (+10.0)`);
    const same = events.find((e) => e.kind === 'same');
    assert.ok(same && same.kind === 'same' && /ar-ckpt-last\.pth epoch 2/.test(same.sameAs), JSON.stringify(same));
    for (const b of bundlesSeen) assert.ok(!fs.existsSync(b), `${b} was deleted`);
    assert.deepStrictEqual(fs.readdirSync(work), []);
  });

  it('the timeline persists (with the consistency warnings of each version): a new watch on the same folder starts with the history and skips what it evaluated', async () => {
    const events: RunWatchEvent[] = [];
    write(path.join(run, 'ar-ckpt-last.pth'), 'epoch=4 END', 5000);
    await watch(events).w.step(new AbortController().signal);
    assert.ok(fs.existsSync(path.join(run, RUN_TIMELINE)));
    const again: RunWatchEvent[] = [];
    const second = watch(again);
    assert.deepStrictEqual(
      second.w.history().map((e) => [e.model.step, varEvaluationOf(e, 'test').warnings]),
      [[4, [PATCH_NUMS_WARNING]]],
    );
    await second.w.step(new AbortController().signal);
    assert.deepStrictEqual(
      again.map((e) => e.kind),
      ['same'],
    );
  });

  it('a read that found the file changing is retried, not reported as failed', async () => {
    const events: RunWatchEvent[] = [];
    const file = path.join(run, 'ar-ckpt-last.pth');
    write(file, 'epoch=5 END', 5000);
    const { w } = watch(events, new Set([file]));
    await w.step(new AbortController().signal);
    assert.deepStrictEqual(
      events.map((e) => e.kind),
      ['started'],
    );
    await w.step(new AbortController().signal);
    assert.deepStrictEqual(
      events.map((e) => e.kind),
      ['started', 'started', 'evaluated'],
    );
  });

  it('a broken checkpoint is one failed event naming the file', async () => {
    const events: RunWatchEvent[] = [];
    const w = new RunWatch({
      runDir: run,
      workDir: work,
      settleMs: 0,
      isComplete: whole,
      makeBundle: async () => {
        throw new Error('archive/data.pkl: the pickle calls os.system, which is not allowed');
      },
      evaluate: async () => assert.fail('nothing to evaluate'),
      onEvent: (e) => events.push(e),
    });
    write(path.join(run, 'bad.pth'), 'END', 5000);
    await w.step(new AbortController().signal);
    const failed = events.find((e) => e.kind === 'failed');
    assert.ok(failed && failed.kind === 'failed');
    assert.strictEqual(failed.message, 'bad.pth: archive/data.pkl: the pickle calls os.system, which is not allowed');
  });

  it('an Infinity run: each ar-ckpt at its global iteration, bit and token accuracy in the headline; a VAR version is refused, not added', async () => {
    const events: RunWatchEvent[] = [];
    const w = new RunWatch({
      runDir: run,
      workDir: work,
      settleMs: 0,
      isComplete: whole,
      makeBundle: async (file, out): Promise<MadeBundle> => {
        fs.mkdirSync(out, { recursive: true });
        const [, epoch, iter] = /-ep(\d+)-iter(\d+)-/.exec(file)!.map(Number);
        return { epoch, iter, step: epoch * 1000 + iter, via: 'python', ms: 1 };
      },
      evaluate: async (_model, name) =>
        name.includes('var')
          ? evaluationOf({ step: null, accuracy: 0.5 })
          : bitsEvaluationOf({ step: null, bitAccuracy: name.includes('ep0') ? 0.6 : 0.65 }),
      onEvent: (e) => events.push(e),
    });
    write(path.join(run, 'ar-ckpt-giter000K-ep0-iter500-last.pth'), 'a END', 5000);
    await w.step(new AbortController().signal);
    write(path.join(run, 'ar-ckpt-giter001K-ep1-iter200-last.pth'), 'b END', 5000);
    await w.step(new AbortController().signal);
    write(path.join(run, 'var-ckpt-ep2-iter0-.pth'), 'c END', 5000);
    await w.step(new AbortController().signal);
    const said = events.flatMap((e) => (e.kind === 'evaluated' ? [e.headline] : e.kind === 'failed' ? [e.message] : []));
    assert.deepStrictEqual(said, [
      'epoch 0, iter 500: 2×2 bit accuracy 60.0 %, token accuracy 30.0 %',
      'epoch 1, iter 200: 2×2 bit accuracy 65.0 % (+5.0), token accuracy 32.5 % (+2.5)',
      "var-ckpt-ep2-iter0-.pth epoch 2 is a VAR checkpoint and ar-ckpt-giter000K-ep0-iter500-last.pth epoch 0, iter 500 an Infinity one: a timeline's checkpoints are of one family",
    ]);
    assert.deepStrictEqual(
      w.history().map((e) => [e.family, e.model.step, e.model.checkpoint?.epoch, e.model.checkpoint?.iter]),
      [
        ['infinity', 500, 0, 500],
        ['infinity', 1200, 1, 200],
      ],
    );
    const saved = JSON.parse(fs.readFileSync(path.join(run, RUN_TIMELINE), 'utf8'));
    assert.deepStrictEqual(
      saved.evaluations.map((e: { family: string; model: { step: number } }) => [e.family, e.model.step]),
      [
        ['infinity', 500],
        ['infinity', 1200],
      ],
    );
  });

  it('headline: without an earlier version there is no delta; a drop shows a minus', () => {
    const a = evaluationOf({ step: 3, accuracy: 0.5 });
    const b = evaluationOf({ step: 4, accuracy: 0.25 });
    const pn = a.scales.at(-1)!.pn;
    assert.strictEqual(headline(a, undefined), `step 3: ${pn}×${pn} accuracy ${(a.scales.at(-1)!.accuracy * 100).toFixed(1)} %`);
    assert.match(headline(b, a), /\(−/);
  });
});

describe('removeAbandonedBundles', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-scratch-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("removes the scratch bundles of processes that are gone, keeps a live process's and other folders", () => {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!; // a process that has exited
    for (const name of [`bundle-${gone}-a1`, `bundle-${process.pid}-b2`, 'bundle-x', 'other'])
      fs.mkdirSync(path.join(dir, name, 'bundle'), { recursive: true });
    assert.deepStrictEqual(removeAbandonedBundles(dir), [`bundle-${gone}-a1`]);
    assert.deepStrictEqual(fs.readdirSync(dir).sort(), [`bundle-${process.pid}-b2`, 'bundle-x', 'other']);
    assert.deepStrictEqual(removeAbandonedBundles(path.join(dir, 'absent')), []);
  });
});
