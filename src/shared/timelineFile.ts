/**
 * A training run's evaluations saved as one file (`varscope timeline --json`, the Dataset view's export of several
 * checkpoints, reopened by Open Evaluation). Its format name is written here and nowhere else.
 */
import type { AnyDatasetEvaluation } from './evaluation';

/** The `format` field of a timeline file. */
export const TIMELINE_FORMAT = 'varscope-timeline';

/** A timeline file: several checkpoints' evaluations (of one family) on one folder. */
export interface TimelineFile {
  format: typeof TIMELINE_FORMAT;
  version: 1;
  evaluations: AnyDatasetEvaluation[];
}

/** The timeline file of `evaluations`, in the order given. */
export function timelineFile(evaluations: AnyDatasetEvaluation[]): TimelineFile {
  return { format: TIMELINE_FORMAT, version: 1, evaluations };
}
