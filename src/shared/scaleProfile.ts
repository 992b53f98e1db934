/**
 * What the Profile view and `varscope profile` derive from a ScaleProfile (engine result), in one place: the rate a
 * scale's matrix products reached and its fraction of the machine's measured limit.
 */
import type { GenerationScaleProfile, ScaleProfile } from './results';

/** Upper bound of a profile's repeats. */
export const MAX_PROFILE_REPEATS = 100;

/** The graph whose time holds a generation scale's matrix products. */
export const STEP_GRAPH = 'transformerStep';

/** GFLOP/s of `flops` done in `ms` (0 when no time was measured). */
export function gflopsPerSecond(flops: number, ms: number): number {
  return ms > 0 ? flops / ms / 1e6 : 0;
}

/** The rate a generation scale's step graph reached, and its fraction of the machine's limit. */
export function stepRate(s: GenerationScaleProfile, limitGflops: number): { gflops: number; fraction: number } {
  const gflops = gflopsPerSecond(s.flops.total, s.ms[STEP_GRAPH] ?? 0);
  return { gflops, fraction: gflops / limitGflops };
}

/** The rate of a whole pass's matrix products over the time of the graph that ran them, and its fraction. */
export function passRates(p: ScaleProfile): {
  generation: { gflops: number; fraction: number };
  teacherForced: { gflops: number; fraction: number };
} {
  const g = p.generation;
  const stepMs = g.scales.reduce((s, x) => s + (x.ms[STEP_GRAPH] ?? 0), 0);
  const gen = gflopsPerSecond(g.flops, stepMs);
  const tfMs = p.teacherForced.graphs.find((x) => x.role === 'transformer')?.ms ?? 0;
  const tf = gflopsPerSecond(p.teacherForced.flops, tfMs);
  return {
    generation: { gflops: gen, fraction: gen / p.rate.gflops },
    teacherForced: { gflops: tf, fraction: tf / p.rate.gflops },
  };
}

/** The parts of generation time in drawing order: the graphs, then the host's share. */
export function generationParts(p: ScaleProfile): string[] {
  const names = [...new Set(p.generation.scales.flatMap((s) => Object.keys(s.ms)))];
  return [
    ...names.filter((n) => n !== 'host').sort((a, b) => (a === STEP_GRAPH ? -1 : b === STEP_GRAPH ? 1 : a.localeCompare(b))),
    ...(names.includes('host') ? ['host'] : []),
  ];
}
