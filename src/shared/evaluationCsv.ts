/**
 * A folder evaluation as CSV: one row per scale (every metric beside its baselines), and one row per image; a
 * training run's evaluations as one row per checkpoint and scale. Every table goes through the one CSV writer.
 */
import { csvTable, type CsvValue } from './csv';
import type { DatasetEvaluation } from './evaluation';
import { timelineOf } from './timeline';

const SCALE_COLUMNS = [
  'scale',
  'pn',
  'tokens',
  'accuracy',
  'top5',
  'nll',
  'entropy',
  'ece',
  'psnr',
  'ssim',
  'used',
  'dead',
  'perplexity',
  'prior_training_accuracy',
  'prior_training_nll',
  'prior_folder_accuracy',
  'prior_folder_nll',
  'copy_coarser_accuracy',
];

/** Numbers to 7 significant digits; text as it is. */
const round = (v: number | string | null | undefined): CsvValue => (typeof v === 'number' ? Number(v.toPrecision(7)) : v);
const line = (cells: Array<number | string | null | undefined>): CsvValue[] => cells.map(round);

/** One row per scale. */
export function scalesCsv(ev: DatasetEvaluation): string {
  const rows = ev.scales.map((s) =>
    line([
      s.scaleIndex,
      s.pn,
      s.tokens,
      s.accuracy,
      s.top5,
      s.nll,
      s.entropy,
      s.ece,
      s.psnr,
      s.ssim,
      s.used,
      s.dead,
      s.perplexity,
      s.baselines.priorTraining?.accuracy,
      s.baselines.priorTraining?.nll,
      s.baselines.priorFolder.accuracy,
      s.baselines.priorFolder.nll,
      s.baselines.copyCoarser?.accuracy,
    ]),
  );
  return csvTable(SCALE_COLUMNS, rows);
}

/** One row per image. */
export function imagesCsv(ev: DatasetEvaluation): string {
  const rows = ev.perImage.map((r) => line([r.file, r.classId, r.accuracy, r.nll, r.psnr, r.ssim, r.rarity]));
  return csvTable(['file', 'class', 'accuracy', 'nll', 'psnr', 'ssim', 'rarity'], rows);
}

const TIMELINE_METRICS = ['accuracy', 'top5', 'nll', 'entropy', 'ece', 'psnr', 'ssim', 'used', 'perplexity'] as const;

/** A training run's evaluations: one row per checkpoint and scale, in training-step order. */
export function timelineCsv(evals: DatasetEvaluation[]): string {
  const t = timelineOf(evals);
  const cols = TIMELINE_METRICS.map((m) => t.series(m));
  const rows: CsvValue[][] = [];
  t.points.forEach((p, i) => t.patchNums.forEach((pn, k) => rows.push([p.step, p.model, k, pn, ...cols.map((c) => round(c[k][i]))])));
  return csvTable(['step', 'model', 'scale', 'pn', ...TIMELINE_METRICS], rows);
}
