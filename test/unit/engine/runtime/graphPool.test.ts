/**
 * The decoder as a GraphPool (a session in this thread plus worker threads): it decodes what a plain session
 * decodes, runs issued together spread over its members, a bad run fails alone, and a worker that dies fails its
 * run with a clear error while the rest go on.
 */
import * as assert from 'assert';
import * as os from 'os';
import * as path from 'path';
import { Engine } from '../../../../src/engine/engine';
import { GraphPool, openGraph } from '../../../../src/engine/runtime/graphPool';
import type { Graph } from '../../../../src/engine/runtime/graph';
import { OnnxRuntime, type GraphSession } from '../../../../src/engine/runtime/onnxRuntime';
import { VarScopeError } from '../../../../src/shared/errors';
import { f32, type HostTensor } from '../../../../src/engine/runtime/tensor';
import { requireBundle, ROOT } from '../../fixtures';

const DECODER = path.join(ROOT, 'models', 'emoji64-d4', 'decoder.onnx');
const LATENT: [number, number, number, number] = [1, 16, 16, 16];

/** A deterministic latent, different per `seed`. */
function latent(seed: number): HostTensor {
  const x = new Float32Array(LATENT.reduce((a, b) => a * b, 1));
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37 + seed * 1.7) * 1.5;
  return f32(LATENT, x);
}

function maxAbsDiff(a: HostTensor['data'], b: HostTensor['data']): number {
  assert.strictEqual(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(Number(a[i]) - Number(b[i])));
  return m;
}

/** Pool internals the tests look at: its workers. */
type PoolInside = { workers: Array<{ worker: import('worker_threads').Worker }> };

/** A pool of `size` members on the default model's decoder. */
async function openPool(size: number): Promise<GraphPool> {
  return GraphPool.open(await new OnnxRuntime({ provider: 'cpu', threads: 1 }).open(DECODER, 'decoder'), 'decoder', size);
}

describe('decoder worker pool', function () {
  this.timeout(120000);
  let pool: GraphPool;
  let single: GraphSession;

  before(async () => {
    pool = await openPool(3);
    single = (await new OnnxRuntime({ provider: 'cpu', threads: 1 }).open(DECODER, 'decoder')) as GraphSession;
  });
  after(async () => {
    await pool?.dispose();
    await single?.dispose();
  });

  it('the default model decoder opens as a pool on the CPU at threads 0 (with more than one core); the fixture decoder, bigger, does not', async () => {
    const engine = new Engine();
    await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
    try {
      const dec = await (await engine.bundle(path.join(ROOT, 'models', 'emoji64-d4'))).graph('decoder');
      assert.strictEqual(dec instanceof GraphPool, os.availableParallelism() > 1);
      if (dec instanceof GraphPool)
        assert.strictEqual(dec.size, Math.min(os.availableParallelism(), 3), 'as many as the cores and the memory budget allow');
      assert.strictEqual(dec.provider, 'cpu');
      const fixture = await (await engine.bundle(requireBundle())).graph('decoder');
      assert.ok(!(fixture instanceof GraphPool), 'a 256 px decoder would take too much memory per session');
    } finally {
      await engine.dispose();
    }
  });

  it('opens one session with an explicit thread count, for other roles, and without a memory estimate', async () => {
    const rt = (threads: number) => new OnnxRuntime({ provider: 'cpu', threads });
    const pooled = await openGraph(rt(0), DECODER, 'decoder', 4e6);
    const opened = [
      pooled,
      await openGraph(rt(2), DECODER, 'decoder', 4e6),
      await openGraph(rt(0), DECODER, 'decoder'),
      await openGraph(rt(0), path.join(ROOT, 'models', 'emoji64-d4', 'encoder.onnx'), 'encoder', 4e6),
    ];
    try {
      assert.strictEqual(pooled instanceof GraphPool, os.availableParallelism() > 1);
      for (const g of opened.slice(1)) assert.ok(!(g instanceof GraphPool));
      for (const g of opened.slice(1, 3)) {
        assert.deepStrictEqual(g.inputs, pooled.inputs);
        assert.deepStrictEqual(g.outputs, pooled.outputs);
      }
    } finally {
      for (const g of opened as Graph[]) await g.dispose();
    }
  });

  it('decodes ten latents issued together as a single session decodes them one by one, spread over its three members', async () => {
    const inside = pool as unknown as PoolInside;
    const byWorker = [0, 0];
    inside.workers.forEach((m, i) => m.worker.on('message', () => byWorker[i]++));
    const latents = Array.from({ length: 10 }, (_, k) => latent(k));
    const pooled = await Promise.all(latents.map((x) => pool.run({ fHat: x })));
    for (let k = 0; k < latents.length; k++) {
      const alone = await single.run({ fHat: latents[k] });
      assert.deepStrictEqual(pooled[k].image.dims, [1, 3, 64, 64]);
      assert.ok(
        maxAbsDiff(pooled[k].image.data, alone.image.data) <= 1e-6,
        `latent ${k}: ${maxAbsDiff(pooled[k].image.data, alone.image.data)}`,
      );
      if (k > 0) assert.ok(maxAbsDiff(pooled[k].image.data, pooled[k - 1].image.data) > 0.01, 'each run got its own input');
    }
    assert.deepStrictEqual(byWorker, [4, 3], 'runs go round the members, a worker first on a tie: 4, 3 and 3 in this thread');
  });

  it('a view of a larger buffer is sent as itself', async () => {
    const big = new Float32Array(3 * 16 * 16 * 16);
    big.set(latent(7).data as Float32Array, 16 * 16 * 16);
    const view = f32(LATENT, big.subarray(16 * 16 * 16, 2 * 16 * 16 * 16));
    const [a, b] = await Promise.all([pool.run({ fHat: view }), single.run({ fHat: latent(7) })]);
    assert.ok(maxAbsDiff(a.image.data, b.image.data) <= 1e-6);
    assert.strictEqual(big.length, 3 * 16 * 16 * 16, 'the caller keeps its buffer');
  });

  it('a bad run fails with an Inference error naming the graph, and the next runs succeed', async () => {
    const bad = pool.run({ fHat: f32([1, 7, 16, 16], new Float32Array(7 * 256)) });
    const good = pool.run({ fHat: latent(1) });
    await assert.rejects(
      bad,
      (e: unknown) => e instanceof VarScopeError && e.code === 'Inference' && /decoder\.onnx failed on cpu/.test(e.message),
    );
    assert.deepStrictEqual((await good).image.dims, [1, 3, 64, 64]);
  });

  it('a worker that dies fails its run with an error; the rest go on; a closed pool refuses runs', async () => {
    const own = await openPool(3);
    try {
      const inside = own as unknown as PoolInside;
      // NOTE: the worker is stopped between runs: one stopped inside a native run aborts the whole process
      // (onnxruntime-node throws a Napi::Error during the thread's teardown), which no JavaScript can catch.
      await inside.workers[0].worker.terminate();
      await new Promise((r) => setImmediate(r));
      const runs = [own.run({ fHat: latent(1) }), own.run({ fHat: latent(2) }), own.run({ fHat: latent(3) })];
      const settled = await Promise.allSettled(runs);
      const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
      assert.ok(failed.length <= 1, 'at most the dead worker run failed');
      for (const f of failed) assert.match(String(f.reason), /decoder\.onnx: a worker thread stopped/);
      assert.strictEqual(own.size, 2);
      const after = await Promise.all([own.run({ fHat: latent(3) }), own.run({ fHat: latent(4) })]);
      for (const r of after) assert.deepStrictEqual(r.image.dims, [1, 3, 64, 64]);
    } finally {
      await own.dispose();
    }
    await assert.rejects(own.run({ fHat: latent(5) }), (e: unknown) => e instanceof VarScopeError && e.code === 'Cancelled');
  });

  it('an unreadable graph fails to open with a ModelLoad error naming the file', async () => {
    const local = await new OnnxRuntime({ provider: 'cpu', threads: 1 }).open(DECODER, 'decoder');
    const wrong = {
      ...local,
      file: path.join(ROOT, 'package.json'),
      run: local.run.bind(local),
      runDevice: local.runDevice.bind(local),
      dispose: local.dispose.bind(local),
    };
    await assert.rejects(
      GraphPool.open(wrong, 'decoder', 2),
      (e: unknown) => e instanceof VarScopeError && e.code === 'ModelLoad' && /package\.json/.test(e.message),
    );
    await local.dispose();
  });
});
