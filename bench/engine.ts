/**
 * Engine benchmark: our engine and the PyTorch reference (bench/engine_ref.py) on the same weights, one after
 * the other on this machine, with the ratios side by side. Not a test: prints a table and writes JSON.
 *
 *   npx tsc -p tsconfig.json && node out/bench/engine.js [--model DIR] [--vae PTH --var PTH] [--image IMG]
 *       [--repeats N] [--threads N] [--sweep 1,2] [--json OUT]
 * Defaults: the embedded default model (models/default.json), a synthetic image at the model's size, and the
 * reference's checkpoints recovered from the bundle by varscope.from_bundle (they are exactly the weights the
 * bundle holds; cached in out/bench/checkpoints/<id>). For the fixture bundle (out/bundles/official-var-A) the
 * official checkpoints in ../shared/fixtures/official-var-A are used. Generation uses the bundle's recommended
 * sampling on both sides.
 */
import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pythonPackageDir, pythonPathWith } from '../src/client/checkpointExport';
import { benchEngine, benchImage, EngineBench, Timing } from '../src/cli/benchmark';
import { OFFICIAL_SAMPLING, type BundleManifest } from '../src/shared/manifest';

const ROOT = path.resolve(__dirname, '..', '..');

function arg(name: string, def?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

interface RefBench {
  torch: string;
  threads: number;
  open_image: Timing;
  teacher_forced: Timing;
  generate: Timing;
}

/** The reference's checkpoints for a bundle: given, the fixture's own, or recovered from the bundle (cached). */
function checkpoints(model: string, id: string): { vae: string; var: string } {
  if (arg('vae') && arg('var')) return { vae: arg('vae')!, var: arg('var')! };
  if (id === 'official-var-A') {
    const fx = path.resolve(ROOT, '..', 'shared', 'fixtures', 'official-var-A');
    return { vae: path.join(fx, 'vae.pth'), var: path.join(fx, 'var.pth') };
  }
  const dir = path.join(ROOT, 'out', 'bench', 'checkpoints', id);
  const stamp = path.join(dir, 'sha256');
  const sha = createHash('sha256').update(fs.readFileSync(path.join(model, 'varscope.json'))).digest('hex');
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
  const sweep = arg('sweep', '1,2')!.split(',').filter(Boolean).map(Number);
  const out = arg('json', path.join(ROOT, 'out', 'bench', 'engine.json'))!;
  const size = manifest.vae.imageSize;
  const image = arg('image') ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-bench-')), 'bench.png');
  if (!arg('image')) fs.writeFileSync(image, await benchImage(size));

  console.error(`engine: ${model} (repeats ${repeats}, thread sweep ${sweep.join(',')}); reference: ${vae}, ${varPth}`);
  const ours: EngineBench = await benchEngine(model, { provider: 'cpu', threads, maxImagePixels: 1e8 }, { repeats, sweepThreads: sweep, image: fs.readFileSync(image) });
  console.error('reference: bench/engine_ref.py (PyTorch, 2 threads)');
  const refOut = execFileSync('/usr/bin/python3', [
    path.join(ROOT, 'bench', 'engine_ref.py'), '--vae', vae, '--var', varPth, '--image', image, '--repeats', String(repeats), '--threads', '2',
    '--cfg', String(sampling.cfg), '--top-k', String(sampling.topK), '--top-p', String(sampling.topP),
  ], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
  });
  const ref = JSON.parse(refOut.trim().split('\n').pop()!) as RefBench;

  const rows: Array<[string, number, number | null, string]> = [
    ['open image (preprocess + tokenize + decode every scale)', ours.openImage.median, ref.open_image.median, '>= 1.5x'],
    ['teacher-forced forward (B=1)', ours.teacherForced.median, ref.teacher_forced.median, '>= 1.2x'],
    ['generation (KV cache, CFG, top-k/p, final decode)', ours.generate.median, ref.generate.median, '>= 1.5x'],
    ['KV-cached generation vs full recompute (L = 680)', ours.generateKv.median, ours.generateFull.median, '>= 2x'],
  ];
  const lines = ['| measurement | engine ms | reference ms | speed-up | goal |', '|---|---:|---:|---:|---|'];
  for (const [name, a, b, goal] of rows) lines.push(`| ${name} | ${a.toFixed(1)} | ${b === null ? '-' : b.toFixed(1)} | ${b === null ? '-' : (b / a).toFixed(2) + 'x'} | ${goal} |`);
  lines.push(`| engine RSS after the runs | ${ours.rssMB.toFixed(0)} MB | | | < 300 MB |`);
  for (const s of ours.threadSweep ?? []) {
    lines.push(`| threads ${s.threads} (all graphs): open image / teacher-forced / KV generation | ${s.openImage.toFixed(1)} / ${s.teacherForced.toFixed(1)} / ${s.generateKv.toFixed(1)} | | | |`);
  }
  console.log(lines.join('\n'));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ machine: `${os.cpus().length} cores, ${os.cpus()[0]?.model}`, loadavg: os.loadavg(), engine: ours, reference: ref, table: lines }, null, 1));
  console.error(`wrote ${out}`);
}

void main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
