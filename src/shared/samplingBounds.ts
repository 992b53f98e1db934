/**
 * The range of every sampling setting, in one place: the CLI flags, the panel's form and the host's message
 * validator all refuse values outside it, and the generator checks it again.
 *
 * Why these bounds: CFG mixes logits as (1 + t)·cond − t·uncond in float32 (t ramps up to cfg), so a huge cfg
 * overflows to ±Infinity and the probabilities become NaN (`--cfg 1e39` sampled token −1 at 607 of 680
 * positions); past a few tens every draw is already the argmax, so 100 loses nothing. The seed is a uint32
 * (exact in every number type the settings pass through); top-k counts codes; top-p is a probability.
 */
import type { GenerationSettings } from './results';

/** A closed range; `int` for counts and ids. */
export interface Bound {
  min: number;
  max: number;
  int: boolean;
}

/** The numeric fields of VAR's GenerationSettings. */
export type SamplingField = Exclude<keyof GenerationSettings, 'family'>;

/** Bounds of each GenerationSettings field. */
export const SAMPLING_BOUNDS: Readonly<Record<SamplingField, Bound>> = {
  classId: { min: 0, max: 1_000_000, int: true },
  seed: { min: 0, max: 2 ** 32 - 1, int: true },
  cfg: { min: 0, max: 100, int: false },
  topK: { min: 0, max: 1_000_000, int: true },
  topP: { min: 0, max: 1, int: false },
};

/** Why `value` is not a valid `name`, or null: "must be an integer in [0, 4294967295], got 1.5". */
export function samplingValueError(name: SamplingField, value: unknown): string | null {
  const b = SAMPLING_BOUNDS[name];
  const kind = b.int ? 'an integer' : 'a number';
  const ok = typeof value === 'number' && Number.isFinite(value) && (!b.int || Number.isInteger(value)) && value >= b.min && value <= b.max;
  return ok ? null : `must be ${kind} in [${b.min}, ${b.max}], got ${typeof value === 'number' ? value : JSON.stringify(value)}`;
}

/** The first field of `s` out of its bound, as "cfg must be a number in [0, 100], got 1e+39", or null. */
export function samplingSettingsError(s: Record<string, unknown>): string | null {
  for (const name of Object.keys(SAMPLING_BOUNDS) as SamplingField[]) {
    const problem = samplingValueError(name, s[name]);
    if (problem) return `${name} ${problem}`;
  }
  return null;
}

/**
 * Bounds of an Infinity generation's per-scale lists. A temperature divides the logits (official `mul(1 / tau)`):
 * 0 has no meaning, and below 0.01 every draw is already the larger logit.
 */
export const BIT_LIST_BOUNDS: Readonly<Record<'cfgList' | 'tauList', Bound>> = {
  cfgList: { min: 0, max: 100, int: false },
  tauList: { min: 0.01, max: 100, int: false },
};

/**
 * The first sampling field of Infinity settings (BitGenerationSettings) out of its bound, or null; `scales`: the
 * schedule's scale count, which each list must match. (The caption is checked where it is read.)
 */
export function bitSamplingSettingsError(s: Record<string, unknown>, scales?: number): string | null {
  for (const name of ['seed', 'topK', 'topP'] as const) {
    const problem = samplingValueError(name, s[name]);
    if (problem) return `${name} ${problem}`;
  }
  for (const name of ['cfgList', 'tauList'] as const) {
    const list = s[name];
    if (!Array.isArray(list) || list.length === 0) return `${name} must be a list of numbers, one per scale`;
    if (scales !== undefined && list.length !== scales) return `${name} has ${list.length} values, the schedule has ${scales} scales`;
    const b = BIT_LIST_BOUNDS[name];
    const bad = list.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v) || v < b.min || v > b.max);
    if (bad >= 0) return `${name}[${bad}] must be a number in [${b.min}, ${b.max}], got ${JSON.stringify(list[bad])}`;
  }
  const r = s.hDivW;
  if (r !== undefined && !(typeof r === 'number' && r >= 0.05 && r <= 20))
    return `hDivW must be a number in [0.05, 20], got ${JSON.stringify(r)}`;
  const layer = s.cfgInsertionLayer;
  if (layer !== undefined && !(Number.isInteger(layer) && (layer as number) <= 0 && (layer as number) >= -1000))
    return `cfgInsertionLayer must be 0 (on the logits) or a negative block offset, got ${JSON.stringify(layer)}`;
  return null;
}
