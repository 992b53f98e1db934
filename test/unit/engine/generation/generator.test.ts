/**
 * Generation's memory on the fixture bundle, opened as a large bundle: the weights held by one graph and the KV cache
 * by one engine buffer while generating, with the official fixture's CFG logits and tokens; and bundles of the
 * earlier exporter (layer-first step graph) still generating.
 */
import * as assert from 'assert';
import { createHash } from 'crypto';
import * as path from 'path';
import { Engine } from '../../../../src/engine/engine';
import { WeightHolders } from '../../../../src/engine/bundle/weightHolders';
import { GenerationRun } from '../../../../src/engine/generation/generator';
import { HostKvCache, isPositionFirst } from '../../../../src/engine/generation/kvCache';
import type { DeviceTensor, Graph } from '../../../../src/engine/runtime/graph';
import { numel, type HostTensor } from '../../../../src/engine/runtime/tensor';
import { fixture, requireBundle, ROOT } from '../../fixtures';
import { maxAbsDiff, npyFloats, npyInts, readNpy } from '../../npy';

const TOL = 5e-5;

describe('generation within memory (official fixture bundle)', function () {
  this.timeout(300000);
  let engine: Engine;
  let saved: number;

  before(async () => {
    saved = WeightHolders.largeBytes;
    WeightHolders.largeBytes = 0; // the fixture's transformer graphs open, and are released, as a large bundle's
    engine = new Engine();
    await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
  });
  after(async () => {
    WeightHolders.largeBytes = saved;
    await engine?.dispose();
  });

  it('holds the weights in the step graph alone and the KV cache once, in one buffer; logits and tokens are the official ones', async () => {
    const model = requireBundle();
    const image = { path: fixture('img0.png') };
    await engine.openModel({ model });
    const bundle = await engine.bundle(model);
    const m = bundle.manifest;
    const SN = m.patchNums.length;
    const V = m.vae.vocabSize;
    await engine.evaluate({ model, image, classId: 3 });
    assert.deepStrictEqual(bundle.weightHolders, ['transformer']);

    // every output of the step graph, by name: its dims (the cache must never come out whole)
    const step: Graph = await bundle.graph('transformerStep');
    assert.ok(isPositionFirst(step), 'the fixture bundle is exported with the position-first step graph');
    const outputs: Array<Record<string, number[]>> = [];
    const run = step.run.bind(step);
    step.run = async (feeds, fetches) => {
      const out = await run(feeds, fetches);
      outputs.push(Object.fromEntries(Object.entries(out).map(([n, t]) => [n, t.dims])));
      return out;
    };

    const idx = npyInts(readNpy(fixture('img0_idx.npy')));
    const forced = m.beginEnds.map(([b, e]) => idx.slice(b, e));
    const ref = npyFloats(readNpy(fixture('cfg_logits.npy')));
    const gen = new GenerationRun(bundle, 'memory', { classId: 3, seed: 0, cfg: 2, topK: 0, topP: 0 }, { forced, keepLogits: true });
    const { depth, numHeads: nh, embedDim } = m.var;
    const row = depth * 2 * nh * (embedDim / nh); // floats per position: the CFG pair
    const lastBegin = m.beginEnds[SN - 1][0];
    const cacheBytes = 2 * lastBegin * row * 4; // keys and values of every position a step reads
    let buffer: ArrayBufferLike | undefined;
    const check = async (k: number) => {
      const out = await gen.goTo(k);
      const [b, e] = m.beginEnds[k];
      const d = maxAbsDiff(out.logits!, ref.subarray(b * V, e * V));
      assert.ok(d <= TOL, `scale ${k}: max abs diff ${d}`);
      assert.deepStrictEqual(Array.from(out.tokens), Array.from(forced[k]), `scale ${k}`);
      assert.deepStrictEqual(bundle.weightHolders, ['transformerStep'], `scale ${k}`);
      assert.strictEqual(gen.cacheBytes, cacheBytes, `scale ${k}`);
      const cache = (gen as unknown as { cache: HostKvCache }).cache;
      assert.ok(cache instanceof HostKvCache);
      buffer ??= cache.keys.buffer;
      assert.strictEqual(cache.keys.buffer, buffer, `scale ${k}: the cache was allocated again`);
      assert.strictEqual(cache.length, Math.min(e, lastBegin), `scale ${k}`);
    };
    for (let k = 0; k < SN; k++) await check(k);
    // back to scale 2 (the cache is cut to its prefix, not copied) and forward again on it
    await check(2);
    for (let k = 3; k < SN; k++) await check(k);

    // the step graph's outputs: logits and this scale's keys and values, never a cache of past positions
    assert.strictEqual(outputs.length, SN + SN - 3);
    outputs.forEach((o, i) => {
      const names = Object.keys(o).sort();
      const last = o.logits[1] === m.patchNums[SN - 1] ** 2;
      assert.deepStrictEqual(names, last ? ['logits'] : ['logits', 'scaleKey', 'scaleValue'], `run ${i}`);
      if (!last) for (const n of ['scaleKey', 'scaleValue']) assert.strictEqual(numel(o[n]), o.logits[1] * row, `run ${i}: ${n}`);
    });

    await engine.evaluate({ model, image, classId: 3 });
    assert.deepStrictEqual(bundle.weightHolders, ['transformer'], 'teacher forcing releases the step graph');
  });

  it('a cache kept as the whole presentKey / presentValue (the GPU path, here on the host) gives the official logits, also rebuilt after a step back', async () => {
    const model = requireBundle();
    const bundle = await engine.bundle(model);
    const m = bundle.manifest;
    const SN = m.patchNums.length;
    const V = m.vae.vocabSize;
    // the step graph driven as on a provider that keeps outputs on the device, its outputs left on the host
    const step = await bundle.graph('transformerStep');
    const runs: string[][] = [];
    const asDevice: Graph = Object.assign(Object.create(step) as Graph, {
      deviceOutputs: ['presentKey', 'presentValue'],
      runDevice: async (feeds: Record<string, HostTensor | DeviceTensor>, fetches?: string[]) => {
        runs.push(fetches ?? []);
        return { host: await step.run(feeds as Record<string, HostTensor>, fetches), device: {} };
      },
    });
    const sessions = (bundle as unknown as { sessions: Map<string, Promise<Graph>> }).sessions;
    sessions.set('transformerStep', Promise.resolve(asDevice));
    try {
      const idx = npyInts(readNpy(fixture('img0_idx.npy')));
      const forced = m.beginEnds.map(([b, e]) => idx.slice(b, e));
      const ref = npyFloats(readNpy(fixture('cfg_logits.npy')));
      const gen = new GenerationRun(bundle, 'device', { classId: 3, seed: 0, cfg: 2, topK: 0, topP: 0 }, { forced, keepLogits: true });
      const check = async (k: number) => {
        const out = await gen.goTo(k);
        const [b, e] = m.beginEnds[k];
        const d = maxAbsDiff(out.logits!, ref.subarray(b * V, e * V));
        assert.ok(d <= TOL, `scale ${k}: max abs diff ${d}`);
        assert.deepStrictEqual(Array.from(out.tokens), Array.from(forced[k]), `scale ${k}`);
      };
      for (let k = 0; k < 4; k++) await check(k);
      await check(1); // a cache that cannot be cut is dropped, and rebuilt for scales 0 and 1 by the next step
      for (let k = 2; k < SN; k++) await check(k);
      // scales 0-3, then 0-1 again (the rebuild), 2 ... SN-1: all but the last ask for logits and the whole cache
      assert.deepStrictEqual(
        runs.map((f) => f.length),
        [...Array(4 + 2 + SN - 3).fill(3), 1],
      );
    } finally {
      sessions.set('transformerStep', Promise.resolve(step));
    }
  });

  it('a bundle of the earlier exporter (layer-first step graph) generates the tokens it generated before', async () => {
    const model = path.join(ROOT, 'models', 'emoji64-d4');
    const bundle = await engine.bundle(model);
    assert.ok(!isPositionFirst(await bundle.graph('transformerStep')));
    const gen = new GenerationRun(bundle, 'legacy', { classId: 3, seed: 7, cfg: 4, topK: 900, topP: 0.96 });
    const SN = bundle.manifest.patchNums.length;
    await gen.goTo(SN - 1);
    const tokens = gen.tokens.map((t) => Array.from(t));
    // the engine before the position-first cache (commit 5cd4060) generated these, with the same settings
    assert.strictEqual(createHash('sha256').update(JSON.stringify(tokens)).digest('hex'), LEGACY_TOKENS_SHA256);
    await gen.goTo(2);
    await gen.goTo(SN - 1);
    assert.deepStrictEqual(
      gen.tokens.map((t) => Array.from(t)),
      tokens,
      'after a step back the sliced cache gives the same tokens',
    );
  });
});

/** sha256 of JSON.stringify(tokens of every scale): models/emoji64-d4, class 3, seed 7, cfg 4, top-k 900, top-p 0.96. */
const LEGACY_TOKENS_SHA256 = 'b5a2372dd9896bbb625aee7ff0c08450cb6d20f7192c851460a0e2ead3c94bed';
