/**
 * `evaluate` on an Infinity bundle (out/bundles/infinity-A): captions beside the images or from one JSONL, the folder's
 * per-scale bit and token accuracy equal to the per-image `evaluateBits` results averaged (every image at the one
 * schedule), images without a usable caption or schedule counted as failures, and a split run merged equal to one run.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { mergeParts } from '../../../../src/engine/dataset/shards';
import type { AnyDatasetEvaluation, BitsDatasetEvaluation, LabelSource } from '../../../../src/shared/evaluation';
import type { BitsEvalResult } from '../../../../src/shared/results';
import { VarScopeError } from '../../../../src/shared/errors';
import { requireBundle, ROOT } from '../../fixtures';
import { infinityBundle, infinityFixture, useFixtureEngine, writeFixtureCaption } from '../../infinityFixtures';

/** The result as an Infinity evaluation (a VAR one fails the test). */
function bitsOf(r: AnyDatasetEvaluation): BitsDatasetEvaluation {
  assert.strictEqual(r.family, 'infinity');
  return r as BitsDatasetEvaluation;
}

/** Mean of a field over images. */
const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Equal up to the rounding of summing in another order. */
function close(a: number, b: number, what: string): void {
  assert.ok(Math.abs(a - b) <= 1e-12, `${what}: ${a} vs ${b}`);
}

describe('evaluate on an Infinity bundle: captions, folder means, failures, shards (engine)', function () {
  this.timeout(300000);
  const env = useFixtureEngine('varscope-bits-folder-');
  let dir: string;
  let model: string;
  const labels: LabelSource = { kind: 'captions' };
  const run = async (req: { runId: string; labels?: LabelSource; shard?: { index: number; count: number } }) =>
    bitsOf(await env.engine.evaluateFolder({ model, folder: dir, labels, ...req }));

  before(() => {
    model = infinityBundle('infinity-A');
    dir = path.join(env.tmp, 'images');
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    const image = infinityFixture('infinity-A', 'image.png');
    fs.copyFileSync(image, path.join(dir, 'a.png'));
    writeFixtureCaption('infinity-A', 0, dir, 'a.npy');
    fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', 'default-model', 'img0.png'), path.join(dir, 'b.png'));
    writeFixtureCaption('infinity-A', 1, dir, 'b.npy');
    fs.writeFileSync(path.join(dir, 'b.txt'), 'features beside win over the prompt\n');
    fs.copyFileSync(image, path.join(dir, 'c.png'));
    fs.writeFileSync(path.join(dir, 'c.txt'), 'a prompt, which needs a text encoder\n');
    fs.copyFileSync(image, path.join(dir, 'd.png')); // no caption
    // h:w 0.75, and infinity-A has only the 1:1 schedule
    fs.copyFileSync(infinityFixture('infinity-B', 'image.png'), path.join(dir, 'sub', 'e.png'));
    writeFixtureCaption('infinity-A', 0, dir, path.join('sub', 'e.npy'));
  });

  it('folder means equal the per-image evaluateBits results averaged; images without a usable caption or schedule fail in one line each', async () => {
    const ev = await run({ runId: 'bits-1' });
    assert.strictEqual(ev.format, 'varscope-evaluation');
    assert.strictEqual(ev.bits, 16);
    assert.strictEqual(ev.images, 2);
    assert.deepStrictEqual(
      ev.perImage.map((r) => [path.basename(r.file), path.basename(r.caption), r.schedule]),
      [
        ['a.png', 'a.npy', 'hw1.000-0.06M'],
        ['b.png', 'b.npy', 'hw1.000-0.06M'],
      ],
    );
    assert.deepStrictEqual(
      ev.failed.map((f) => path.relative(dir, f.file)),
      ['c.png', 'd.png', path.join('sub', 'e.png')],
    );
    assert.match(ev.failed[0].message, /has no text encoder/);
    assert.match(
      ev.failed[1].message,
      /d\.png: no caption \(put d\.txt, the prompt, or d\.npy \/ \.safetensors, its T5 features, beside it\)$/,
    );
    assert.match(ev.failed[2].message, /has no schedule near h:w 0\.750/);
    const each: BitsEvalResult[] = [];
    for (const f of ['a', 'b'])
      each.push(
        await env.engine.evaluateBits({
          model,
          image: { path: path.join(dir, `${f}.png`) },
          text: { featuresFile: path.join(dir, `${f}.npy`) },
        }),
      );
    ev.perImage.forEach((row, i) => {
      assert.strictEqual(row.bitAccuracy, each[i].overall.bitAccuracy);
      assert.strictEqual(row.tokenAccuracy, each[i].overall.tokenAccuracy);
      row.scales.forEach((s, k) => {
        assert.strictEqual(s.bitAccuracy, each[i].scales[k].bitAccuracy, `image ${i} scale ${k}`);
        assert.strictEqual(s.tokenAccuracy, each[i].scales[k].tokenAccuracy, `image ${i} scale ${k}`);
      });
    });
    assert.strictEqual(ev.scales.length, 7);
    ev.scales.forEach((s, k) => {
      const [h, w] = [each[0].scales[k].h, each[0].scales[k].w];
      assert.strictEqual(s.tokens, 2 * h * w);
      close(s.bitAccuracy, meanOf(each.map((e) => e.scales[k].bitAccuracy)), `scale ${k} bits`);
      close(s.tokenAccuracy, meanOf(each.map((e) => e.scales[k].tokenAccuracy)), `scale ${k} tokens`);
      close(s.baselines.majority.bitAccuracy, meanOf(each.map((e) => e.scales[k].majorityBaseline.bitAccuracy)), `scale ${k} majority`);
      close(s.baselines.majority.tokenAccuracy, meanOf(each.map((e) => e.scales[k].majorityBaseline.tokenAccuracy)), `scale ${k} majority`);
      if (k === 0) assert.strictEqual(s.baselines.copyCoarser, null);
      else {
        close(
          s.baselines.copyCoarser!.bitAccuracy,
          meanOf(each.map((e) => e.scales[k].copyCoarserBaseline!.bitAccuracy)),
          `scale ${k} copy`,
        );
        close(
          s.baselines.copyCoarser!.tokenAccuracy,
          meanOf(each.map((e) => e.scales[k].copyCoarserBaseline!.tokenAccuracy)),
          `scale ${k} copy`,
        );
      }
    });
    close(ev.overall.bitAccuracy, meanOf(each.map((e) => e.overall.bitAccuracy)), 'overall');
  });

  it('captions from one JSONL (paths relative to it; features first, else the prompt); a bad line is refused naming it', async () => {
    const jsonl = path.join(env.tmp, 'captions.jsonl');
    fs.writeFileSync(
      jsonl,
      [
        JSON.stringify({ file: 'images/a.png', caption: 'ignored: features win', features: 'images/b.npy' }),
        '',
        JSON.stringify({ file: 'images/b.png', caption: 'a prompt' }),
      ].join('\n'),
    );
    const ev = await run({ runId: 'bits-2', labels: { kind: 'captions', jsonl } });
    assert.deepStrictEqual(
      ev.perImage.map((r) => [path.basename(r.file), path.basename(r.caption)]),
      [['a.png', 'b.npy']],
    );
    assert.deepStrictEqual(
      ev.failed.map((f) => [
        path.relative(dir, f.file),
        f.message.includes('has no text encoder') || f.message.endsWith(`not in ${jsonl}`),
      ]),
      [
        ['b.png', true],
        ['c.png', true],
        ['d.png', true],
        [path.join('sub', 'e.png'), true],
      ],
    );
    const alone = await env.engine.evaluateBits({
      model,
      image: { path: path.join(dir, 'a.png') },
      text: { featuresFile: path.join(dir, 'b.npy') },
    });
    assert.deepStrictEqual(ev.overall, alone.overall);
    fs.writeFileSync(jsonl, `${JSON.stringify({ file: 'images/a.png', features: 'images/a.npy' })}\n{"file": 3}\n`);
    await assert.rejects(
      run({ runId: 'bits-3', labels: { kind: 'captions', jsonl } }),
      (e: unknown) =>
        e instanceof VarScopeError &&
        e.message === `${jsonl} line 2: no "file" (each line: {"file": ..., "caption": ... or "features": ...})`,
    );
    // a features file must be one, and an image has one line
    for (const [second, why] of [
      [{ file: 'images/b.png', features: 'images/b.png' }, '"features" images/b.png is not a .npy or .safetensors file'],
      [{ file: 'images/a.png', caption: 'again' }, 'images/a.png has a caption on an earlier line too'],
    ] as const) {
      fs.writeFileSync(jsonl, `${JSON.stringify({ file: 'images/a.png', features: 'images/a.npy' })}\n${JSON.stringify(second)}\n`);
      await assert.rejects(
        run({ runId: 'bits-3', labels: { kind: 'captions', jsonl } }),
        (e: unknown) => e instanceof VarScopeError && e.message.startsWith(`${jsonl} line 2: ${why} (`),
      );
    }
  });

  it('classes on an Infinity bundle and captions on a VAR bundle are refused in one line', async () => {
    await assert.rejects(
      run({ runId: 'bits-4', labels: { kind: 'subfolders' } }),
      (e: unknown) => e instanceof VarScopeError && /an Infinity model is conditioned on captions, not classes/.test(e.message),
    );
    const varModel = requireBundle();
    await assert.rejects(
      env.engine.evaluateFolder({ model: varModel, runId: 'bits-5', folder: dir, labels }),
      (e: unknown) =>
        e instanceof VarScopeError && e.message === `${path.resolve(varModel)} is a VAR bundle: it is conditioned on classes, not captions`,
    );
  });

  it('the merge of 2 shards equals one run', async () => {
    const one = await run({ runId: 'bits-6' });
    const parts: Array<{ name: string; evaluation: BitsDatasetEvaluation }> = [];
    for (const index of [1, 0])
      parts.push({ name: `part${index}.json`, evaluation: await run({ runId: `bits-7-${index}`, shard: { index, count: 2 } }) });
    for (const p of parts) assert.ok(bitsOf(p.evaluation).shard!.listing.images === 5);
    const merged = bitsOf(mergeParts(parts));
    const strip = (e: BitsDatasetEvaluation) => ({ ...e, elapsedMs: 0, shard: undefined });
    assert.deepStrictEqual(strip(merged), strip(one));
    await assert.rejects(
      async () => mergeParts([parts[0]]),
      (e: unknown) => e instanceof VarScopeError && /missing \(1 of 2 parts given\)/.test(e.message),
    );
  });
});
