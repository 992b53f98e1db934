/**
 * A sampling grid's run in a view's head (both families' Sampling views): while it runs, "k of N samples" with a bar
 * and a Cancel; once cancelled, a line that says so and whether a previous grid stays below. And the grid's body: the
 * summary line, the table of settings and one chart per metric.
 */
import { select } from 'd3';
import { cancelSamplingGrid } from '../actions';
import { makeScaleChart } from './scaleChart';
import type { InspectorState } from '../store';
import type { ViewContext } from '../views/view';
import { button } from './controls';

/** The mounted progress: its two rows for the head, and an update that also disables the view's run buttons. */
export interface GridProgress {
  rows: HTMLElement[];
  update(st: InspectorState, runButtons: HTMLButtonElement[], ready: boolean): void;
}

/** Build the progress rows. */
export function makeGridProgress({ doc, store, host }: Pick<ViewContext, 'doc' | 'store' | 'host'>): GridProgress {
  const progress = doc.createElement('div');
  progress.className = 'controls grid-progress';
  const bar = doc.createElement('progress');
  bar.className = 'grid-progress-bar';
  const done = doc.createElement('span');
  done.className = 'grid-progress-text';
  done.setAttribute('aria-live', 'polite');
  const cancel = button(doc, 'Cancel', () => void cancelSamplingGrid(store, host), 'Cancel the sampling grid');
  cancel.classList.add('grid-cancel');
  progress.append(bar, done, cancel);
  const cancelled = doc.createElement('div');
  cancelled.className = 'hint grid-cancelled';
  return {
    rows: [progress, cancelled],
    update(st, runButtons, ready) {
      // One grid at a time: the run buttons wait while one runs.
      const run = st.samplingRun;
      const running = run?.state === 'running';
      for (const b of runButtons) b.disabled = !ready || running;
      progress.hidden = !running;
      cancelled.hidden = run?.state !== 'cancelled';
      const of = run ? `${run.done} of ${run.total} sample${run.total > 1 ? 's' : ''}` : '';
      bar.max = run?.total ?? 1;
      bar.value = run?.done ?? 0;
      done.textContent = running ? of : '';
      cancelled.textContent =
        run?.state === 'cancelled'
          ? `Cancelled after ${of}; ${st.samplingGrid.value ? 'the previous result stays below' : 'no grid was sampled yet'}.`
          : '';
    },
  };
}

/** A metric's chart: its declaration (JSON key, title, axis label, digits, whether a percentage). */
interface MetricDecl<K extends string> {
  key: K;
  label: string;
  yLabel: string;
  digits: number;
  percent?: boolean;
}

/** The grid's body in `parent`: the summary line, the settings' table and a chart per metric (in `metrics` order). */
export function makeGridBody<K extends string, D extends MetricDecl<K>>(doc: Document, parent: HTMLElement, metrics: readonly D[]) {
  const body = select(parent);
  const summary = body.append('div').attr('class', 'hint grid-summary');
  const blocks = body.append('div').attr('class', 'grid-table');
  const charts = body.append('div').attr('class', 'row grid-charts');
  const metricCharts = metrics.map((d) => {
    const c = makeScaleChart(doc, {
      title: d.label,
      yLabel: d.yLabel,
      kind: 'line',
      width: 282,
      height: 180,
      format: (v) => (d.percent ? `${v.toFixed(0)}` : d.digits ? v.toFixed(d.digits) : String(Math.round(v))),
      yDomain: d.percent ? [0, 100] : undefined,
    });
    c.root.classList.add(`chart-${d.key}`);
    charts.node()!.append(c.root);
    return { d, c };
  });
  return { summary, blocks, metricCharts };
}
