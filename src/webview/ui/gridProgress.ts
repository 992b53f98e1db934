/**
 * A sampling grid's run in a view's head (both families' Sampling views): while it runs, "k of N samples" with a bar
 * and a Cancel; once cancelled, a line that says so and whether a previous grid stays below.
 */
import { cancelSamplingGrid } from '../actions';
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
