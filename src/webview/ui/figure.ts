/** An image figure: a canvas with a caption and an overlay box marking the linked region. */
import { select } from 'd3';
import type { Region } from '../geometry/scales';
import { makeCanvas } from './canvas';

/** A figure whose canvas the owner draws; `mark` moves the overlay box (null hides it). */
export interface Figure {
  root: HTMLElement;
  canvas: HTMLCanvasElement;
  caption: HTMLElement;
  mark(region: Region | null): void;
}

/** Build a figure `size` CSS pixels wide and `height` high (default: square). */
export function makeFigure(doc: Document, cls: string, label: string, size: number, height = size): Figure {
  const root = doc.createElement('figure');
  root.className = `figure ${cls}`;
  const frame = doc.createElement('div');
  frame.className = 'figure-frame';
  select(frame).style('width', `${size}px`).style('height', `${height}px`);
  const canvas = makeCanvas(doc, 'figure-canvas', label);
  const box = doc.createElement('div');
  box.className = 'region-box';
  box.hidden = true;
  frame.append(canvas, box);
  const caption = doc.createElement('figcaption');
  caption.textContent = label;
  root.append(frame, caption);
  return {
    root,
    canvas,
    caption,
    mark(r) {
      box.hidden = !r;
      if (!r) return;
      // Percentages so the box follows the figure's size without recomputation.
      select(box)
        .style('left', `${r.x0 * 100}%`)
        .style('top', `${r.y0 * 100}%`)
        .style('width', `${(r.x1 - r.x0) * 100}%`)
        .style('height', `${(r.y1 - r.y0) * 100}%`);
    },
  };
}
