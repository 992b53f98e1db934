/**
 * `varscope sample-grid`: sampler settings side by side (CFG × top-k × top-p) for chosen classes, N seeded samples
 * each, with the per-scale metrics of each setting as JSON and, with --out, one PNG grid per setting. On an Infinity
 * bundle: for one caption, CFG × tau × top-k × top-p, CFG and tau each a value for every scale or a list per scale.
 */
import * as path from 'path';
import {
  anySamplingGridError,
  BIT_SAMPLING_METRICS,
  BIT_SAMPLING_PRESETS,
  cartesianBitSettings,
  parseScaleLists,
  type AnySamplingGridResult,
  type BitGridSettingResult,
  type BitSamplingGridResult,
  type BitSamplingPresetName,
} from '../shared/bitSamplingGrid';
import type { EngineApi, TextCondition } from '../shared/engineApi';
import { nearestSchedule } from '../shared/modelFamily';
import type { BitsModelInfo, ModelInfo, RgbaImage } from '../shared/results';
import {
  cartesianSettings,
  SAMPLING_METRICS,
  SAMPLING_PRESETS,
  samplingGridError,
  type GridSettingResult,
  type SamplerSetting,
  type SamplingGridResult,
  type SamplingPreset,
} from '../shared/samplingGrid';
import { CommandSpec, num, ParsedArgs, UsageError } from './args';
import { ProgressLine } from './progress';

/** Options of `sample-grid` beyond the common ones. */
export const SAMPLE_GRID_OPTIONS: CommandSpec['options'] = {
  classes: { help: 'VAR: comma-separated class ids, e.g. 1,2 (required for a VAR model)' },
  cfg: {
    help: "comma-separated CFG strengths (default: the preset's, else the model's recommended sampling); Infinity: each one value for every scale or one per scale separated by spaces",
  },
  'top-k': { help: 'comma-separated top-k values, at least 1; clamped to the codebook size (Infinity: per bit, to 2) (default: as --cfg)' },
  'top-p': { help: 'comma-separated top-p values, 0 = off (default: as --cfg)' },
  preset: {
    help: `official settings: ${Object.entries(SAMPLING_PRESETS)
      .map(([k, [s]]) => `${k} (cfg ${s.cfg}, top-k ${s.topK}, top-p ${s.topP})`)
      .join(', ')}; Infinity: ${Object.entries(BIT_SAMPLING_PRESETS)
      .map(([k, s]) => `${k} (${s.label}: cfg ${s.cfg}, tau ${s.tau}, top-k ${s.topK}, top-p ${s.topP})`)
      .join(', ')}; --cfg / --tau / --top-k / --top-p given replace its values`,
  },
  tau: {
    help: 'Infinity: comma-separated temperatures, each one value for every scale or one per scale separated by spaces (default: as --cfg)',
  },
  'text-features': { help: "Infinity: the caption's T5 features ([N, width] float32 .npy or .safetensors)" },
  prompt: { help: "Infinity: the caption as text (needs the bundle's text encoder)" },
  ratio: { help: "Infinity: the schedule's aspect ratio h/w (default: the bundle's first schedule)" },
  samples: { help: 'samples per class (Infinity: per caption) per setting', default: '4' },
  seed: { help: 'sample j has seed SEED + j under every setting', default: '0' },
  out: { help: 'write one PNG per setting here (rows: classes, columns: samples)' },
};

/** A comma-separated list of numbers. */
function numberList(args: ParsedArgs, flag: string): number[] | undefined {
  const s = args.options[flag];
  if (s === undefined) return undefined;
  const values = s.split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));
  if (!values.length || values.some((v) => !Number.isFinite(v)))
    throw new UsageError(`--${flag} must be comma-separated numbers, got ${JSON.stringify(s)}`, false);
  return values;
}

/** The grid's settings from --preset and the flags (checked before the model opens where no model facts are needed). */
function gridSettings(args: ParsedArgs, info: ModelInfo): SamplerSetting[] {
  const preset = args.options.preset;
  if (preset !== undefined && !Object.hasOwn(SAMPLING_PRESETS, preset))
    throw new UsageError(`--preset must be one of ${Object.keys(SAMPLING_PRESETS).join(', ')}, got ${preset}`, false);
  const base = preset ? SAMPLING_PRESETS[preset as SamplingPreset][0] : info.sampling;
  return cartesianSettings(
    numberList(args, 'cfg') ?? [base.cfg],
    numberList(args, 'top-k') ?? [base.topK],
    numberList(args, 'top-p') ?? [base.topP],
  );
}

/** The flags only an Infinity grid takes. */
export const INFINITY_GRID_FLAGS = ['tau', 'text-features', 'prompt', 'ratio'] as const;

/** Run the grid of the flags on an opened model. */
export async function runSampleGrid(args: ParsedArgs, engine: EngineApi, model: string, info: ModelInfo): Promise<SamplingGridResult> {
  for (const flag of INFINITY_GRID_FLAGS)
    if (args.options[flag] !== undefined) throw new UsageError(`--${flag} is for Infinity models; ${model} is a VAR bundle`, false);
  if (args.options.classes === undefined) throw new UsageError('--classes is required');
  const request = {
    classes: numberList(args, 'classes')!,
    settings: gridSettings(args, info),
    samples: num(args, 'samples', { int: true }),
    seed: num(args, 'seed', { int: true }),
  };
  const problem = samplingGridError(request, info.numClasses);
  if (problem) throw new UsageError(problem, false);
  return engine.samplingGrid({ model, runId: 'cli-sample-grid', ...request });
}

/** Run the Infinity grid of the flags for a caption on an opened model (at the schedule of --ratio). */
export async function runBitSampleGrid(
  args: ParsedArgs,
  engine: EngineApi,
  model: string,
  info: BitsModelInfo,
  text: TextCondition | undefined,
): Promise<BitSamplingGridResult> {
  if (args.options.classes !== undefined)
    throw new UsageError(
      `--classes is for VAR models; ${model} is an Infinity bundle (give a caption: --text-features or --prompt)`,
      false,
    );
  if (!text) throw new UsageError('an Infinity grid is for one caption: give --text-features FILE or --prompt TEXT', false);
  const preset = args.options.preset;
  if (preset !== undefined && !Object.hasOwn(BIT_SAMPLING_PRESETS, preset))
    throw new UsageError(
      `--preset on an Infinity model must be one of ${Object.keys(BIT_SAMPLING_PRESETS).join(', ')}, got ${preset}`,
      false,
    );
  const base = preset ? BIT_SAMPLING_PRESETS[preset as BitSamplingPresetName] : info.sampling;
  const hDivW = args.options.ratio === undefined ? info.schedules[0].hDivW : num(args, 'ratio', { min: 0.05, max: 20 });
  const K = nearestSchedule(info.schedules, hDivW).scales.length;
  const lists = (flag: 'cfg' | 'tau', fallback: number): number[][] => {
    const given = args.options[flag];
    const v = parseScaleLists(given ?? String(fallback), K, `--${flag}`);
    if (typeof v === 'string') throw new UsageError(v, false);
    return v;
  };
  const request = {
    family: 'infinity' as const,
    text,
    hDivW,
    settings: cartesianBitSettings(
      lists('cfg', base.cfg),
      lists('tau', base.tau),
      numberList(args, 'top-k') ?? [base.topK],
      numberList(args, 'top-p') ?? [base.topP],
    ),
    samples: num(args, 'samples', { int: true }),
    seed: num(args, 'seed', { int: true }),
  };
  const problem = anySamplingGridError(request, K);
  if (problem) throw new UsageError(problem, false);
  return engine.samplingGrid({ model, runId: 'cli-sample-grid', ...request });
}

/** One PNG per setting under `dir` (rows: classes, columns: samples): its path and pixels. */
export function gridPngs(dir: string, r: AnySamplingGridResult): Array<{ file: string; image: RgbaImage }> {
  const settings: Array<GridSettingResult | BitGridSettingResult> = r.settings;
  return settings.map((s, i) => ({
    file: path.resolve(dir, `${settingName(i, s)}.png`),
    image: tileImages(
      s.samples.map((x) => x.image),
      r.samples,
    ),
  }));
}

/** A setting's file name: "1_cfg1.5_topk512_topp0.96" (its place in the grid first; Infinity: "_tau…" after CFG). */
function settingName(i: number, s: GridSettingResult | BitGridSettingResult): string {
  if ('cfg' in s.setting) {
    const { cfg, topK, topP } = s.setting;
    return `${i + 1}_cfg${cfg}_topk${topK}_topp${topP}`;
  }
  const { cfgList, tauList, topK, topP } = s.setting;
  const list = (l: number[]) => (l.every((v) => v === l[0]) ? String(l[0]) : l.join('-'));
  return `${i + 1}_cfg${list(cfgList)}_tau${list(tauList)}_topk${topK}_topp${topP}`;
}

/** The JSON result: per setting, the setting as run, its per-scale metrics and its samples' tokens. */
export function gridJson(provider: string, r: SamplingGridResult, pngs: string[]): unknown {
  return {
    provider,
    classes: r.classes,
    samples: r.samples,
    seed: r.seed,
    patchNums: r.patchNums,
    vocabSize: r.vocabSize,
    entropy: 'after CFG, before top-k / top-p (nats)',
    settings: r.settings.map((s, i) => ({
      ...s.setting,
      ...(s.requestedTopK !== undefined ? { requestedTopK: s.requestedTopK } : {}),
      png: pngs[i] ?? null,
      scales: r.patchNums.map((pn, k) => ({
        pn,
        ...Object.fromEntries(SAMPLING_METRICS.map((d) => [d.key, s.scales[k][d.key]])),
      })),
      samples: s.samples.map((x) => ({ classId: x.classId, seed: x.seed, tokens: x.tokens.map((t) => Array.from(t)) })),
    })),
  };
}

/** The JSON result of an Infinity grid: per setting, as run, its per-scale metrics and its samples' bits (a 0/1 string per token). */
export function bitGridJson(provider: string, r: BitSamplingGridResult, pngs: string[]): unknown {
  const d = r.bits;
  return {
    provider,
    family: 'infinity',
    text: r.text,
    schedule: r.schedule,
    bits: d,
    samples: r.samples,
    seed: r.seed,
    entropy: 'per bit, after CFG and tau, before top-k / top-p (nats)',
    settings: r.settings.map((s, i) => ({
      ...s.setting,
      ...(s.requestedTopK !== undefined ? { requestedTopK: s.requestedTopK } : {}),
      png: pngs[i] ?? null,
      scales: r.scales.map(([h, w], k) => ({
        h,
        w,
        ...Object.fromEntries(BIT_SAMPLING_METRICS.map((m) => [m.key, s.scales[k][m.key]])),
      })),
      samples: s.samples.map((x) => ({
        seed: x.seed,
        bits: x.bits.map((b) => Array.from({ length: b.length / d }, (_, t) => b.subarray(t * d, (t + 1) * d).join(''))),
      })),
    })),
  };
}

/** Images of one size side by side, `columns` per row, as one RGBA image. */
export function tileImages(images: RgbaImage[], columns: number): RgbaImage {
  const w = images[0].width;
  const h = images[0].height;
  const rows = Math.ceil(images.length / columns);
  const out = new Uint8ClampedArray(columns * w * rows * h * 4);
  images.forEach((img, i) => {
    const x0 = (i % columns) * w;
    const y0 = Math.floor(i / columns) * h;
    for (let y = 0; y < h; y++) out.set(img.data.subarray(y * w * 4, (y + 1) * w * 4), ((y0 + y) * columns * w + x0) * 4);
  });
  return { width: columns * w, height: rows * h, data: out };
}

const progressLine = new ProgressLine();

/** A `samplingGrid` progress event as the terminal's progress line. */
export function printGridProgress(p: { done: number; total: number }): void {
  if (p.done >= p.total) progressLine.done();
  else progressLine.update(`sample-grid: ${p.done}/${p.total} samples`);
}
