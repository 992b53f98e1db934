/**
 * The CLI commands: inspect, eval, generate, stats, export. Each prints / writes JSON for scripts and CI.
 * The engine runs in-process (a terminal has no editor to protect from native crashes).
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { PROVIDER_CHOICES, type EngineConfig } from '../shared/engineApi';
import { VarScopeError } from '../shared/rpc';
import { DEFAULT_CONFIG, Engine } from '../engine/engine';
import { CommandSpec, num, ParsedArgs, UsageError } from './args';

const COMMON: CommandSpec['options'] = {
  model: { help: 'model bundle folder (varscope.json inside); default: the embedded model named in models/default.json' },
  json: { help: 'write the JSON result here ("-" = stdout)', default: '-' },
  provider: { help: `execution provider: ${PROVIDER_CHOICES.join(', ')}`, default: 'auto' },
  threads: { help: 'intra-op threads (0 = measured best)', default: '0' },
  'cuda-path': { help: 'folder with the CUDA provider libraries' },
  'max-pixels': { help: 'refuse images with more pixels', default: String(DEFAULT_CONFIG.maxImagePixels) },
};
const IMAGE_OPTS: CommandSpec['options'] = { 'resize-ratio': { help: 'short side before the centre crop, in units of the model image size', default: '1' } };

/** The command specs, in help order. */
export const SPECS: Record<string, CommandSpec> = {
  inspect: { name: 'inspect', summary: 'Tokenize an image: tokens of every scale, residual energy, PSNR of each progressive reconstruction, codebook usage.', positionals: ['IMAGE'], options: { ...COMMON, ...IMAGE_OPTS, 'images-dir': { help: 'also write decode(f̂ after scale k) as PNGs here' } } },
  eval: { name: 'eval', summary: 'Teacher-forced evaluation (no CFG): per-scale accuracy and NLL of the true tokens for a class.', positionals: ['IMAGE'], options: { ...COMMON, ...IMAGE_OPTS, class: { help: 'class id (the null class id = no class)', required: true } } },
  generate: {
    name: 'generate',
    summary: 'Generate an image scale by scale (KV cache, CFG ramp, top-k / top-p, seeded).',
    positionals: [],
    options: {
      ...COMMON,
      class: { help: 'class id', required: true },
      seed: { help: 'random seed (same seed, same image)', default: '0' },
      cfg: { help: "classifier-free guidance strength (default: the model's recommended sampling, else the official 4)" },
      'top-k': { help: "top-k, 0 = off (default: the model's, else 900)" },
      'top-p': { help: "top-p, 0 = off (default: the model's, else 0.96)" },
      out: { help: 'write the image (PNG)' },
    },
  },
  stats: { name: 'stats', summary: 'Codebook usage over a folder of images (recursive): histograms, dead codes, perplexity.', positionals: ['FOLDER'], options: { ...COMMON, ...IMAGE_OPTS } },
  export: { name: 'export', summary: 'Export a PyTorch checkpoint to a model bundle (runs /usr/bin/python3 -m varscope.export; its flags pass through).', positionals: [], options: {}, passThrough: true },
};

/** Engine settings from the common flags. */
export function engineConfig(args: ParsedArgs): EngineConfig {
  const provider = args.options.provider as EngineConfig['provider'];
  if (!PROVIDER_CHOICES.includes(provider)) throw new UsageError(`--provider must be one of ${PROVIDER_CHOICES.join(', ')}, got ${provider}`);
  return { provider, threads: num(args, 'threads', { int: true, min: 0, max: 256 }), cudaLibraryPath: args.options['cuda-path'], maxImagePixels: num(args, 'max-pixels', { int: true, min: 1 }) };
}

/** The repository / extension root (the folder of package.json named varscope). */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if ((JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: string }).name === 'varscope') return dir;
      } catch {
        // not ours; keep looking
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(__dirname, '..');
    dir = up;
  }
}

/** --model, or the embedded default model of models/default.json. */
export function modelDir(args: ParsedArgs): string {
  if (args.options.model) return path.resolve(args.options.model);
  const models = path.join(packageRoot(), 'models');
  const def = path.join(models, 'default.json');
  if (!fs.existsSync(def)) throw new UsageError('--model is required (no embedded default model: models/default.json does not exist)');
  const d = JSON.parse(fs.readFileSync(def, 'utf8')) as { id?: string; model?: string; folder?: string };
  const id = d.id ?? d.model ?? d.folder;
  if (!id) throw new VarScopeError('ModelNotFound', `${def} names no model (expected {"id": "<folder under models/>"})`);
  return path.resolve(models, id);
}

/** Write the JSON result to a file or stdout. */
export function writeJson(args: ParsedArgs, value: unknown): void {
  const text = JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 1) + '\n';
  const out = args.options.json ?? '-';
  if (out === '-') process.stdout.write(text);
  else {
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    fs.writeFileSync(out, text);
  }
}

/** Write RGBA pixels as a PNG. */
export async function writePng(file: string, img: { width: number; height: number; data: Uint8ClampedArray }): Promise<void> {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 4 } }).png().toFile(file);
}

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / Math.max(1, a.length);
}

/** Run one command (not export/bench). */
export async function runCommand(name: string, args: ParsedArgs, engine: Engine): Promise<void> {
  const model = modelDir(args);
  const ratio = () => num(args, 'resize-ratio', { min: 0.01, max: 100 });
  switch (name) {
    case 'inspect': {
      const r = await engine.inspect({ model, image: { path: args.positionals[0] }, resizeRatio: ratio() });
      const dir = args.options['images-dir'];
      if (dir) for (const s of r.scales) await writePng(path.join(dir, `scale${String(s.scaleIndex).padStart(2, '0')}_pn${s.pn}.png`), s.decoded);
      writeJson(args, {
        model: { id: r.model.id, patchNums: r.model.patchNums, vocabSize: r.model.vocabSize, provider: r.model.provider, providerFallbacks: r.model.providerFallbacks, nodePlacement: r.model.nodePlacement },
        image: { ...r.image, input: undefined },
        scales: r.scales.map((s) => ({ pn: s.pn, tokens: Array.from(s.tokens), residualEnergy: s.residualEnergy, psnr: s.psnr, meanQuantError: mean(s.quantError), meanQuantMargin: mean(s.quantMargin) })),
        codebook: { used: r.codebook.used, perplexity: r.codebook.perplexity, perplexityPerScale: r.codebook.perplexityPerScale },
      });
      return;
    }
    case 'eval': {
      const classId = num(args, 'class', { int: true, min: 0 });
      const r = await engine.evaluate({ model, image: { path: args.positionals[0] }, classId, resizeRatio: ratio() });
      writeJson(args, { classId, scales: r.scales.map((s) => ({ pn: s.pn, accuracy: s.accuracy, nll: s.nll, meanEntropy: s.meanEntropy })) });
      return;
    }
    case 'generate': {
      const info = await engine.openModel({ model });
      // Sampling flags left out take the bundle's recommended sampling (ModelInfo.sampling), as the panel does.
      const given = (name: string) => args.options[name] !== undefined;
      const settings = {
        classId: num(args, 'class', { int: true, min: 0 }),
        seed: num(args, 'seed', { int: true, min: 0, max: Number.MAX_SAFE_INTEGER }),
        cfg: given('cfg') ? num(args, 'cfg', { min: 0 }) : info.sampling.cfg,
        topK: given('top-k') ? num(args, 'top-k', { int: true, min: 0 }) : info.sampling.topK,
        topP: given('top-p') ? num(args, 'top-p', { min: 0, max: 1 }) : info.sampling.topP,
      };
      const r = await engine.generate({ model, settings });
      if (args.options.out) await writePng(args.options.out, r.image);
      writeJson(args, { settings, scales: r.tokens.map((t, k) => ({ pn: info.patchNums[k], tokens: Array.from(t) })), image: args.options.out ? path.resolve(args.options.out) : null });
      return;
    }
    case 'stats': {
      const folder = args.positionals[0];
      if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) throw new UsageError(`${folder} is not a folder`);
      const r = await engine.folderUsage({ model, runId: 'cli-stats', folder, resizeRatio: ratio() });
      const u = r.usage;
      writeJson(args, {
        images: u.images,
        failed: r.failed,
        used: u.used,
        dead: u.overall.length - u.used,
        perplexity: u.perplexity,
        perplexityPerScale: u.perplexityPerScale,
        overall: Array.from(u.overall),
        perScale: u.perScale.map((s) => Array.from(s)),
      });
      return;
    }
    default:
      throw new UsageError(`unknown command ${name}`);
  }
}

/** `varscope export ...`: the Python exporter with PYTHONPATH=<root>/tools; resolves to its exit code. */
export function runExport(rest: string[]): Promise<number> {
  const root = packageRoot();
  const env = { ...process.env, PYTHONPATH: [path.join(root, 'tools'), process.env.PYTHONPATH].filter(Boolean).join(path.delimiter) };
  return new Promise((resolve) => {
    const p = spawn('/usr/bin/python3', ['-m', 'varscope.export', ...rest], { stdio: 'inherit', env });
    p.on('error', (e) => {
      process.stderr.write(`varscope: cannot run /usr/bin/python3: ${e.message}\n`);
      resolve(1);
    });
    p.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}
