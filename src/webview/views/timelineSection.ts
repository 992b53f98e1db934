/**
 * The Dataset views' "Along the training run" section: with several checkpoints of a run, curves against the training
 * step (one chart per quantity, one line per scale), hidden for one checkpoint. VAR's view draws accuracy, NLL and
 * codebook use; Infinity's bit and token accuracy (src/shared/timeline.ts makes the curves of either family).
 */
import type { TimelineAxis } from '../../shared/timeline';
import { makeStepChart, type StepSeries } from '../ui/stepChart';

/** One chart of the section. */
export interface TimelineChartSpec {
  title: string;
  yLabel: string;
  format: (v: number) => string;
}

/** One line per scale (`names[k]`), the values in the unit shown (`scale`: ×100 for a percentage). */
export function perScaleSeries(values: number[][], names: string[], scale = 1): StepSeries[] {
  return values.map((v, k) => ({ name: names[k], values: v.map((x) => x * scale), cls: `c${k % 10}` }));
}

/** Appends the section to `parent`; `update` draws the charts' series (in `charts` order), or hides it (null). */
export function makeTimelineSection(
  doc: Document,
  parent: HTMLElement,
  charts: TimelineChartSpec[],
): { root: HTMLElement; update(t: { axis: TimelineAxis; series: StepSeries[][] } | null): void } {
  const root = doc.createElement('div');
  root.className = 'section dataset-timeline';
  const title = doc.createElement('h2');
  title.textContent = 'Along the training run';
  const row = doc.createElement('div');
  row.className = 'row';
  const made = charts.map((c) => makeStepChart(doc, { ...c, xLabel: 'training step' }));
  row.append(...made.map((c) => c.root));
  root.append(title, row);
  parent.append(root);
  return {
    root,
    update(t) {
      root.hidden = !t;
      if (!t) return;
      const xs = t.axis.points.map((p) => p.step);
      made.forEach((c, i) => c.update(xs, t.series[i], t.axis.axis));
    },
  };
}
