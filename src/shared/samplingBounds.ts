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

/** Bounds of each GenerationSettings field. */
export const SAMPLING_BOUNDS: Readonly<Record<keyof GenerationSettings, Bound>> = {
  classId: { min: 0, max: 1_000_000, int: true },
  seed: { min: 0, max: 2 ** 32 - 1, int: true },
  cfg: { min: 0, max: 100, int: false },
  topK: { min: 0, max: 1_000_000, int: true },
  topP: { min: 0, max: 1, int: false },
};

/** Why `value` is not a valid `name`, or null: "must be an integer in [0, 4294967295], got 1.5". */
export function samplingValueError(name: keyof GenerationSettings, value: unknown): string | null {
  const b = SAMPLING_BOUNDS[name];
  const kind = b.int ? 'an integer' : 'a number';
  const ok = typeof value === 'number' && Number.isFinite(value) && (!b.int || Number.isInteger(value)) && value >= b.min && value <= b.max;
  return ok ? null : `must be ${kind} in [${b.min}, ${b.max}], got ${typeof value === 'number' ? value : JSON.stringify(value)}`;
}

/** The first field of `s` out of its bound, as "cfg must be a number in [0, 100], got 1e+39", or null. */
export function samplingSettingsError(s: Record<string, unknown>): string | null {
  for (const name of Object.keys(SAMPLING_BOUNDS) as Array<keyof GenerationSettings>) {
    const problem = samplingValueError(name, s[name]);
    if (problem) return `${name} ${problem}`;
  }
  return null;
}
