/**
 * How far along Open Checkpoint is, in percent of the progress notification: the exporter's stages placed on the bar,
 * and the increments VS Code's progress wants (it adds them up, so the bar only moves forward).
 */
import type { ExportStage } from '../client/checkpointExport';

/** Where an exporter stage puts the bar: graphs fill 25 to 75 % one by one, verification 85 %, the rest 95 %. */
export function exportStagePercent(s: ExportStage): number {
  switch (s.stage) {
    case 'load':
      return 15;
    case 'config':
      return 25;
    case 'graph':
      return 25 + Math.round((50 * (s.k ?? 0)) / (s.n ?? 1));
    case 'verify':
      return 85;
    case 'done':
      return 95;
  }
}

/** The bar's position so far; turns "up to N %" into the increment to report. */
export class StageProgress {
  private done = 0;

  /** The increment that brings the bar to `upTo` percent; undefined when there is none (no target, or not ahead). */
  advance(upTo?: number): number | undefined {
    if (upTo === undefined || upTo <= this.done) return undefined;
    const increment = upTo - this.done;
    this.done = upTo;
    return increment;
  }
}
