/**
 * Engine benchmark: our engine and the PyTorch reference (bench/engine_ref.py, kept running in a child process) on the
 * same weights, their runs interleaved on this machine (engine then reference, reference then engine on the next
 * repeat), so that load from other processes falls on both sides alike. Prints the ratio of medians and the ratio of
 * minimums per measurement, and each engine time as a fraction of this machine's limit: the transformer's matrix-product
 * FLOPs (analysis/flops.ts) / the time / the matrix-product rate measured on the model's shapes before and after the
 * runs (runtime/matmulRate.ts; the higher one), with the load average. Writes JSON. Not a test.
 *
 *   npx tsc -p tsconfig.json && node out/bench/engine.js [--model DIR] [--vae PTH --var PTH] [--official VAR_REPO]
 *       [--image IMG] [--repeats N] [--threads N] [--extras] [--sweep 1,2] [--json OUT]
 * Defaults: the embedded default model (models/default.json), a synthetic image at the model's size, and the
 * reference's checkpoints recovered from the bundle by varscope.from_bundle (they are exactly the weights the
 * bundle holds; cached in out/bench/checkpoints/<id>). For the fixture bundle (out/bundles/official-var-A) the
 * official checkpoints in ../shared/fixtures/official-var-A are used. --official: the reference is the official code
 * (a copy of FoundationVision/VAR; its autoregressive_infer_cfg for generation) instead of python/varscope. Generation
 * uses the bundle's recommended sampling on both sides. --extras adds, on the engine alone, KV-cached generation
 * against full recomputation, the engine process's RSS and the thread sweep (--sweep).
 */
import { execFileSync, spawn } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';
import { pythonPackageDir, pythonPathWith } from '../src/client/checkpointExport';
import { benchEngine, benchImage } from '../src/cli/benchmark';
import { Engine } from '../src/engine/engine';
import { GenerationRun } from '../src/engine/generation/generator';
import { teacherForcedLogits } from '../src/engine/model/teacherForcing';
import { inspectImage } from '../src/engine/model/tokenizer';
import { OFFICIAL_SAMPLING, type BundleManifest } from '../src/shared/manifest';
import { rateShapes, stepFlops, teacherForcedFlops } from '../src/engine/analysis/flops';
import { matmulRate } from '../src/engine/runtime/matmulRate';
import { OnnxRuntime } from '../src/engine/runtime/onnxRuntime';
import { varModelOf } from '../src/shared/modelFamily';

const ROOT = path.resolve(__dirname, '..', '..');

function arg(name: string, def?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

const MEASUREMENTS = ['open_image', 'teacher_forced', 'generate'] as const;
type Measurement = (typeof MEASUREMENTS)[number];

/** The reference process: one run of a measurement per request, in the order asked. */
class Reference {
  private readonly lines: AsyncIterableIterator<string>;
  readonly ready: Promise<Record<string, unknown>>;
  constructor(args: string[]) {
    // NOTE: OpenMP threads that spin while they wait (libgomp's default) lose their time slices to the waiting on a
    // loaded machine: at load 15 on 2 cores the official teacher-forced pass of the default model took 15-20 s, and
    // 0.6-1.2 s with OMP_WAIT_POLICY=PASSIVE. The engine's thread pools do not spin either (onnxRuntime.ts).
    const child = spawn('/usr/bin/python3', args, {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' },
    });
    this.child = child;
    this.lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    this.ready = this.next();
  }
  private readonly child: ReturnType<typeof spawn>;
  private async next(): Promise<Record<string, unknown>> {
    const r = await this.lines.next();
    if (r.done) throw new Error('bench/engine_ref.py stopped (see its error above)');
    return JSON.parse(r.value) as Record<string, unknown>;
  }
  async run(name: Measurement): Promise<number> {
    this.child.stdin!.write(name + '\n');
    return (await this.next()).ms as number;
  }
  close(): void {
    this.child.stdin!.end();
  }
}

const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];
const min = (v: number[]) => Math.min(...v);

/** The reference's checkpoints for a bundle: given, the fixture's own, or recovered from the bundle (cached). */
function checkpoints(model: string, id: string): { vae: string; var: string } {
  if (arg('vae') && arg('var')) return { vae: arg('vae')!, var: arg('var')! };
  if (id === 'official-var-A') {
    const fx = path.resolve(ROOT, '..', 'shared', 'fixtures', 'official-var-A');
    return { vae: path.join(fx, 'vae.pth'), var: path.join(fx, 'var.pth') };
  }
  const dir = path.join(ROOT, 'out', 'bench', 'checkpoints', id);
  const stamp = path.join(dir, 'sha256');
  const sha = createHash('sha256')
    .update(fs.readFileSync(path.join(model, 'varscope.json')))
    .digest('hex');
  if (!fs.existsSync(stamp) || fs.readFileSync(stamp, 'utf8') !== sha) {
    console.error(`recovering the checkpoints of ${id} from the bundle (varscope.from_bundle)`);
    execFileSync('/usr/bin/python3', ['-W', 'ignore', '-m', 'varscope.from_bundle', '--bundle', model, '--out', dir], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, PYTHONPATH: pythonPathWith(pythonPackageDir(ROOT)) },
    });
    fs.writeFileSync(stamp, sha);
  }
  return { vae: path.join(dir, 'vae.pth'), var: path.join(dir, 'var.pth') };
}

async function main(): Promise<void> {
  const defaultId = (JSON.parse(fs.readFileSync(path.join(ROOT, 'models', 'default.json'), 'utf8')) as { id: string }).id;
  const model = path.resolve(arg('model', path.join(ROOT, 'models', defaultId))!);
  const manifest = JSON.parse(fs.readFileSync(path.join(model, 'varscope.json'), 'utf8')) as BundleManifest;
  const { vae, var: varPth } = checkpoints(model, manifest.id);
  const sampling = manifest.sampling ?? OFFICIAL_SAMPLING;
  const repeats = Number(arg('repeats', '5'));
  const threads = Number(arg('threads', '0'));
  const out = arg('json', path.join(ROOT, 'out', 'bench', 'engine.json'))!;
  const size = manifest.vae.imageSize;
  const image = arg('image') ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-bench-')), 'bench.png');
  if (!arg('image')) fs.writeFileSync(image, await benchImage(size));
  const official = arg('official');

  console.error(
    `engine: ${model} (repeats ${repeats}); reference: ${official ? `official code in ${official}` : 'python/varscope'} on ${vae}, ${varPth}`,
  );
  const ref = new Reference([
    path.join(ROOT, 'bench', 'engine_ref.py'),
    '--serve',
    '--vae',
    vae,
    '--var',
    varPth,
    '--image',
    image,
    '--threads',
    '2',
    '--cfg',
    String(sampling.cfg),
    '--top-k',
    String(sampling.topK),
    '--top-p',
    String(sampling.topP),
    ...(official ? ['--official', official] : []),
  ]);
  const engine = new Engine();
  await engine.configure({ provider: 'cpu', threads, maxImagePixels: 1e8 });
  const info = varModelOf(await engine.openModel({ model }), 'bench');
  const b = await engine.bundle(model);
  const bytes = fs.readFileSync(image);
  const { raw } = await inspectImage(b, await engine.modelInput(b, { bytes }));
  const ops: Record<Measurement, () => Promise<unknown>> = {
    open_image: async () => inspectImage(b, await engine.modelInput(b, { bytes })),
    teacher_forced: () => teacherForcedLogits(b, raw.varInput, 0),
    generate: async () => {
      const run = new GenerationRun(b, 'bench', { classId: 0, seed: 0, ...sampling });
      await run.goTo(info.patchNums.length - 1);
      await run.imageTensor();
    },
  };
  // The machine's matrix-product limit for this model's shapes (matmulRate.ts), measured before and after the runs.
  const rateRuntime = new OnnxRuntime({ provider: 'cpu', threads, profilePlacement: false });
  const { m: rateRows, shapes } = rateShapes(manifest);
  const rates = [(await matmulRate(rateRuntime, rateRows, shapes)).gflops];
  const loads = [os.loadavg()[0]];
  const refInfo = await ref.ready; // the reference warms up before `ready`
  const times: Record<Measurement, { engine: number[]; reference: number[] }> = {
    open_image: { engine: [], reference: [] },
    teacher_forced: { engine: [], reference: [] },
    generate: { engine: [], reference: [] },
  };
  // One measurement after the other, each warmed up right before its runs: a large bundle holds one transformer
  // graph at a time (bundle.ts, EXCLUSIVE_ROLES), so alternating measurements would time its reopening.
  for (const name of MEASUREMENTS) {
    await ops[name]();
    for (let r = 0; r < repeats; r++) {
      const ours = async () => {
        const t = performance.now();
        await ops[name]();
        times[name].engine.push(performance.now() - t);
      };
      const theirs = async () => void times[name].reference.push(await ref.run(name));
      if (r % 2 === 0) {
        await ours();
        await theirs();
      } else {
        await theirs();
        await ours();
      }
      console.error(
        `repeat ${r + 1}/${repeats} ${name}: engine ${times[name].engine.at(-1)!.toFixed(0)} ms, reference ${times[name].reference.at(-1)!.toFixed(0)} ms`,
      );
    }
  }
  ref.close();
  await engine.dispose();
  rates.push((await matmulRate(rateRuntime, rateRows, shapes, { fresh: true })).gflops);
  loads.push(os.loadavg()[0]);
  const limit = rates[1]; // the better of the two measurements (matmulRate keeps the best)
  const B = sampling.cfg > 0 ? 2 : 1;
  const flops: Record<Measurement, number | undefined> = {
    open_image: undefined, // the VAE's convolutions: not counted
    teacher_forced: teacherForcedFlops(manifest).total,
    generate: manifest.patchNums.reduce((s, _pn, k) => s + stepFlops(manifest, k, B).total, 0),
  };
  /** FLOPs counted / time / the limit. */
  const fraction = (name: Measurement, ms: number) => {
    const f = flops[name];
    return f === undefined ? '—' : `${((f / (ms / 1e3) / (limit * 1e9)) * 100).toFixed(0)} %`;
  };

  const labels: Record<Measurement, [string, string]> = {
    open_image: ['open image (preprocess + tokenize + decode every scale)', '>= 1.5x'],
    teacher_forced: ['teacher-forced forward (B=1)', '>= 1.5x'],
    generate: [`generation (KV cache, CFG, top-k/p, final decode)${official ? ' vs autoregressive_infer_cfg' : ''}`, '>= 1.5x'],
  };
  const lines = [
    '| measurement | engine median ms | reference median ms | ratio of medians | engine min ms | reference min ms | ratio of minimums | goal | GFLOP counted | engine median / min, of the limit |',
    '|---|---:|---:|---:|---:|---:|---:|---|---:|---:|',
  ];
  for (const name of MEASUREMENTS) {
    const { engine: e, reference: p } = times[name];
    lines.push(
      `| ${labels[name][0]} | ${median(e).toFixed(1)} | ${median(p).toFixed(1)} | ${(median(p) / median(e)).toFixed(2)}x | ${min(e).toFixed(1)} | ${min(p).toFixed(1)} | ${(min(p) / min(e)).toFixed(2)}x | ${labels[name][1]} | ${flops[name] === undefined ? '—' : (flops[name]! / 1e9).toFixed(2)} | ${fraction(name, median(e))} / ${fraction(name, min(e))} |`,
    );
  }
  lines.push(
    '',
    `matrix-product limit (${rateRows} rows × ${shapes.map(([k, n]) => `${k}×${n}`).join(', ')}, ${threads || 'default'} threads): ` +
      `${rates[0].toFixed(1)} GFLOP/s before the runs, ${limit.toFixed(1)} GFLOP/s the best with a measurement after them; load average ${loads.map((l) => l.toFixed(1)).join(' before, ')} after ` +
      `(${os.cpus().length} cores)`,
  );
  let extras: unknown;
  if (process.argv.includes('--extras')) {
    const sweep = arg('sweep', '1,2')!.split(',').filter(Boolean).map(Number);
    const x = await benchEngine(model, { provider: 'cpu', threads, maxImagePixels: 1e8 }, { repeats, sweepThreads: sweep, image: bytes });
    extras = x;
    lines.push('', '| engine alone | ms or MB |', '|---|---:|');
    lines.push(
      `| KV-cached generation (no decode), median | ${x.generateKv.median.toFixed(1)} |`,
      `| full recompute at every scale, median | ${x.generateFull.median.toFixed(1)} |`,
    );
    lines.push(`| engine RSS after the runs | ${x.rssMB.toFixed(0)} MB |`);
    for (const s of x.threadSweep ?? [])
      lines.push(
        `| threads ${s.threads}: open image / teacher-forced / KV generation | ${s.openImage.toFixed(1)} / ${s.teacherForced.toFixed(1)} / ${s.generateKv.toFixed(1)} |`,
      );
  }
  console.log(lines.join('\n'));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(
    out,
    JSON.stringify(
      {
        machine: `${os.cpus().length} cores, ${os.cpus()[0]?.model}`,
        loadavg: os.loadavg(),
        matmulLimitGflops: rates,
        loadBeforeAfter: loads,
        flops,
        model,
        reference: refInfo,
        times,
        extras,
        table: lines,
      },
      null,
      1,
    ),
  );
  console.error(`wrote ${out}`);
}

void main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
