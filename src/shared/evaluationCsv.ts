/**
 * A folder evaluation as CSV: one row per scale (every metric beside its baselines), and one row per image.
 */
import type { DatasetEvaluation } from './evaluation';

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

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(Number(v.toPrecision(7))) : '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const line = (cells: unknown[]) => cells.map(cell).join(',');

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
  return [SCALE_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

/** One row per image. */
export function imagesCsv(ev: DatasetEvaluation): string {
  const rows = ev.perImage.map((r) => line([r.file, r.classId, r.accuracy, r.nll, r.psnr, r.ssim, r.rarity]));
  return ['file,class,accuracy,nll,psnr,ssim,rarity', ...rows].join('\n') + '\n';
}
