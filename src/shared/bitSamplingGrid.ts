/**
 * An Infinity model's sampling grid: for one caption, several sampler settings (CFG and tau per scale, top-k / top-p
 * per bit) side by side, N seeded samples each (sample j has seed `seed + j` under every setting). The request, the
 * result, the official presets, the per-scale metrics declared once, and the one check every entry point shares. The
 * grid request of either family is `AnySamplingGridRequest` (samplingGrid.ts holds VAR's).
 *
 * Official settings (FoundationVision/Infinity): `scripts/infer.sh` runs `tools/run_infinity.py` with cfg 4, tau 0.5;
 * `run_infinity.py`'s own defaults are cfg 3, tau 1; both sample with `gen_one_img`'s top_k 900, top_p 0.97 (per
 * bit a top-k of 900 keeps both values).
 */
import type { RgbaImage } from './results';
import { BIT_LIST_BOUNDS, samplingValueError } from './samplingBounds';
import {
  GRID_LIMITS,
  samplesAndSeedError,
  samplingGridError,
  type SamplingGridRequest,
  type SamplingGridResult,
  type SamplingMetricDecl,
  type SamplingScaleMetrics,
} from './samplingGrid';
import type { TextCondition } from './textCondition';

/** The sampler part of BitGenerationSettings: what an Infinity grid varies. */
export interface BitSamplerSetting {
  /** One CFG per scale of the schedule. */
  cfgList: number[];
  /** One temperature per scale. */
  tauList: number[];
  topK: number;
  topP: number;
}

/** A preset: one CFG and one tau for every scale. */
export interface BitSamplingPreset {
  label: string;
  cfg: number;
  tau: number;
  topK: number;
  topP: number;
}

/** The official settings, one click each. */
export const BIT_SAMPLING_PRESETS = {
  /** scripts/infer.sh: cfg 4, tau 0.5 (gen_one_img's top-k 900, top-p 0.97). */
  infer: { label: 'infer.sh', cfg: 4, tau: 0.5, topK: 900, topP: 0.97 },
  /** tools/run_infinity.py's argument defaults: cfg 3, tau 1. */
  runInfinity: { label: 'run_infinity.py', cfg: 3, tau: 1, topK: 900, topP: 0.97 },
} as const satisfies Record<string, BitSamplingPreset>;

/** A preset's name. */
export type BitSamplingPresetName = keyof typeof BIT_SAMPLING_PRESETS;

/** An Infinity grid to sample: one caption, at one schedule. */
export interface BitSamplingGridRequest {
  family: 'infinity';
  text: TextCondition;
  /** h / w of the schedule (the bundle's nearest template ratio); default the bundle's first schedule. */
  hDivW?: number;
  settings: BitSamplerSetting[];
  /** Samples per setting. */
  samples: number;
  /** Sample j of every setting has seed `seed + j`. */
  seed: number;
}

/** A grid request of either family: narrow on `family` (absent: VAR). */
export type AnySamplingGridRequest = SamplingGridRequest | BitSamplingGridRequest;

/**
 * The values of one axis of a grid as written in a field or a flag: settings separated by commas, each one number
 * (every scale) or one number per scale separated by spaces ("3, 1 2 3 4 4 4 4"). A string says what is wrong.
 */
export function parseScaleLists(text: string, scales: number, name: string): number[][] | string {
  const entries = text.split(',').map((e) => e.trim());
  const out: number[][] = [];
  for (const e of entries) {
    const values = e === '' ? [] : e.split(/\s+/).map(Number);
    if (values.length === 0 || values.some((v) => !Number.isFinite(v)))
      return `${name}: each setting is a number or ${scales} numbers separated by spaces, got ${JSON.stringify(e)}`;
    if (values.length !== 1 && values.length !== scales)
      return `${name}: ${JSON.stringify(e)} has ${values.length} values, the schedule has ${scales} scales (give 1 or ${scales})`;
    out.push(values.length === 1 ? new Array<number>(scales).fill(values[0]) : values);
  }
  return out;
}

/** The cartesian grid CFG × tau × top-k × top-p, CFG slowest. */
export function cartesianBitSettings(cfg: number[][], tau: number[][], topK: number[], topP: number[]): BitSamplerSetting[] {
  return cfg.flatMap((c) => tau.flatMap((t) => topK.flatMap((k) => topP.map((p) => ({ cfgList: c, tauList: t, topK: k, topP: p })))));
}

/** A preset as the setting of a schedule of `scales` scales. */
export function presetSetting(p: BitSamplingPreset, scales: number): BitSamplerSetting {
  return { cfgList: new Array<number>(scales).fill(p.cfg), tauList: new Array<number>(scales).fill(p.tau), topK: p.topK, topP: p.topP };
}

/** A setting as the sampler ran it: top-k clamped to a bit's two values. */
export function clampBitSetting(s: BitSamplerSetting): BitSamplerSetting {
  return { ...s, topK: Math.min(s.topK, 2) };
}

/**
 * "CFG 4 · tau 0.5 · top-k 900 · top-p 0.97" (a list that varies over the scales in full); with `among`, only the
 * parts that differ between those settings (all of them when none differs).
 */
export function bitSettingLabel(s: BitSamplerSetting, among?: readonly BitSamplerSetting[]): string {
  const list = (l: number[]) => (l.every((v) => v === l[0]) ? String(l[0]) : `[${l.join(' ')}]`);
  const parts: Array<[keyof BitSamplerSetting, string]> = [
    ['cfgList', `CFG ${list(s.cfgList)}`],
    ['tauList', `tau ${list(s.tauList)}`],
    ['topK', `top-k ${s.topK}`],
    ['topP', `top-p ${s.topP}`],
  ];
  const varies = (key: keyof BitSamplerSetting) => among?.some((o) => JSON.stringify(o[key]) !== JSON.stringify(s[key]));
  const shown = parts.filter(([key]) => varies(key));
  return (shown.length ? shown : parts).map(([, text]) => text).join(' · ');
}

/**
 * Why an Infinity grid request is not one to run, as one line, or null; `scales`: the schedule's scale count when the
 * model is known. VAR's fields are refused, and a VAR request (no family) goes to samplingGridError.
 */
export function anySamplingGridError(r: Record<string, unknown>, scales?: number): string | null {
  if (r.family !== 'infinity') {
    if ('text' in r || 'hDivW' in r) return 'a caption and a ratio are for Infinity models (family "infinity")';
    return samplingGridError(r);
  }
  if ('classes' in r) return 'an Infinity grid has a caption, not classes';
  const { text, settings, samples, seed, hDivW } = r;
  const t = text as Record<string, unknown> | null;
  if (typeof t !== 'object' || t === null || !(typeof t.featuresFile === 'string' || typeof t.prompt === 'string'))
    return 'the grid has no caption (give a features file or a prompt)';
  if (hDivW !== undefined && !(typeof hDivW === 'number' && hDivW >= 0.05 && hDivW <= 20))
    return `hDivW must be a number in [0.05, 20], got ${JSON.stringify(hDivW)}`;
  if (!Array.isArray(settings) || settings.length === 0) return 'the grid has no settings (give at least one CFG, tau, top-k and top-p)';
  if (settings.length > GRID_LIMITS.settings) return `at most ${GRID_LIMITS.settings} settings, got ${settings.length}`;
  const samplesProblem = samplesAndSeedError(samples, seed);
  if (samplesProblem) return samplesProblem;
  for (const [i, s] of settings.entries()) {
    if (typeof s !== 'object' || s === null) return `setting ${i + 1} must be an object`;
    const o = s as Record<string, unknown>;
    for (const name of ['topK', 'topP'] as const) {
      const problem = samplingValueError(name, o[name]);
      if (problem) return `setting ${i + 1}: ${name} ${problem}`;
    }
    if (o.topK === 0) return `setting ${i + 1}: top-k must be at least 1 (1 = greedy, 2 or more keeps both values of a bit)`;
    for (const name of ['cfgList', 'tauList'] as const) {
      const list = o[name];
      if (!Array.isArray(list) || list.length === 0) return `setting ${i + 1}: ${name} must be a list of numbers, one per scale`;
      if (scales !== undefined && list.length !== scales)
        return `setting ${i + 1}: ${name} has ${list.length} values, the schedule has ${scales} scales`;
      const b = BIT_LIST_BOUNDS[name];
      const bad = list.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v) || v < b.min || v > b.max);
      if (bad >= 0) return `setting ${i + 1}: ${name}[${bad}] must be a number in [${b.min}, ${b.max}], got ${JSON.stringify(list[bad])}`;
    }
  }
  const generations = settings.length * (samples as number);
  if (generations > GRID_LIMITS.generations)
    return `${generations} generations (settings × samples) is more than ${GRID_LIMITS.generations}`;
  return null;
}

/** Per scale, under one setting, over every sample: VAR's metrics (a token is its d bits) and their bit versions. */
export interface BitSamplingScaleMetrics extends SamplingScaleMetrics {
  /** Mean pairwise share of bits where two samples differ; null with one sample. */
  bitDiversity: number | null;
  /** Share of bits equal to the first setting's (same seed); 1 for the first setting. */
  bitAgreement: number;
}

/** One metric of an Infinity grid. */
export interface BitSamplingMetricDecl extends Omit<SamplingMetricDecl, 'key'> {
  key: keyof BitSamplingScaleMetrics;
}

/** An Infinity grid's per-scale metrics, in chart order. `meanEntropy` is per bit. */
export const BIT_SAMPLING_METRICS: readonly BitSamplingMetricDecl[] = [
  { key: 'meanEntropy', label: 'Bit entropy (after CFG and tau, before top-k/p)', yLabel: 'mean entropy per bit (nats)', digits: 3 },
  { key: 'distinctCodes', label: 'Distinct codes sampled', yLabel: 'codes', digits: 0 },
  { key: 'diversity', label: 'Diversity: tokens', yLabel: 'pairwise token disagreement (%)', digits: 1, percent: true },
  { key: 'bitDiversity', label: 'Diversity: bits', yLabel: 'pairwise bit disagreement (%)', digits: 1, percent: true },
  { key: 'agreement', label: 'Agreement with the first setting: tokens', yLabel: 'same token (%)', digits: 1, percent: true },
  { key: 'bitAgreement', label: 'Agreement with the first setting: bits', yLabel: 'same bit (%)', digits: 1, percent: true },
];

/** One generated sample of an Infinity grid. */
export interface BitGridSample {
  seed: number;
  /** Per scale, its bits 0/1 [h·w·d]. */
  bits: Uint8Array[];
  /** decode(f̂) of the last scale. */
  image: RgbaImage;
}

/** One setting's samples and metrics. */
export interface BitGridSettingResult {
  /** As run (top-k clamped to 2). */
  setting: BitSamplerSetting;
  /** As asked, when the clamp changed it. */
  requestedTopK?: number;
  /** Per scale. */
  scales: BitSamplingScaleMetrics[];
  /** Sample by sample. */
  samples: BitGridSample[];
}

/** A sampled Infinity grid. */
export interface BitSamplingGridResult {
  family: 'infinity';
  text: TextCondition;
  /** The schedule's id and its token grids [h, w] per scale. */
  schedule: string;
  scales: Array<[number, number]>;
  /** Bits per token. */
  bits: number;
  samples: number;
  seed: number;
  settings: BitGridSettingResult[];
}

/** A sampled grid of either family: narrow on `family` (absent: VAR). */
export type AnySamplingGridResult = SamplingGridResult | BitSamplingGridResult;
