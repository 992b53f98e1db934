/** A row of per-scale figures (one canvas each) that report hovers as tokens of their scale and show the linked region. */
import { gridSize, positionAt, scaleLabel, type GridShape, type Region, type TokenRef } from '../geometry/scales';
import { makeFigure, type Figure } from './figure';

/** The row; the owner draws each figure's canvas. */
export interface ScaleFigures {
  root: HTMLElement;
  figures: Figure[];
  mark(region: Region | null): void;
  focus(scaleIndex: number): void;
}

/**
 * Build figures for every scale of `patchNums` (pn or h×w each), `size` CSS pixels wide and `aspect`·size high (the
 * image's height / width); `onHover` hears the token under the pointer, captions come from `caption(k)`.
 */
export function makeScaleFigures(
  doc: Document,
  patchNums: GridShape[],
  size: number,
  cls: string,
  onHover: (token: TokenRef) => void,
  caption: (k: number) => string = (k) => scaleLabel(k, patchNums[k]),
  aspect = 1,
): ScaleFigures {
  const root = doc.createElement('div');
  root.className = `heatmap-row ${cls}`;
  const figures = patchNums.map((pn, k) => {
    const { h, w } = gridSize(pn);
    const f = makeFigure(doc, 'scale-figure', caption(k), size, Math.round(size * aspect));
    f.root.dataset.scale = String(k);
    f.canvas.addEventListener('mousemove', (ev) => {
      const b = f.canvas.getBoundingClientRect();
      // The figure's own height, scaled to the grid's: its cells need not be square.
      const p = positionAt(pn, b.width, ev.clientX - b.left, ((ev.clientY - b.top) * b.width * h) / (w * b.height || 1));
      if (p >= 0) onHover({ scaleIndex: k, position: p });
    });
    root.append(f.root);
    return f;
  });
  return {
    root,
    figures,
    mark(region) {
      for (const f of figures) f.mark(region);
    },
    focus(k) {
      figures.forEach((f, i) => f.root.classList.toggle('is-focused', i === k));
    },
  };
}
