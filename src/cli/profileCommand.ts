/**
 * `varscope profile`: where the time of one generation and one teacher-forced pass goes, per scale and per graph,
 * beside the FLOPs counted from the graph shapes and this machine's measured matrix-product rate; a table on stdout,
 * the engine's result as JSON with --json.
 */
import type { EngineApi } from '../shared/engineApi';
import type { ScaleProfile } from '../shared/results';
import { generationParts, MAX_PROFILE_REPEATS, passRates, stepRate } from '../shared/scaleProfile';
import { CommandSpec, num, ParsedArgs } from './args';

/** Options of `profile` beyond the model and runtime ones. */
export const PROFILE_OPTIONS: CommandSpec['options'] = {
  image: { help: "the teacher-forced pass's image (default: the generated sample's own tokens)" },
  class: { help: 'class to generate and condition on', default: '0' },
  repeats: { help: 'timed runs of each pass after one warm-up (the best of each part kept)', default: '3' },
  json: { help: 'write the JSON result here ("-" = stdout, instead of the table)' },
};

const MB = 2 ** 20;
const pct = (x: number) => `${(x * 100).toFixed(0)} %`;

/** The table `varscope profile` prints. */
export function profileTable(p: ScaleProfile): string {
  const g = p.generation;
  const parts = generationParts(p);
  const header = ['scale', 'rows', ...parts.map((n) => `${n} ms`), 'ms', 'GFLOP', 'GFLOP/s', 'of limit', 'KV MB'];
  const rows = g.scales.map((s) => {
    const r = stepRate(s, p.rate.gflops);
    return [
      `${s.pn}×${s.pn}`,
      String(g.batch * s.tokens),
      ...parts.map((n) => (s.ms[n] ?? 0).toFixed(1)),
      s.totalMs.toFixed(1),
      (s.flops.total / 1e9).toFixed(3),
      r.gflops.toFixed(1),
      pct(r.fraction),
      (s.kvBytes / MB).toFixed(1),
    ];
  });
  const rates = passRates(p);
  const lines = [
    `${p.model} on ${p.provider}: matrix-product limit ${p.rate.gflops.toFixed(1)} GFLOP/s (median ${p.rate.medianGflops.toFixed(1)}; ` +
      `${p.rate.m} rows × ${p.rate.shapes.map(([k, n]) => `${k}×${n}`).join(', ')}, ${p.rate.threads} threads); ${p.repeats > 1 ? `best of ${p.repeats} runs` : 'one run'}`,
    '',
    `generation (class ${p.classId}, cfg ${g.settings.cfg}, top-k ${g.settings.topK}, top-p ${g.settings.topP}, batch ${g.batch}); ` +
      "rows = the step's batch × pn²; GFLOP/s = the scale's FLOPs / its transformerStep time",
    ...table(header, rows),
    `decode ${g.decodeMs.toFixed(1)} ms; total ${g.totalMs.toFixed(1)} ms (measured around it: ${g.wallMs.toFixed(1)} ms); ` +
      `${(g.flops / 1e9).toFixed(2)} GFLOP at ${rates.generation.gflops.toFixed(1)} GFLOP/s over the step graph's time (${pct(rates.generation.fraction)} of the limit)`,
    `last two scales: ${pct(g.lastTwoShare.time)} of the scales' time, ${pct(g.lastTwoShare.flops)} of their FLOPs`,
    '',
    `teacher-forced pass (${p.teacherForced.image ?? "the generated sample's tokens"}): ` +
      p.teacherForced.graphs.map((x) => `${x.role} ${x.ms.toFixed(1)} ms`).join(', ') +
      `; ${(p.teacherForced.flops / 1e9).toFixed(2)} GFLOP at ${rates.teacherForced.gflops.toFixed(1)} GFLOP/s over the transformer's time (${pct(rates.teacherForced.fraction)} of the limit)`,
    ...table(
      ['scale', 'tokens', 'GFLOP', 'share'],
      p.teacherForced.scales.map((s) => [
        `${s.pn}×${s.pn}`,
        String(s.tokens),
        (s.flops.total / 1e9).toFixed(3),
        pct(s.flops.total / p.teacherForced.flops),
      ]),
    ),
    `last two scales: ${pct(p.teacherForced.lastTwoShare.flops)} of the pass's FLOPs (one graph runs every scale: its time is per graph)`,
  ];
  return lines.join('\n');
}

/** Right-aligned columns (the first left-aligned). */
function table(header: string[], rows: string[][]): string[] {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [line(header), ...rows.map(line)];
}

/** Run `profile` on an opened model. */
export async function runProfile(args: ParsedArgs, engine: EngineApi, model: string): Promise<ScaleProfile> {
  const classId = num(args, 'class', { int: true, min: 0 });
  const repeats = num(args, 'repeats', { int: true, min: 1, max: MAX_PROFILE_REPEATS });
  const image = args.options.image;
  return engine.profile({ model, classId, repeats, ...(image ? { image: { path: image } } : {}) });
}
