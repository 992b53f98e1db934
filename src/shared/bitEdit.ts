/**
 * What-if for an Infinity model: a generation for a caption (its settings and seed) is the original; at one scale the
 * chosen tokens change, the coarser scales and the other tokens of that scale stay, and the finer scales are generated
 * again with the same settings and the same random stream, so that every difference from the original below the
 * edited scale comes from the edit. Two changes: flip chosen bits of every chosen token (what one bit does there), or
 * resample the chosen tokens with another seed (how much the model fixes there).
 */
import type { BitGenerationSettings, RgbaImage } from './results';
import { bitSamplingSettingsError } from './samplingBounds';

/** What happens to the chosen tokens. */
export type BitEditChange = { flip: number[] } | { resampleSeed: number };

/** An edit of the generation of `settings`. */
export interface BitEditRequest {
  family: 'infinity';
  /** The original generation: its caption, schedule, sampling and seed. */
  settings: BitGenerationSettings;
  scaleIndex: number;
  /** Tokens of the scale (row-major) to change. */
  positions: number[];
  change: BitEditChange;
}

/** One pyramid of an edit: its bits per scale and its image. */
export interface BitPyramid {
  /** Per scale, 0/1 [h·w·d]. */
  bits: Uint8Array[];
  /** decode(f̂) of the last scale. */
  image: RgbaImage;
}

/** The original generation, the edited one, and per scale how much they differ. */
export interface BitEditResult {
  family: 'infinity';
  schedule: string;
  /** [h, w] per scale. */
  scales: Array<[number, number]>;
  /** Bits per token. */
  bits: number;
  scaleIndex: number;
  positions: number[];
  change: BitEditChange;
  original: BitPyramid;
  edited: BitPyramid;
  /** Per scale: the share of tokens (some bit differs) and of bits that differ from the original. */
  disagreement: Array<{ tokens: number; bits: number }>;
}

/**
 * Why an Infinity edit is not one to run, as one line, or null; `shape`: the schedule's [h, w] per scale and the bits
 * per token when the model is known.
 */
export function bitEditError(r: Record<string, unknown>, shape?: { scales: Array<[number, number]>; bits: number }): string | null {
  const s = r.settings as Record<string, unknown> | null;
  if (typeof s !== 'object' || s === null || s.family !== 'infinity') return 'an Infinity edit needs the settings of its generation';
  const settingsProblem = bitSamplingSettingsError(s, shape?.scales.length);
  if (settingsProblem) return settingsProblem;
  const k = r.scaleIndex;
  const K = shape?.scales.length ?? 1000;
  if (!Number.isInteger(k) || (k as number) < 0 || (k as number) >= K) return `scale ${JSON.stringify(k)} outside 0..${K - 1}`;
  const [h, w] = shape?.scales[k as number] ?? [1000, 1000];
  const { positions, change } = r;
  if (!Array.isArray(positions) || positions.some((p) => !Number.isInteger(p) || p < 0 || p >= h * w))
    return `positions must be tokens of scale ${k} (0..${h * w - 1})`;
  const c = change as Record<string, unknown> | null;
  if (typeof c !== 'object' || c === null) return 'the change must be { flip: bits } or { resampleSeed: seed }';
  if ('flip' in c) {
    const d = shape?.bits ?? 64;
    const flip = c.flip;
    if (!Array.isArray(flip) || flip.length === 0 || flip.some((j) => !Number.isInteger(j) || j < 0 || j >= d))
      return `flip must list bits of a token (0..${d - 1}), at least one`;
    return null;
  }
  if ('resampleSeed' in c) {
    const seed = c.resampleSeed;
    return Number.isInteger(seed) && (seed as number) >= 0 && (seed as number) <= 2 ** 32 - 1
      ? null
      : `resampleSeed must be an integer in [0, ${2 ** 32 - 1}], got ${JSON.stringify(seed)}`;
  }
  return 'the change must be { flip: bits } or { resampleSeed: seed }';
}
