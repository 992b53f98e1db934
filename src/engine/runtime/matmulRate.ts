/**
 * The machine's measured rate of matrix products: a graph of the model's own linear-layer products ([m, k] × [k, n]
 * with the weights in the graph), built in memory and run through onnxruntime with the session options and threads
 * of the KV-cached step graph. Its best run is the limit a pass of the model's products can reach here; measured once
 * per process for each set of shapes, and again when asked (`fresh`), the best measurement kept: on a shared machine
 * one measurement may fall in a busy moment.
 */
import type { MatmulRate } from '../../shared/results';
import { matMulModel } from './onnxProto';
import { DEFAULT_THREADS, type OnnxRuntime } from './onnxRuntime';
import { f32 } from './tensor';

/** The role whose session options and threads the measuring graph takes. */
const ROLE = 'transformerStep';

/** Runs at most, however short. */
const MAX_RUNS = 200;

const measured = new Map<string, Promise<MatmulRate>>();

/** How a rate is measured: at least `runs` runs after a warm-up, and as many more as fit in `minMs`. */
export interface RateOptions {
  runs?: number;
  minMs?: number;
  /** Measure again even when a measurement is cached; the better of the two is kept and returned. */
  fresh?: boolean;
}

/**
 * GFLOP/s of the products `shapes` ([k, n] each) on m rows: the best run (the median beside it) of at least `runs`
 * runs after a warm-up, and of as many more as fit in `minMs` (a best of a few short runs on a loaded machine is luck:
 * the fixture's products take 5 ms). Cached per process by provider, threads and shapes.
 */
export function matmulRate(runtime: OnnxRuntime, m: number, shapes: Array<[number, number]>, o: RateOptions = {}): Promise<MatmulRate> {
  const { runs = 5, minMs = 400 } = o;
  const threads = runtime.options.threads > 0 ? runtime.options.threads : DEFAULT_THREADS[ROLE];
  const key = `${runtime.options.provider}|${threads}|${m}|${shapes.join(';')}|${runs}|${minMs}`;
  const cached = measured.get(key);
  if (cached && !o.fresh) return cached;
  const now = measure(runtime, m, shapes, runs, minMs, threads);
  const rate = cached ? Promise.all([cached.catch(() => undefined), now]).then(([a, b]) => (a && a.gflops > b.gflops ? a : b)) : now;
  measured.set(key, rate);
  rate.catch(() => measured.get(key) === rate && measured.delete(key)); // a failure is not remembered
  return rate;
}

async function measure(
  runtime: OnnxRuntime,
  m: number,
  shapes: Array<[number, number]>,
  runs: number,
  minMs: number,
  threads: number,
): Promise<MatmulRate> {
  const g = await runtime.open(
    { name: `matmul-rate-${m}x${shapes.map(([k, n]) => `${k}x${n}`).join('-')}`, bytes: matMulModel(m, shapes) },
    ROLE,
  );
  try {
    const feeds = Object.fromEntries(
      [...new Set(shapes.map(([k]) => k))].map((k) => [
        `x${k}`,
        f32(
          [m, k],
          Float32Array.from({ length: m * k }, () => Math.random() - 0.5),
        ),
      ]),
    );
    await g.run(feeds); // warm-up: the arena and the packed weights settle
    const ms: number[] = [];
    const start = performance.now();
    while (ms.length < runs || (performance.now() - start < minMs && ms.length < MAX_RUNS)) {
      const t0 = performance.now();
      await g.run(feeds);
      ms.push(performance.now() - t0);
    }
    const flops = shapes.reduce((s, [k, n]) => s + 2 * m * k * n, 0);
    const sorted = [...ms].sort((a, b) => a - b);
    return {
      gflops: flops / sorted[0] / 1e6,
      medianGflops: flops / sorted[Math.floor(ms.length / 2)] / 1e6,
      m,
      shapes,
      threads,
      provider: g.provider,
      runs: ms.length,
    };
  } finally {
    await g.dispose();
  }
}
