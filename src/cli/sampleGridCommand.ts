/**
 * `varscope sample-grid`: sampler settings side by side (CFG × top-k × top-p) for chosen classes, N seeded samples
 * each, with the per-scale metrics of each setting as JSON and, with --out, one PNG grid per setting.
 */
import * as path from 'path';
import type { EngineApi } from '../shared/engineApi';
import type { ModelInfo, RgbaImage } from '../shared/results';
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
  classes: { help: 'comma-separated class ids, e.g. 1,2', required: true },
  cfg: { help: "comma-separated CFG strengths (default: the preset's, else the model's recommended sampling)" },
  'top-k': { help: 'comma-separated top-k values, at least 1; clamped to the codebook size (default: as --cfg)' },
  'top-p': { help: 'comma-separated top-p values, 0 = off (default: as --cfg)' },
  preset: {
    help: `official settings: ${Object.entries(SAMPLING_PRESETS)
      .map(([k, [s]]) => `${k} (cfg ${s.cfg}, top-k ${s.topK}, top-p ${s.topP})`)
      .join(', ')}; --cfg / --top-k / --top-p given replace its values`,
  },
  samples: { help: 'samples per class per setting', default: '4' },
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

/** Run the grid of the flags on an opened model. */
export async function runSampleGrid(args: ParsedArgs, engine: EngineApi, model: string, info: ModelInfo): Promise<SamplingGridResult> {
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

/** One PNG per setting under `dir` (rows: classes, columns: samples): its path and pixels. */
export function gridPngs(dir: string, r: SamplingGridResult): Array<{ file: string; image: RgbaImage }> {
  return r.settings.map((s, i) => ({
    file: path.resolve(dir, `${settingName(i, s)}.png`),
    image: tileImages(
      s.samples.map((x) => x.image),
      r.samples,
    ),
  }));
}

/** A setting's file name: "1_cfg1.5_topk512_topp0.96" (its place in the grid first). */
function settingName(i: number, s: GridSettingResult): string {
  const { cfg, topK, topP } = s.setting;
  return `${i + 1}_cfg${cfg}_topk${topK}_topp${topP}`;
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
