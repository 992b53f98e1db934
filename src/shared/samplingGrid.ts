/**
 * A sampling grid: for chosen classes, several sampler settings side by side, N seeded samples of each class under
 * each setting (sample j has seed `seed + j` under every setting, so the settings differ only by the sampler). The
 * request, the result, the official presets, the per-scale metrics declared once (CLI JSON, the Sampling view's
 * charts), and the one check every entry point (CLI flags, the panel, the host's validator, the engine) shares.
 *
 * Official settings (FoundationVision/VAR README): FID with `cfg=1.5, top_p=0.96, top_k=900, more_smooth=False`;
 * "You can adjust it to cfg=5.0 [...] for better visual quality" (the demo notebook's slider starts at cfg = 4 with
 * top_p = 0.95). `more_smooth` (Gumbel softmax) is not a VARScope sampler setting.
 */
import type { RgbaImage } from './results';
import { SAMPLING_BOUNDS, samplingValueError } from './samplingBounds';

/** The sampler part of GenerationSettings: what a grid varies. */
export interface SamplerSetting {
  cfg: number;
  topK: number;
  topP: number;
}

/** The official settings, one click each. */
export const SAMPLING_PRESETS = {
  /** VAR README, FID evaluation: cfg 1.5, top-p 0.96, top-k 900. */
  fid: [{ cfg: 1.5, topK: 900, topP: 0.96 }],
  /** VAR README, better visual quality: cfg 5 with the same top-k / top-p. */
  looks: [{ cfg: 5, topK: 900, topP: 0.96 }],
} as const satisfies Record<string, readonly SamplerSetting[]>;

/** A preset's name. */
export type SamplingPreset = keyof typeof SAMPLING_PRESETS;

/** What a grid may hold at most (each sample is a whole generation). */
export const GRID_LIMITS = { classes: 16, settings: 16, samples: 32, generations: 512 } as const;

/** A grid to sample. */
export interface SamplingGridRequest {
  family?: 'var';
  classes: number[];
  settings: SamplerSetting[];
  /** Samples per class per setting. */
  samples: number;
  /** Sample j of every class and setting has seed `seed + j`. */
  seed: number;
}

/** The cartesian grid CFG × top-k × top-p, CFG slowest. */
export function cartesianSettings(cfg: number[], topK: number[], topP: number[]): SamplerSetting[] {
  return cfg.flatMap((c) => topK.flatMap((k) => topP.map((p) => ({ cfg: c, topK: k, topP: p }))));
}

/** A setting as the sampler ran it: top-k clamped to the codebook size (top-k ≥ V keeps every code). */
export function clampSetting(s: SamplerSetting, vocabSize: number): SamplerSetting {
  return { ...s, topK: Math.min(s.topK, vocabSize) };
}

/** Why a grid's sample count and first seed (sample j has seed + j) are not ones to run, as one line, or null. */
export function samplesAndSeedError(samples: unknown, seed: unknown): string | null {
  if (!Number.isInteger(samples) || (samples as number) < 1 || (samples as number) > GRID_LIMITS.samples)
    return `samples must be an integer in [1, ${GRID_LIMITS.samples}], got ${JSON.stringify(samples)}`;
  const seedProblem = samplingValueError('seed', seed);
  if (seedProblem) return `seed ${seedProblem}`;
  if ((seed as number) + (samples as number) - 1 > SAMPLING_BOUNDS.seed.max)
    return `seed + samples - 1 must stay within ${SAMPLING_BOUNDS.seed.max}`;
  return null;
}

/** Why a grid request is not one to run, as one line, or null. `numClasses` when the model is known. */
export function samplingGridError(r: Record<string, unknown>, numClasses?: number): string | null {
  const { classes, settings, samples, seed } = r;
  if (!Array.isArray(classes) || classes.length === 0) return 'the grid has no classes (give at least one)';
  if (!Array.isArray(settings) || settings.length === 0) return 'the grid has no settings (give at least one CFG, top-k and top-p)';
  if (classes.length > GRID_LIMITS.classes) return `at most ${GRID_LIMITS.classes} classes, got ${classes.length}`;
  if (settings.length > GRID_LIMITS.settings) return `at most ${GRID_LIMITS.settings} settings, got ${settings.length}`;
  const samplesProblem = samplesAndSeedError(samples, seed);
  if (samplesProblem) return samplesProblem;
  for (const c of classes) {
    const problem = samplingValueError('classId', c);
    if (problem) return `class ${problem}`;
    if (numClasses !== undefined && (c as number) >= numClasses) return `unknown class ${c}: the model has classes 0..${numClasses - 1}`;
  }
  for (const [i, s] of settings.entries()) {
    if (typeof s !== 'object' || s === null) return `setting ${i + 1} must be an object`;
    const o = s as Record<string, unknown>;
    for (const name of ['cfg', 'topK', 'topP'] as const) {
      const problem = samplingValueError(name, o[name]);
      if (problem) return `setting ${i + 1}: ${name} ${problem}`;
    }
    // 0 means "off" to `generate`; a grid compares filters, so each setting names its own.
    if (o.topK === 0) return `setting ${i + 1}: top-k must be at least 1 (a top-k of the codebook size keeps every code)`;
  }
  const generations = classes.length * settings.length * (samples as number);
  if (generations > GRID_LIMITS.generations)
    return `${generations} generations (classes × settings × samples) is more than ${GRID_LIMITS.generations}`;
  return null;
}

/** Per scale, under one setting, over every class and sample. */
export interface SamplingScaleMetrics {
  /** Mean entropy (nats) of the predicted distributions after CFG, before top-k / top-p. */
  meanEntropy: number;
  /** Distinct codes among the tokens sampled at this scale (all classes and samples). */
  distinctCodes: number;
  /** Mean over the classes of the mean pairwise share of positions where two samples differ; null with one sample. */
  diversity: number | null;
  /** Share of tokens equal to the first setting's (same class, same seed); 1 for the first setting. */
  agreement: number;
}

/** One metric of the grid, declared once: JSON key, chart title, axis label, format. */
export interface SamplingMetricDecl {
  key: keyof SamplingScaleMetrics;
  label: string;
  yLabel: string;
  digits: number;
  percent?: boolean;
}

/** The grid's per-scale metrics, in chart order. */
export const SAMPLING_METRICS: readonly SamplingMetricDecl[] = [
  { key: 'meanEntropy', label: 'Entropy (after CFG, before top-k/p)', yLabel: 'mean entropy (nats)', digits: 2 },
  { key: 'distinctCodes', label: 'Distinct codes sampled', yLabel: 'codes', digits: 0 },
  { key: 'diversity', label: 'Diversity within a class', yLabel: 'pairwise disagreement (%)', digits: 1, percent: true },
  { key: 'agreement', label: 'Agreement with the first setting', yLabel: 'same token (%)', digits: 1, percent: true },
];

/** A metric's value as shown ("—" for none). */
export function formatSamplingMetric(d: Pick<SamplingMetricDecl, 'digits' | 'percent'>, v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '—';
  return d.percent ? `${(v * 100).toFixed(d.digits)} %` : v.toFixed(d.digits);
}

/** One generated sample of a grid. */
export interface GridSample {
  classId: number;
  seed: number;
  /** Tokens per scale. */
  tokens: Int32Array[];
  /** decode(f̂) of the last scale. */
  image: RgbaImage;
}

/** One setting's samples and metrics. */
export interface GridSettingResult {
  /** As run (top-k clamped to the codebook size). */
  setting: SamplerSetting;
  /** As asked, when the clamp changed it. */
  requestedTopK?: number;
  /** Per scale. */
  scales: SamplingScaleMetrics[];
  /** Class by class (in the request's order), sample by sample. */
  samples: GridSample[];
}

/** A sampled grid. */
export interface SamplingGridResult {
  family?: 'var';
  classes: number[];
  samples: number;
  seed: number;
  patchNums: number[];
  vocabSize: number;
  settings: GridSettingResult[];
}
