/** What the dataset commands say about an evaluation: its progress, the log line, the notifications. Pure text. */
import type { AnyDatasetEvaluation, EvaluationProgress } from '../../shared/evaluation';

/** Seconds left at the rate so far (images per elapsed second); NaN before any image is done. */
export function secondsLeft(e: EvaluationProgress): number {
  const rate = e.done / Math.max(1e-3, e.elapsedMs / 1000);
  return rate > 0 ? Math.round((e.total - e.done) / rate) : NaN;
}

/** "3/10 images, about 12 s left" (no estimate before the first image, nor once finished). */
export function progressMessage(e: EvaluationProgress): string {
  const eta = secondsLeft(e);
  return `${e.done}/${e.total} images${Number.isFinite(eta) && !e.finished ? `, about ${eta} s left` : ''}`;
}

/** The log's line for a finished (or cancelled) evaluation. */
export function evaluationLogLine(r: AnyDatasetEvaluation): string {
  if (r.family === 'infinity')
    return `evaluated ${r.model.dir} on ${r.folder}: ${r.images} images in ${(r.elapsedMs / 1000).toFixed(1)} s, bit accuracy ${(r.overall.bitAccuracy * 100).toFixed(2)} %, token accuracy ${(r.overall.tokenAccuracy * 100).toFixed(2)} %${r.cancelled ? ' (cancelled)' : ''}`;
  return `evaluated ${r.model.dir} on ${r.folder}: ${r.images} images in ${(r.elapsedMs / 1000).toFixed(1)} s, accuracy ${(r.overall.accuracy * 100).toFixed(2)} %, NLL ${r.overall.nll.toFixed(3)}${r.cancelled ? ' (cancelled)' : ''}`;
}

/** The notification after an evaluation of a folder, which offers to save it. */
export function evaluatedMessage(r: AnyDatasetEvaluation): string {
  const accuracy =
    r.family === 'infinity'
      ? `bit accuracy ${(r.overall.bitAccuracy * 100).toFixed(1)} %`
      : `accuracy ${(r.overall.accuracy * 100).toFixed(1)} %`;
  return `VARScope: ${r.images} images evaluated${r.cancelled ? ' (cancelled)' : ''}; ${accuracy}.${r.failed.length ? ` ${r.failed.length} files could not be read (see the log).` : ''}`;
}
