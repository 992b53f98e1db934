/**
 * The transport of a step-through generation, for either family's Generate mode: ◀ Back (to the previous scale,
 * computed before), Step ▶ (the next scale), Play / Pause, and a span for the view's jump buttons, one per scale.
 */
import type { Selection } from 'd3';
import { playGeneration, stepGeneration } from '../actions';
import type { ViewContext } from '../views/view';
import { button } from './controls';

export interface GenerationTransport {
  back: HTMLButtonElement;
  step: HTMLButtonElement;
  play: HTMLButtonElement;
  jumps: Selection<HTMLSpanElement, unknown, null, undefined>;
}

/** The transport row, appended to `parent`. */
export function makeGenerationTransport(
  { doc, store, host }: Pick<ViewContext, 'doc' | 'store' | 'host'>,
  parent: Selection<HTMLElement, unknown, null, undefined>,
): GenerationTransport {
  const transport = parent
    .append('div')
    .attr('class', 'controls transport')
    .attr('role', 'group')
    .attr('aria-label', 'Step through scales');
  const back = button(
    doc,
    '◀ Back',
    () =>
      store.update((s) => {
        const cursor = Math.max(0, s.generation.cursor - 1);
        return { generation: { ...s.generation, cursor, playing: false }, focusScale: cursor };
      }),
    'Previous scale',
  );
  const step = button(doc, 'Step ▶', () => void stepGeneration(store, host), 'Next scale');
  const play = button(
    doc,
    'Play',
    () => {
      if (store.state.generation.playing) store.update((s) => ({ generation: { ...s.generation, playing: false } }));
      else void playGeneration(store, host);
    },
    'Play all scales',
  );
  back.classList.add('back');
  step.classList.add('step');
  play.classList.add('play');
  transport.node()!.append(back, step, play);
  return { back, step, play, jumps: transport.append('span').attr('class', 'jumps') };
}
