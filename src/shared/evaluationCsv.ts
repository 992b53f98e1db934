/**
 * A folder evaluation as CSV: one row per scale (every metric beside its baselines), and one row per image; a
 * training run's evaluations as one row per checkpoint and scale. Every table goes through the one CSV writer.
 */
import { csvTable, type CsvValue } from './csv';
import type { AnyDatasetEvaluation, BitAccuracyValues, BitsDatasetEvaluation, DatasetEvaluation } from './evaluation';
import { BASELINE_COLUMNS, baselineValue, SCALE_METRICS, TIMELINE_METRICS } from './metrics';
import { timelineOf } from './timeline';

/** The per-scale CSV's columns: the scale, every declared metric, then every baseline by every metric it is scored with. */
const SCALE_COLUMNS = ['scale', 'pn', 'tokens', ...SCALE_METRICS.map((m) => m.key), ...BASELINE_COLUMNS.map((c) => c.name)];

/** Numbers to 7 significant digits; text as it is. */
const round = (v: number | string | null | undefined): CsvValue => (typeof v === 'number' ? Number(v.toPrecision(7)) : v);
const line = (cells: Array<number | string | null | undefined>): CsvValue[] => cells.map(round);

/** An accuracy pair as two cells (empty where there is none). */
const pair = (a: BitAccuracyValues | null) => [a?.bitAccuracy, a?.tokenAccuracy];

/** An Infinity evaluation, one row per scale: the family, bit and token accuracy beside both baselines'. */
function bitsScalesCsv(ev: BitsDatasetEvaluation): string {
  const rows = ev.scales.map((s) =>
    line([ev.family, s.scaleIndex, s.tokens, ...pair(s), ...pair(s.baselines.majority), ...pair(s.baselines.copyCoarser)]),
  );
  const cols = ['family', 'scale', 'tokens', 'bit_accuracy', 'token_accuracy', 'majority_bit_accuracy', 'majority_token_accuracy'];
  return csvTable([...cols, 'copy_coarser_bit_accuracy', 'copy_coarser_token_accuracy'], rows);
}

/** One row per scale. */
export function scalesCsv(ev: AnyDatasetEvaluation): string {
  if (ev.family === 'infinity') return bitsScalesCsv(ev);
  const rows = ev.scales.map((s) =>
    line([
      s.scaleIndex,
      s.pn,
      s.tokens,
      ...SCALE_METRICS.map((m) => s[m.key]),
      ...BASELINE_COLUMNS.map((c) => baselineValue(s.baselines, c.baseline, c.metric)),
    ]),
  );
  return csvTable(SCALE_COLUMNS, rows);
}

/** One row per image (Infinity: the family, its schedule, caption, and accuracy over all its tokens then per scale). */
export function imagesCsv(ev: AnyDatasetEvaluation): string {
  if (ev.family === 'infinity') {
    const K = ev.scales.length;
    const rows = ev.perImage.map((r) => line([ev.family, r.file, r.schedule, r.caption, ...pair(r), ...r.scales.flatMap(pair)]));
    const perScale = Array.from({ length: K }, (_, k) => [`bit_accuracy_${k}`, `token_accuracy_${k}`]).flat();
    return csvTable(['family', 'file', 'schedule', 'caption', 'bit_accuracy', 'token_accuracy', ...perScale], rows);
  }
  const rows = ev.perImage.map((r) => line([r.file, r.classId, r.accuracy, r.nll, r.psnr, r.ssim, r.rarity]));
  return csvTable(['file', 'class', 'accuracy', 'nll', 'psnr', 'ssim', 'rarity'], rows);
}

/** Free running: one row per mode, prefix (scales kept) and later scale (absent without --free-running: header only). */
export function freeRunningCsv(ev: DatasetEvaluation): string {
  const f = ev.freeRunning;
  const rows: CsvValue[][] = [];
  for (const mode of f?.modes ?? [])
    for (const c of f!.curves[mode] ?? [])
      for (const s of c.scales) rows.push(line([mode, c.kept, s.scaleIndex, s.pn, s.agreement, s.psnr, s.nll, s.trueNll]));
  return csvTable(['mode', 'kept', 'scale', 'pn', 'agreement', 'psnr', 'nll', 'true_nll'], rows);
}

/** An Infinity run: one row per checkpoint and scale, bit and token accuracy beside both baselines'. */
function bitsTimelineCsv(evals: BitsDatasetEvaluation[]): string {
  const t = timelineOf(evals);
  const sources = ['model', 'majority', 'copyCoarser'] as const;
  const cols = sources.flatMap((src) => (['bitAccuracy', 'tokenAccuracy'] as const).map((m) => t.series(m, src)));
  const rows: CsvValue[][] = [];
  t.points.forEach((p, i) =>
    t.scaleNames.forEach((name, k) =>
      rows.push(line([t.family, p.step, p.model, k, name, ...cols.map((c) => (Number.isNaN(c[k][i]) ? null : c[k][i]))])),
    ),
  );
  const names = ['bit_accuracy', 'token_accuracy', 'majority_bit_accuracy', 'majority_token_accuracy'];
  return csvTable(['family', 'step', 'model', 'scale', 'grid', ...names, 'copy_coarser_bit_accuracy', 'copy_coarser_token_accuracy'], rows);
}

/** A training run's evaluations (of one family): one row per checkpoint and scale, in training-step order. */
export function timelineCsv(evals: AnyDatasetEvaluation[]): string {
  if (evals[0]?.family === 'infinity') return bitsTimelineCsv(evals as BitsDatasetEvaluation[]);
  const t = timelineOf(evals as DatasetEvaluation[]);
  const cols = TIMELINE_METRICS.map((m) => t.series(m));
  const rows: CsvValue[][] = [];
  t.points.forEach((p, i) => t.patchNums.forEach((pn, k) => rows.push([p.step, p.model, k, pn, ...cols.map((c) => round(c[k][i]))])));
  return csvTable(['step', 'model', 'scale', 'pn', ...TIMELINE_METRICS], rows);
}
