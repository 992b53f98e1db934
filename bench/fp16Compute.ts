/**
 * Float16 compute against float32 (issue #28 item 5), at the matrix products of a VAR transformer: every block's
 * linear layers ([D, 3D], [D, D], [D, hidden], [hidden, D]) for `depth` blocks and the head [D, V], one graph of them,
 * on m rows: the generation steps' m (the CFG pair: 2 × a scale's tokens) and teacher forcing's (every token). The
 * products run through onnxruntime with the engine's session options, once with float32 weights and activations and
 * once all in float16, each in a fresh process: the best and median time of a pass, the RSS that opening and running
 * the graph adds (the graph's bytes collected once onnxruntime has them), and how far float16's products are from float32's (the largest difference over the largest value).
 * Both graphs hold the same seeded weights and inputs.
 *
 *   npx tsc -p tsconfig.json && node out/bench/fp16Compute.js [--depth 16] [--provider cpu|webgpu] [--runs 5]
 *
 * The default widths are VAR-d16's (D 1024, 4096 hidden, 4096 codes, patch numbers 1 … 16): generation at d16.
 * Prints one JSON object: per m, float32 and float16 times and their ratio, the RSS of each, the agreement.
 */
import { spawnSync } from 'child_process';
import { FLOAT, FLOAT16, matMulModel } from '../src/engine/runtime/onnxProto';
import { OnnxRuntime, type ProviderChoice } from '../src/engine/runtime/onnxRuntime';
import type { HostTensor } from '../src/engine/runtime/tensor';
import { floatBitsToHalf, halfToFloat } from '../src/node/template/convert';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

const D = 1024;
const HIDDEN = 4096;
const V = 4096;
const PATCH_NUMS = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16];

/** Seeded values in [-0.5, 0.5) (a 32-bit xorshift), the same in every process. */
function seeded(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32 - 0.5) * scale;
  }
  return out;
}

function shapesOf(depth: number): Array<[number, number]> {
  const block: Array<[number, number]> = [
    [D, 3 * D],
    [D, D],
    [D, HIDDEN],
    [HIDDEN, D],
  ];
  return [...Array.from({ length: depth }, () => block).flat(), [D, V]];
}

interface OneRun {
  bestMs: number;
  medianMs: number;
  rssOpenBytes: number;
  rssRunBytes: number;
  provider: string;
  /** Every output, as float32, for the agreement (only the first `sample` values of each). */
  outputs: number[][];
}

/** One dtype, in this process: open, warm up, time `runs` passes, and report RSS growth. */
async function one(dtype: 'float32' | 'float16', m: number, depth: number, provider: ProviderChoice, runs: number): Promise<OneRun> {
  const shapes = shapesOf(depth);
  const rssNow = () => {
    global.gc?.(); // the graph's bytes, handed to onnxruntime, are garbage once it has opened
    return process.memoryUsage().rss;
  };
  const rss0 = rssNow();
  const runtime = new OnnxRuntime({ provider, threads: 0, profilePlacement: false });
  // weights at the scale of a trained layer's (std ~0.02), so float16 products stay in range as a model's do
  const weights = (i: number) => seeded(shapes[i][0] * shapes[i][1], 1000 + i, 0.07);
  const g = await runtime.open(
    { name: `fp16-bench-${dtype}-${m}`, bytes: matMulModel(m, shapes, dtype === 'float32' ? FLOAT : FLOAT16, weights) },
    'transformerStep',
  );
  const rssOpen = rssNow();
  const feeds: Record<string, HostTensor> = {};
  for (const k of new Set(shapes.map(([k]) => k))) feeds[`x${k}`] = tensorOf(dtype, seeded(m * k, k), [m, k]);
  const first = await g.run(feeds);
  const outputs = shapes.map((_, i) => {
    const t = first[`y${i}`];
    const data = t.data as Float32Array | Uint16Array;
    const n = Math.min(data.length, 4096);
    return Array.from(data.subarray(0, n), (v) => (dtype === 'float32' ? v : halfToFloat(v)));
  });
  const ms: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await g.run(feeds);
    ms.push(performance.now() - t0);
  }
  const rssRun = rssNow();
  await g.dispose();
  ms.sort((a, b) => a - b);
  return {
    bestMs: ms[0],
    medianMs: ms[Math.floor(ms.length / 2)],
    rssOpenBytes: rssOpen - rss0,
    rssRunBytes: rssRun - rss0,
    provider: g.provider,
    outputs,
  };
}

function tensorOf(dtype: 'float32' | 'float16', x: Float32Array, dims: number[]): HostTensor {
  if (dtype === 'float32') return { dtype, data: x, dims };
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  return { dtype, data: Uint16Array.from(bits, floatBitsToHalf), dims };
}

/** The largest |float16 − float32| over the largest |float32|, over every output sampled. */
function relativeDifference(a: number[][], b: number[][]): number {
  let diff = 0;
  let top = 0;
  a.forEach((row, i) =>
    row.forEach((v, j) => {
      diff = Math.max(diff, Math.abs(v - b[i][j]));
      top = Math.max(top, Math.abs(v));
    }),
  );
  return diff / top;
}

async function main(): Promise<void> {
  const depth = Number(arg('depth', '16'));
  const provider = arg('provider', 'cpu') as ProviderChoice;
  const runs = Number(arg('runs', '5'));
  const child = arg('one', '');
  if (child) {
    const [dtype, m] = child.split(':');
    process.stdout.write(JSON.stringify(await one(dtype as 'float32' | 'float16', Number(m), depth, provider, runs)));
    return;
  }
  const tokens = PATCH_NUMS.reduce((s, p) => s + p * p, 0);
  const ms = [...[1, 4, 8, 16].map((p) => 2 * p * p), tokens];
  const rows = [];
  for (const m of ms) {
    const run = (dtype: string): OneRun => {
      const r = spawnSync(
        process.execPath,
        [__filename, '--one', `${dtype}:${m}`, '--depth', `${depth}`, '--provider', provider, '--runs', `${runs}`],
        {
          encoding: 'utf8',
          maxBuffer: 1 << 28,
        },
      );
      if (r.status !== 0) throw new Error(`${dtype} m=${m}: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
      return JSON.parse(r.stdout) as OneRun;
    };
    const f32 = run('float32');
    const f16 = run('float16');
    const gb = (b: number) => +(b / 1e9).toFixed(3);
    rows.push({
      m,
      provider: f32.provider,
      float32: {
        bestMs: +f32.bestMs.toFixed(1),
        medianMs: +f32.medianMs.toFixed(1),
        rssOpenGB: gb(f32.rssOpenBytes),
        rssRunGB: gb(f32.rssRunBytes),
      },
      float16: {
        bestMs: +f16.bestMs.toFixed(1),
        medianMs: +f16.medianMs.toFixed(1),
        rssOpenGB: gb(f16.rssOpenBytes),
        rssRunGB: gb(f16.rssRunBytes),
      },
      speedupOfMedians: +(f32.medianMs / f16.medianMs).toFixed(2),
      speedupOfBests: +(f32.bestMs / f16.bestMs).toFixed(2),
      rssRatio: +(f16.rssRunBytes / f32.rssRunBytes).toFixed(2),
      relativeDifference: +relativeDifference(f32.outputs, f16.outputs).toExponential(2),
    });
  }
  const weights = shapesOf(depth).reduce((s, [k, n]) => s + k * n, 0);
  console.log(JSON.stringify({ depth, weightsFloat32GB: +((weights * 4) / 1e9).toFixed(3), provider, runs, rows }, null, 1));
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
