/** Small accessible controls shared by the views: segmented buttons, labelled number inputs, a status placeholder. */
import { select } from 'd3';
import type { BitsModelInfo } from '../../shared/results';
import type { Loadable } from '../store';

/** A group of toggle buttons; `set` reflects the store's value. */
export function segmented(
  doc: Document,
  label: string,
  options: Array<{ value: string; label: string }>,
  onPick: (value: string) => void,
): { root: HTMLElement; set(value: string): void } {
  const root = doc.createElement('div');
  root.className = 'segmented';
  root.setAttribute('role', 'group');
  root.setAttribute('aria-label', label);
  const title = doc.createElement('span');
  title.className = 'segmented-label';
  title.textContent = label;
  root.append(title);
  const buttons = options.map((o) => {
    const b = doc.createElement('button');
    b.type = 'button';
    b.textContent = o.label;
    b.dataset.value = o.value;
    b.setAttribute('aria-pressed', 'false');
    b.addEventListener('click', () => onPick(o.value));
    root.append(b);
    return b;
  });
  return {
    root,
    set(value) {
      for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.value === value));
    },
  };
}

/** A labelled input (number, text or select). */
export function field(doc: Document, label: string, input: HTMLInputElement | HTMLSelectElement): HTMLLabelElement {
  const l = doc.createElement('label');
  l.className = 'field';
  const span = doc.createElement('span');
  span.textContent = label;
  input.setAttribute('aria-label', label);
  l.append(span, input);
  return l;
}

/** A number input with bounds. */
export function numberInput(doc: Document, value: number, min: number, max: number, step: number): HTMLInputElement {
  const i = doc.createElement('input');
  i.type = 'number';
  i.min = String(min);
  i.max = String(max);
  i.step = String(step);
  i.value = String(value);
  return i;
}

/** A button with an accessible label. */
export function button(doc: Document, text: string, onClick: () => void, ariaLabel?: string): HTMLButtonElement {
  const b = doc.createElement('button');
  b.type = 'button';
  b.textContent = text;
  if (ariaLabel) b.setAttribute('aria-label', ariaLabel);
  b.addEventListener('click', onClick);
  return b;
}

/** A status line for loading / error / empty states, shown in place of a view's content. */
export function placeholder(doc: Document): {
  root: HTMLElement;
  show(l: Loadable<unknown>, loadingText: string, idleText?: string): void;
} {
  const root = doc.createElement('div');
  root.className = 'placeholder';
  root.setAttribute('role', 'status');
  return {
    root,
    show(l, loadingText, idleText) {
      const text =
        l.status === 'loading'
          ? loadingText
          : l.status === 'error'
            ? `${l.error?.code ?? 'Error'}: ${l.error?.message ?? ''}`
            : l.status === 'idle'
              ? (idleText ?? '')
              : '';
      root.textContent = text;
      root.hidden = !text;
      root.classList.toggle('is-error', l.status === 'error');
      root.classList.toggle('is-loading', l.status === 'loading');
    },
  };
}

/** An Infinity model's schedules as the options of a ratio select (value h / w; its pixel size and scales). */
export function fillRatioOptions(ratio: HTMLSelectElement, schedules: BitsModelInfo['schedules']): void {
  select(ratio)
    .selectAll('option')
    .data(schedules, (d) => (d as { id: string }).id)
    .join('option')
    .attr('value', (d) => d.hDivW)
    .text((d) => `${d.hDivW.toFixed(3)} · ${d.pixelSize[0]}×${d.pixelSize[1]} px, ${d.scales.length} scales`);
}
