/**
 * The CLI commands: inspect, eval, generate, sample-grid, stats, export. Each prints / writes JSON for scripts and CI.
 * The engine runs in-process (a terminal has no editor to protect from native crashes).
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { PROVIDER_CHOICES, type EngineApi, type EngineConfig, type TextCondition } from '../shared/engineApi';
import { VarScopeError } from '../shared/errors';
import { SCALE_METRICS } from '../shared/metrics';
import {
  bitUsageJson,
  cappedDistinctCounts,
  type AnyModelInfo,
  type BitGenerationSettings,
  type BitsEvalResult,
  type ModelInfo,
} from '../shared/results';
import { samplingValueError, type SamplingField } from '../shared/samplingBounds';
import { writeFileAtomic } from '../node/atomicWrite';
import { DEFAULT_CONFIG, MAX_IMAGE_PIXELS_CEILING, noUsableImagesError, someImagesFailed } from '../engine/engine';
import { pythonPackageDir, pythonPathWith } from '../client/checkpointExport';
import { findPython, pythonCandidates } from '../client/pythonFinder';
import { CheckpointBundler } from '../client/checkpointBundler';
import { keepTemplate, templateStoreDir } from '../node/templateStore';
import { CommandSpec, num, ParsedArgs, UsageError } from './args';
import { forwardSignalsTo, signalExitCode } from './interrupt';
import { checkDistinct, checkOutputDir, checkOutputFile, writeOutput } from './outputPaths';
import { ProgressLine } from './progress';
import { PROFILE_OPTIONS, profileTable, runProfile } from './profileCommand';
import { runWatchCommand, WATCH_OPTIONS, WATCH_SWITCHES } from './watchCommand';
import { gridJson, gridPngs, runSampleGrid, SAMPLE_GRID_OPTIONS } from './sampleGridCommand';
import {
  EVALUATE_OPTIONS,
  EVALUATE_SWITCHES,
  FREE_RUNNING_OPTIONS,
  FREE_RUNNING_SWITCH,
  evaluationJson,
  runEvaluate,
  runTimeline,
  SHARD_OPTION,
  TIMELINE_OPTIONS,
  warnOnStderr,
} from './evaluateCommand';
import { nearestSchedule, varModelOf } from '../shared/modelFamily';

const COMMON: CommandSpec['options'] = {
  model: { help: 'model bundle folder (varscope.json inside); default: the embedded model named in models/default.json' },
  json: { help: 'write the JSON result here ("-" = stdout)', default: '-' },
  provider: { help: `execution provider: ${PROVIDER_CHOICES.join(', ')}`, default: 'auto' },
  threads: { help: 'intra-op threads (0 = measured best)', default: '0' },
  'cuda-path': { help: 'folder with the CUDA provider libraries' },
  'max-pixels': {
    help: `refuse images with more pixels, read from the file's header before decoding (at most ${MAX_IMAGE_PIXELS_CEILING}; an image takes ~8 bytes a pixel while it is prepared)`,
    default: String(DEFAULT_CONFIG.maxImagePixels),
  },
};
const IMAGE_OPTS: CommandSpec['options'] = {
  'resize-ratio': { help: 'short side before the centre crop, in units of the model image size', default: '1' },
};

/** The flags of `generate` that only an Infinity model takes. */
const INFINITY_GENERATE_OPTIONS: CommandSpec['options'] = {
  'text-features': { help: "Infinity: the caption's T5 features ([N, width] float32 .npy or .safetensors)" },
  prompt: { help: "Infinity: the caption as text (needs the bundle's text encoder)" },
  ratio: { help: "Infinity: the schedule's aspect ratio h/w (default: the bundle's first schedule)" },
  'cfg-list': { help: 'Infinity: CFG per scale, comma-separated (one value per scale of the schedule; replaces --cfg)' },
  'tau-list': { help: "Infinity: temperature per scale, comma-separated (default: the model's tau at every scale)" },
};

/** The command specs, in help order. */
export const SPECS: Record<string, CommandSpec> = {
  inspect: {
    name: 'inspect',
    summary:
      'Tokenize an image: tokens of every scale (an Infinity model: bits), residual energy, PSNR of each progressive reconstruction, codebook usage.',
    positionals: ['IMAGE'],
    options: {
      ...COMMON,
      ...IMAGE_OPTS,
      'images-dir': { help: 'also write decode(f̂ after scale k) as PNGs here' },
      ratio: { help: "Infinity: the schedule's aspect ratio h/w (default: the bundle's template nearest the image's)" },
      'text-features': {
        help: "Infinity: a caption's T5 features ([N, width] float32 .npy or .safetensors): adds teacher-forced bit and token accuracy per scale",
      },
      prompt: { help: "Infinity: the caption as text, encoded by the bundle's text encoder (instead of --text-features)" },
    },
  },
  eval: {
    name: 'eval',
    summary:
      'Teacher-forced evaluation (no CFG): per-scale accuracy and NLL of the true tokens for a class (an Infinity model: bit and token accuracy for a caption, beside the majority-bit and copy-coarser baselines).',
    positionals: ['IMAGE'],
    options: {
      ...COMMON,
      ...IMAGE_OPTS,
      class: { help: 'VAR: class id (the null class id = no class); required' },
      ratio: { help: "Infinity: the schedule's aspect ratio h/w (default: the bundle's template nearest the image's)" },
      'text-features': { help: "Infinity: the caption's T5 features ([N, width] float32 .npy or .safetensors)" },
      prompt: { help: "Infinity: the caption as text, encoded by the bundle's text encoder (instead of --text-features)" },
    },
  },
  generate: {
    name: 'generate',
    summary:
      'Generate an image scale by scale (KV cache, CFG, top-k / top-p, seeded): for a class (VAR), or for a caption (Infinity: per-scale CFG and temperature, bits sampled one by one).',
    positionals: [],
    options: {
      ...COMMON,
      class: { help: 'VAR: class id (required for a VAR model)' },
      seed: { help: 'random seed (same seed, same image)', default: '0' },
      cfg: {
        help: "classifier-free guidance strength (VAR: ramped over the scales; Infinity: every scale) (default: the model's recommended sampling, else the official 4)",
      },
      'top-k': { help: "top-k, 0 = off (Infinity: per bit, 1 = greedy) (default: the model's, else 900)" },
      'top-p': { help: "top-p, 0 = off (default: the model's, else 0.96)" },
      ...INFINITY_GENERATE_OPTIONS,
      out: { help: 'write the image (PNG)' },
    },
  },
  'sample-grid': {
    name: 'sample-grid',
    summary:
      'Sampler settings side by side (CFG × top-k × top-p): N seeded samples per class per setting, each a `generate` run; per scale the entropy, distinct codes, diversity within a class and agreement with the first setting.',
    positionals: [],
    options: { ...COMMON, ...SAMPLE_GRID_OPTIONS },
  },
  evaluate: {
    name: 'evaluate',
    summary: `A model over a folder of images (recursive): per scale ${SCALE_METRICS.map((m) => m.label).join(', ')}, beside baselines; per class and per image.`,
    positionals: ['FOLDER'],
    options: { ...COMMON, ...IMAGE_OPTS, ...EVALUATE_OPTIONS, ...SHARD_OPTION, ...FREE_RUNNING_OPTIONS },
    switches: { ...EVALUATE_SWITCHES, ...FREE_RUNNING_SWITCH },
  },
  merge: {
    name: 'merge',
    summary:
      'The parts of a split evaluation (evaluate --shard K/N for K = 0 … N-1) as the result of one run over the whole folder, number for number.',
    positionals: ['PARTS...'],
    options: {
      json: COMMON.json,
      csv: EVALUATE_OPTIONS.csv,
      'images-csv': EVALUATE_OPTIONS['images-csv'],
      'free-running-csv': FREE_RUNNING_OPTIONS['free-running-csv'],
    },
  },
  timeline: {
    name: 'timeline',
    summary: 'The checkpoints of a training run (--models or --checkpoints) evaluated on one folder, ordered by training step.',
    positionals: ['FOLDER'],
    options: { ...COMMON, ...IMAGE_OPTS, ...EVALUATE_OPTIONS, ...TIMELINE_OPTIONS },
    switches: EVALUATE_SWITCHES,
  },
  watch: {
    name: 'watch',
    summary:
      'Follow a training run while it trains: every new version of a checkpoint in RUN_DIR (ar-ckpt-last.pth rewritten each epoch, new .pth / .safetensors files, bundle folders) is evaluated on --images and added to RUN_DIR/varscope-timeline.json, with one line saying what changed; Ctrl-C stops.',
    positionals: ['RUN_DIR'],
    options: { ...COMMON, ...IMAGE_OPTS, ...WATCH_OPTIONS },
    switches: WATCH_SWITCHES,
  },
  profile: {
    name: 'profile',
    summary:
      "Where the time goes per scale and per graph, for one generation and one teacher-forced pass: ms, FLOPs from the graph shapes, the fraction of this machine's measured matrix-product rate, KV cache bytes, the last two scales' share.",
    positionals: [],
    options: { ...COMMON, ...PROFILE_OPTIONS },
  },
  stats: {
    name: 'stats',
    summary:
      "Codebook usage over a folder of images (recursive): the codebook part of `evaluate` alone, without the transformer; for an Infinity model, per scale each bit's ones, balance and entropy, and the different codes.",
    positionals: ['FOLDER'],
    options: { ...COMMON, ...IMAGE_OPTS },
  },
  export: {
    name: 'export',
    summary:
      'Export a PyTorch checkpoint to a model bundle (python -m varscope.export; its flags pass through; with --infinity INFINITY.pth, an Infinity pair through python -m varscope.infinity.export). --python PATH or VARSCOPE_PYTHON picks the Python (default: python3 on PATH, else /usr/bin/python3; the first with torch >= 1.13 and onnx).',
    positionals: [],
    options: {},
    passThrough: true,
  },
};

/** Engine settings from the common flags. */
export function engineConfig(args: ParsedArgs): EngineConfig {
  const provider = args.options.provider as EngineConfig['provider'];
  if (!PROVIDER_CHOICES.includes(provider))
    throw new UsageError(`--provider must be one of ${PROVIDER_CHOICES.join(', ')}, got ${provider}`);
  return {
    provider,
    threads: num(args, 'threads', { int: true, min: 0, max: 256 }),
    cudaLibraryPath: args.options['cuda-path'],
    maxImagePixels: num(args, 'max-pixels', { int: true, min: 1, max: MAX_IMAGE_PIXELS_CEILING }),
  };
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

/** Check every output path of a command before anything runs (one line per problem, exit 2). */
export function checkOutputs(name: string, args: ParsedArgs): void {
  const outputs: Array<[string, string]> = [];
  const json = args.options.json;
  if (json !== undefined && json !== '-') {
    checkOutputFile('--json', json);
    outputs.push(['--json', json]);
  }
  if (name === 'generate' && args.options.out !== undefined) {
    checkOutputFile('--out', args.options.out);
    outputs.push(['--out', args.options.out]);
  }
  for (const flag of ['csv', 'images-csv', 'free-running-csv']) {
    const file = ['evaluate', 'timeline', 'merge'].includes(name) ? args.options[flag] : undefined;
    if (file === undefined) continue;
    checkOutputFile(`--${flag}`, file);
    outputs.push([`--${flag}`, file]);
  }
  if (name === 'inspect' && args.options['images-dir'] !== undefined) checkOutputDir('--images-dir', args.options['images-dir']);
  if (name === 'sample-grid' && args.options.out !== undefined) checkOutputDir('--out', args.options.out);
  const inputs: Array<[string, string]> = ['inspect', 'eval'].includes(name)
    ? [['the input IMAGE', args.positionals[0]]]
    : name === 'profile' && args.options.image !== undefined
      ? [['the --image', args.options.image]]
      : name === 'merge'
        ? args.positionals.map((p): [string, string] => ['a PART to merge', p])
        : [];
  checkDistinct(outputs, inputs);
}

/**
 * Write the JSON result to a file (whole or not at all) or stdout; `compact` leaves out the indentation (a part of a
 * split evaluation, read by `varscope merge`: its per-image statistics take 2.4 times the bytes indented).
 */
export async function writeJson(args: ParsedArgs, value: unknown, compact = false): Promise<void> {
  const text = JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), compact ? undefined : 1) + '\n';
  const out = args.options.json ?? '-';
  if (out === '-') process.stdout.write(text);
  else await writeOutput(out, text);
}

/** Write RGBA pixels as a PNG (whole or not at all). */
export async function writePng(file: string, img: { width: number; height: number; data: Uint8ClampedArray }): Promise<void> {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const png = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), {
    raw: { width: img.width, height: img.height, channels: 4 },
  })
    .png()
    .toBuffer();
  await writeFileAtomic(file, png);
}

/** A sampling flag, inside the bounds every sampling setting shares with the panel. */
function samplingFlag(args: ParsedArgs, flag: string, name: SamplingField): number {
  const v = num(args, flag);
  const problem = samplingValueError(name, v);
  if (problem) throw new UsageError(`--${flag} ${problem}`, false);
  return v;
}

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / Math.max(1, a.length);
}

/**
 * Open the model before anything runs (the engine's watchdog then knows how long one of its runs may take); its
 * provider goes in every JSON result, why faster ones were skipped to stderr with --verbose.
 */
async function openAnyModel(engine: EngineApi, model: string): Promise<AnyModelInfo> {
  const info = await engine.openModel({ model });
  if (process.env.VARSCOPE_VERBOSE === '1')
    for (const f of info.providerFallbacks) process.stderr.write(`varscope: provider ${f.provider} skipped: ${f.reason}\n`);
  return info;
}

/** openAnyModel for a command that works on VAR models only. */
async function openModel(engine: EngineApi, model: string): Promise<ModelInfo> {
  return varModelOf(await openAnyModel(engine, model), 'this command');
}

/** Listeners of the engine's folderUsage progress events (main routes the engine's events here). */
const folderListeners = new Set<(e: { done: number; total: number; failed: number }) => void>();

/** Listen to folder progress; returns the unsubscribe function. */
export function onFolderProgress(f: (e: { done: number; total: number; failed: number }) => void): () => void {
  folderListeners.add(f);
  return () => folderListeners.delete(f);
}

/** An engine event for the CLI: logs to stderr, folder progress to its listeners. */
export function onEngineEvent(ev: string, payload: unknown): void {
  if (ev === 'log') {
    // Routine facts (a bundle verified, graphs opened) only with --verbose; warnings and errors always.
    const { level, message } = payload as { level: string; message: string };
    if (level !== 'info' || process.env.VARSCOPE_VERBOSE === '1') process.stderr.write(`${message}\n`);
  } else if (ev === 'folderUsage') for (const f of folderListeners) f(payload as { done: number; total: number; failed: number });
}

/** The caption of --text-features or --prompt (one of them at most), or undefined. */
function captionOption(args: ParsedArgs): TextCondition | undefined {
  const featuresFile = args.options['text-features'];
  const prompt = args.options.prompt;
  if (featuresFile !== undefined && prompt !== undefined)
    throw new UsageError('give the caption as --text-features or as --prompt, not both', false);
  if (featuresFile !== undefined) return { featuresFile };
  return prompt === undefined ? undefined : { prompt };
}

/**
 * `varscope inspect` on an Infinity bundle: the bits of every scale (one string of 0/1 per token, bit j at
 * character j), residual energy and PSNR per scale; with --text-features or --prompt, teacher-forced bit and token accuracy per
 * scale beside the majority-bit and copy-coarser baselines.
 */
async function inspectInfinity(args: ParsedArgs, engine: EngineApi, model: string): Promise<void> {
  const hDivW = args.options.ratio === undefined ? undefined : num(args, 'ratio', { min: 0.05, max: 20 });
  const image = { path: args.positionals[0] };
  const r = await engine.inspectBits({ model, image, hDivW });
  const text = captionOption(args);
  const tf = text && (await engine.evaluateBits({ model, image, hDivW, text }));
  const dir = args.options['images-dir'];
  if (dir)
    for (const s of r.scales) await writePng(path.join(dir, `scale${String(s.scaleIndex).padStart(2, '0')}_${s.h}x${s.w}.png`), s.decoded);
  const d = r.model.bits;
  await writeJson(args, {
    provider: r.model.provider,
    model: { id: r.model.id, family: r.model.family, bits: d, schedules: r.model.schedules.map((s) => s.id) },
    schedule: r.schedule,
    image: { ...r.image, input: undefined },
    scales: r.scales.map((s) => ({
      h: s.h,
      w: s.w,
      bits: Array.from({ length: s.h * s.w }, (_, t) => s.bits.subarray(t * d, (t + 1) * d).join('')),
      residualEnergy: s.residualEnergy,
      psnr: s.psnr,
    })),
    teacherForced: tf && teacherForcedJson(tf),
  });
}

/** The flags of `generate`, each checked (numbers in their bounds) before the model opens; undefined: not given. */
interface GenerateFlags {
  classId?: number;
  seed: number;
  cfg?: number;
  topK?: number;
  topP?: number;
  hDivW?: number;
  cfgList?: number[];
  tauList?: number[];
}

function generateFlags(args: ParsedArgs): GenerateFlags {
  const given = (name: string) => args.options[name] !== undefined;
  return {
    classId: given('class') ? samplingFlag(args, 'class', 'classId') : undefined,
    seed: samplingFlag(args, 'seed', 'seed'),
    cfg: given('cfg') ? samplingFlag(args, 'cfg', 'cfg') : undefined,
    topK: given('top-k') ? samplingFlag(args, 'top-k', 'topK') : undefined,
    topP: given('top-p') ? samplingFlag(args, 'top-p', 'topP') : undefined,
    hDivW: given('ratio') ? num(args, 'ratio', { min: 0.05, max: 20 }) : undefined,
    cfgList: given('cfg-list') ? numberList(args, 'cfg-list') : undefined,
    tauList: given('tau-list') ? numberList(args, 'tau-list') : undefined,
  };
}

/** A comma-separated list of numbers (`--cfg-list 1,1.5,2`). */
function numberList(args: ParsedArgs, flag: string): number[] {
  const text = args.options[flag];
  const values = text.split(',').map((v) => Number(v));
  if (text.trim() === '' || values.some((v, i) => !Number.isFinite(v) || text.split(',')[i].trim() === ''))
    throw new UsageError(`--${flag} must be numbers separated by commas, got ${JSON.stringify(text)}`, false);
  return values;
}

/**
 * `varscope generate` on an Infinity bundle: a caption (--text-features or --prompt), CFG and temperature per scale
 * (one --cfg for every scale, or --cfg-list; --tau-list), top-k / top-p per bit, the schedule of --ratio. Prints the
 * bits of every scale as `inspect` does; --out writes the image.
 */
async function generateInfinity(args: ParsedArgs, engine: EngineApi, model: string, flags: GenerateFlags): Promise<void> {
  if (flags.classId !== undefined)
    throw new UsageError(`--class is for VAR models; ${model} is an Infinity bundle (give a caption: --text-features or --prompt)`, false);
  const text = captionOption(args);
  if (!text) throw new UsageError(`an Infinity model needs one caption: --text-features FILE or --prompt TEXT`, false);
  if (flags.cfg !== undefined && flags.cfgList !== undefined) throw new UsageError('give --cfg or --cfg-list, not both', false);
  const info = await engine.openModel({ model });
  if (info.family !== 'infinity') throw new VarScopeError('BadRequest', `${model} is a VAR bundle`);
  const hDivW = flags.hDivW ?? info.schedules[0].hDivW;
  const schedule = nearestSchedule(info.schedules, hDivW);
  const K = schedule.scales.length;
  const settings: BitGenerationSettings = {
    family: 'infinity',
    text,
    hDivW,
    seed: flags.seed,
    cfgList: flags.cfgList ?? new Array<number>(K).fill(flags.cfg ?? info.sampling.cfg),
    tauList: flags.tauList ?? new Array<number>(K).fill(info.sampling.tau),
    topK: flags.topK ?? info.sampling.topK,
    topP: flags.topP ?? info.sampling.topP,
  };
  const r = await engine.generate({ model, settings });
  if (args.options.out) await writePng(args.options.out, r.image);
  const d = info.bits;
  await writeJson(args, {
    provider: info.provider,
    settings: { ...settings, cfgInsertionLayer: info.sampling.cfgInsertionLayer },
    schedule: r.schedule,
    scales: r.bits.map((b, k) => {
      const [h, w] = schedule.scales[k];
      return { h, w, bits: Array.from({ length: h * w }, (_, t) => b.subarray(t * d, (t + 1) * d).join('')) };
    }),
    image: args.options.out ? path.resolve(args.options.out) : null,
  });
}

/** A teacher-forced Infinity evaluation as `inspect --text-features` and `eval` write it (without the per-bit hits). */
function teacherForcedJson(tf: BitsEvalResult): Record<string, unknown> {
  return {
    captionTokens: tf.captionTokens,
    copyCoarser: 'nearest',
    overall: tf.overall,
    scales: tf.scales.map(({ correct: _correct, ...rest }) => rest),
  };
}

/** `varscope eval` on an Infinity bundle: teacher-forced bit and token accuracy per scale for one caption. */
async function evalInfinity(args: ParsedArgs, engine: EngineApi, model: string): Promise<void> {
  if (args.options.class !== undefined)
    throw new UsageError(`--class is for VAR models; ${model} is an Infinity bundle (give --text-features or --prompt)`, false);
  const text = captionOption(args);
  if (!text) throw new UsageError('an Infinity model is evaluated for a caption: give --text-features FILE or --prompt TEXT', false);
  const hDivW = args.options.ratio === undefined ? undefined : num(args, 'ratio', { min: 0.05, max: 20 });
  const info = await openAnyModel(engine, model);
  const tf = await engine.evaluateBits({ model, image: { path: args.positionals[0] }, hDivW, text });
  await writeJson(args, { provider: info.provider, family: info.family, schedule: tf.schedule, ...teacherForcedJson(tf) });
}

/** Run one command (not export/bench). */
export async function runCommand(name: string, args: ParsedArgs, engine: EngineApi): Promise<void> {
  const model = modelDir(args);
  const ratio = () => num(args, 'resize-ratio', { min: 0.01, max: 100 });
  switch (name) {
    case 'inspect': {
      if ((await engine.modelFamily({ model })) === 'infinity') return inspectInfinity(args, engine, model);
      for (const flag of ['ratio', 'text-features', 'prompt'])
        if (args.options[flag] !== undefined) throw new UsageError(`--${flag} is for Infinity models; ${model} is a VAR bundle`, false);
      const resizeRatio = ratio();
      const { provider } = await openModel(engine, model);
      const r = await engine.inspect({ model, image: { path: args.positionals[0] }, resizeRatio });
      const dir = args.options['images-dir'];
      if (dir)
        for (const s of r.scales) await writePng(path.join(dir, `scale${String(s.scaleIndex).padStart(2, '0')}_pn${s.pn}.png`), s.decoded);
      await writeJson(args, {
        provider,
        model: {
          id: r.model.id,
          patchNums: r.model.patchNums,
          vocabSize: r.model.vocabSize,
          provider: r.model.provider,
          providerFallbacks: r.model.providerFallbacks,
          nodePlacement: r.model.nodePlacement,
        },
        image: { ...r.image, input: undefined },
        scales: r.scales.map((s) => ({
          pn: s.pn,
          tokens: Array.from(s.tokens),
          residualEnergy: s.residualEnergy,
          psnr: s.psnr,
          meanQuantError: mean(s.quantError),
          meanQuantMargin: mean(s.quantMargin),
        })),
        codebook: { used: r.codebook.used, perplexity: r.codebook.perplexity, perplexityPerScale: r.codebook.perplexityPerScale },
      });
      return;
    }
    case 'eval': {
      if ((await engine.modelFamily({ model })) === 'infinity') return evalInfinity(args, engine, model);
      for (const flag of ['ratio', 'text-features', 'prompt'])
        if (args.options[flag] !== undefined) throw new UsageError(`--${flag} is for Infinity models; ${model} is a VAR bundle`, false);
      if (args.options.class === undefined) throw new UsageError('--class is required');
      const classId = samplingFlag(args, 'class', 'classId');
      const resizeRatio = ratio();
      const { provider } = await openModel(engine, model);
      const r = await engine.evaluate({ model, image: { path: args.positionals[0] }, classId, resizeRatio });
      await writeJson(args, {
        provider,
        classId,
        scales: r.scales.map((s) => ({ pn: s.pn, accuracy: s.accuracy, nll: s.nll, meanEntropy: s.meanEntropy })),
      });
      return;
    }
    case 'generate': {
      // Flags are checked before the model opens; those left out take the bundle's recommended sampling
      // (ModelInfo.sampling), as the panel does.
      const flags = generateFlags(args);
      if ((await engine.modelFamily({ model })) === 'infinity') return generateInfinity(args, engine, model, flags);
      for (const flag of Object.keys(INFINITY_GENERATE_OPTIONS))
        if (args.options[flag] !== undefined) throw new UsageError(`--${flag} is for Infinity models; ${model} is a VAR bundle`, false);
      if (flags.classId === undefined) throw new UsageError('--class is required');
      const info = await openModel(engine, model);
      const provider = info.provider;
      const settings = {
        classId: flags.classId,
        seed: flags.seed,
        cfg: flags.cfg ?? info.sampling.cfg,
        topK: flags.topK ?? info.sampling.topK,
        topP: flags.topP ?? info.sampling.topP,
      };
      const r = await engine.generate({ model, settings });
      if (args.options.out) await writePng(args.options.out, r.image);
      await writeJson(args, {
        provider,
        settings,
        scales: r.tokens.map((t, k) => ({ pn: info.patchNums[k], tokens: Array.from(t) })),
        image: args.options.out ? path.resolve(args.options.out) : null,
      });
      return;
    }
    case 'sample-grid': {
      const info = await openModel(engine, model);
      const r = await runSampleGrid(args, engine, model, info);
      const pngs = args.options.out ? gridPngs(args.options.out, r) : [];
      for (const p of pngs) await writePng(p.file, p.image);
      await writeJson(
        args,
        gridJson(
          info.provider,
          r,
          pngs.map((p) => p.file),
        ),
      );
      return;
    }
    case 'evaluate': {
      const r = await runEvaluate(args, engine, model, ratio());
      const { provider } = await openAnyModel(engine, model); // opened by runEvaluate: its provider
      await writeJson(args, evaluationJson(provider, r), r.shard !== undefined);
      return;
    }
    case 'timeline': {
      await writeJson(args, await runTimeline(args, engine, ratio(), packageRoot()));
      return;
    }
    case 'watch': {
      await writeJson(args, await runWatchCommand(args, engine, ratio(), packageRoot()));
      return;
    }
    case 'profile': {
      await openModel(engine, model);
      const r = await runProfile(args, engine, model);
      if (args.options.json !== undefined) await writeJson(args, r);
      if (args.options.json !== '-') process.stdout.write(profileTable(r) + '\n');
      return;
    }
    case 'stats': {
      const folder = args.positionals[0];
      if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) throw new UsageError(`${folder} is not a folder`, false);
      const resizeRatio = ratio();
      const { provider } = await openAnyModel(engine, model); // VAR: codebook counts; Infinity: bit usage
      const progress = new ProgressLine();
      const unlisten = onFolderProgress((e) =>
        progress.update(`stats: ${e.done}/${e.total} images${e.failed ? `, ${e.failed} failed` : ''}`),
      );
      let r;
      try {
        progress.update(`stats: listing images under ${folder}`);
        r = await engine.folderUsage({ model, runId: 'cli-stats', folder, resizeRatio, every: 1 });
      } finally {
        unlisten();
        progress.done();
      }
      const u = r.usage;
      if (!u.images && !r.cancelled) throw noUsableImagesError(folder, r.failed);
      if (r.failed.length) process.stderr.write(`varscope stats: ${someImagesFailed(r.failed, u.images ?? 0)}\n`);
      if ('kind' in u) {
        // An Infinity model: per scale, each bit's ones count, balance and entropy, and the different codes.
        const capped = cappedDistinctCounts(u);
        if (capped.length)
          process.stderr.write(
            `varscope stats: more different codes than are kept, so these counts are lower bounds: ${capped.join(', ')}\n`,
          );
        await writeJson(args, { provider, failed: r.failed, ...bitUsageJson(u) });
        return;
      }
      await writeJson(args, {
        provider,
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

/**
 * `varscope export ...`: the Python exporter with the package folder (pythonPackageDir) first on PYTHONPATH; resolves
 * to its exit code. The Python is `--python`, else VARSCOPE_PYTHON, else python3 on PATH, else /usr/bin/python3: the
 * first with torch and onnx.
 * SIGINT / SIGTERM sent to this process go to the exporter, which stops and leaves --out as it was.
 */
export async function runExport(argv: string[]): Promise<number> {
  const root = packageRoot();
  const { python: given, rest: args } = takePythonFlag(argv);
  const noTemplate = args.includes('--no-template');
  const rest = args.filter((a) => a !== '--no-template');
  // An Infinity pair (--infinity) goes to its own exporter, which has no templates (README, Infinity checkpoints).
  const infinity = rest.includes('--infinity');
  const fast = noTemplate || infinity ? undefined : templateExportArgs(rest);
  if (fast) {
    const done = await exportFromTemplate(fast, root);
    if (done) return 0;
  }
  const explicit =
    given !== undefined
      ? { command: given, source: '--python' }
      : process.env.VARSCOPE_PYTHON
        ? { command: process.env.VARSCOPE_PYTHON, source: 'VARSCOPE_PYTHON' }
        : undefined;
  let python: string;
  if (rest.includes('--help') || rest.includes('-h')) python = explicit?.command ?? '/usr/bin/python3';
  else {
    try {
      const choice = await findPython(pythonCandidates({ explicit }), { settingName: '--python (or VARSCOPE_PYTHON)' });
      python = choice.found.command;
      const skipped = explicit && choice.probes.find((p) => p.source === explicit.source && !p.ok);
      if (skipped)
        process.stderr.write(
          `varscope export: ${skipped.source} ${skipped.command} skipped (${skipped.reason}); using ${python} (${choice.found.source})\n`,
        );
    } catch (e) {
      const err = e as VarScopeError;
      process.stderr.write(`varscope export: ${err.message}\n${(err.detail ?? '').replace(/^/gm, '  skipped ')}\n`);
      return 1;
    }
  }
  const env = {
    ...process.env,
    PYTHONPATH: pythonPathWith(pythonPackageDir(root)),
    VARSCOPE_PARENT_PID: String(process.pid), // the exporter stops if this process is killed outright
  };
  const code = await new Promise<number>((resolve) => {
    // bin/varscope.js takes --verbose off every command line (VARSCOPE_VERBOSE): the exporter then prints torch's warnings.
    const verbose = process.env.VARSCOPE_VERBOSE === '1' && !rest.includes('--verbose') && !infinity ? ['--verbose'] : [];
    const module = infinity ? 'varscope.infinity.export' : 'varscope.export';
    const p = spawn(python, ['-m', module, ...rest, ...verbose], { stdio: 'inherit', env });
    forwardSignalsTo(p);
    p.on('error', (e) => {
      process.stderr.write(`varscope: cannot run ${python}: ${e.message}\n`);
      resolve(1);
    });
    p.on('exit', (code, signal) => {
      // An exporter that handled the signal printed its own line; one killed outright did not.
      if (signal)
        process.stderr.write(
          `varscope export: the exporter was stopped (${signal}); --out is as it was (a .partial folder may remain beside it)\n`,
        );
      resolve(code ?? signalExitCode(signal!));
    });
  });
  const out = fast?.out;
  if (code === 0 && out) {
    // The next checkpoint of this architecture needs no Python.
    const kept = await keepTemplate(out, templateStoreDir()).catch(() => undefined);
    if (kept && process.env.VARSCOPE_VERBOSE === '1') process.stderr.write(`varscope export: template kept in ${kept}\n`);
  }
  return code;
}

/** The flags of an export the template path can do alone (no --fp16, --patch-nums, --share-vae-from …), or undefined. */
export function templateExportArgs(rest: string[]): { vae: string; var: string; out: string; id?: string; name?: string } | undefined {
  const values: Record<string, string> = {};
  const simple = new Set(['--vae', '--var', '--out', '--id', '--name']);
  for (let i = 0; i < rest.length; i++) {
    const [flag, inline] = rest[i].split(/=(.*)/s, 2);
    if (flag === '--verbose') continue;
    if (!simple.has(flag)) return undefined;
    const value = inline ?? rest[++i];
    if (value === undefined) return undefined;
    values[flag.slice(2)] = value;
  }
  const { vae, var: varFile, out, id, name } = values;
  if (!vae || !varFile || !out || fs.existsSync(out)) return undefined; // an existing --out: the exporter's own checks
  return { vae, var: varFile, out, id, name };
}

/** The export without Python when an architecture template fits the checkpoints; false when none does. */
async function exportFromTemplate(
  a: { vae: string; var: string; out: string; id?: string; name?: string },
  root: string,
): Promise<boolean> {
  const bundler = CheckpointBundler.forCli(root);
  const t0 = Date.now();
  const id = a.id ?? path.basename(path.resolve(a.out));
  try {
    const made = await bundler.make({ vae: a.vae, var: a.var }, a.out, { id, name: a.name ?? id, templateOnly: true });
    process.stderr.write(
      `varscope export: ${a.out} written from its architecture template in ${((Date.now() - t0) / 1000).toFixed(1)} s (no Python)\n`,
    );
    warnOnStderr(made.warnings, 'export');
    return made.via === 'template';
  } catch (e) {
    if (process.env.VARSCOPE_VERBOSE === '1') process.stderr.write(`varscope export: no template: ${VarScopeError.toWire(e).message}\n`);
    return false;
  }
}

/** `--python X` / `--python=X` taken out of the exporter's arguments. */
export function takePythonFlag(argv: string[]): { python?: string; rest: string[] } {
  const rest: string[] = [];
  let python: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--python') {
      if (argv[i + 1] === undefined) throw new UsageError('--python needs a value');
      python = argv[++i];
    } else if (a.startsWith('--python=')) python = a.slice('--python='.length);
    else rest.push(a);
  }
  return { python, rest };
}
