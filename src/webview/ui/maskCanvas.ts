/** An L×L mask or weight matrix drawn at one pixel per (query, key) and shown scaled, with scale boundaries in an SVG overlay. */
import { select } from 'd3';
import { makeCanvas } from './canvas';

const SVG = 'http://www.w3.org/2000/svg';

/** The matrix figure; `draw` fills the pixels, `markRow` highlights a query row and its visible keys. */
export interface MaskCanvas {
  root: HTMLElement;
  canvas: HTMLCanvasElement;
  /** Fill the L×L pixels: `pixel(q, k, out, o)` writes RGBA at out[o..o+3]. */
  draw(pixel: (q: number, k: number, out: Uint8ClampedArray, o: number) => void): void;
  /** Fast path for causal masks: row q shows `on` for keys [0, rowEnd(q)) and `off` after (one typed fill per run). */
  drawPrefix(rowEnd: (q: number) => number, on: readonly [number, number, number], off: readonly [number, number, number]): void;
  /** Scale boundaries (fractions of L) and their labels. */
  setBoundaries(bounds: Array<{ start: number; end: number; label: string }>): void;
  markRow(q: number | null, visibleEnd: number): void;
}

/** Build a matrix figure of `n`×`n` cells shown at `size` CSS pixels; `onRow(q|null)` reports the hovered query row. */
export function makeMaskCanvas(doc: Document, n: number, size: number, label: string, onRow: (q: number | null) => void): MaskCanvas {
  const pad = 28;
  const root = doc.createElement('div');
  root.className = 'mask-figure';
  const frame = doc.createElement('div');
  frame.className = 'mask-frame';
  select(frame)
    .style('width', `${size + pad}px`)
    .style('height', `${size + pad}px`);
  // Backing store at data resolution (one pixel per query/key); CSS scales it with pixelated rendering.
  const canvas = makeCanvas(doc, 'mask-canvas', label);
  canvas.width = n;
  canvas.height = n;
  select(canvas).style('width', `${size}px`).style('height', `${size}px`).style('left', `${pad}px`).style('top', `${pad}px`);
  const svgEl = doc.createElementNS(SVG, 'svg');
  const svg = select(svgEl)
    .attr('class', 'chart mask-overlay')
    .attr('width', size + pad)
    .attr('height', size + pad);
  const lines = svg.append('g').attr('class', 'bounds').attr('transform', `translate(${pad},${pad})`);
  const row = svg.append('g').attr('class', 'row-mark').attr('transform', `translate(${pad},${pad})`).attr('hidden', '');
  const rowRect = row.append('rect').attr('class', 'row-rect');
  const keysRect = row.append('rect').attr('class', 'keys-rect');
  frame.append(canvas, svgEl);
  root.append(frame);
  canvas.addEventListener('mousemove', (ev) => {
    const b = canvas.getBoundingClientRect();
    const q = Math.floor(((ev.clientY - b.top) / b.height) * n);
    onRow(q >= 0 && q < n ? q : null);
  });
  const ctx = canvas.getContext('2d')!;
  const image = ctx.createImageData(n, n);
  return {
    root,
    canvas,
    draw(pixel) {
      const d = image.data;
      for (let q = 0; q < n; q++) for (let k = 0; k < n; k++) pixel(q, k, d, (q * n + k) * 4);
      ctx.putImageData(image, 0, 0);
    },
    drawPrefix(rowEnd, on, off) {
      // Pixels as little-endian RGBA words: ABGR in a Uint32Array.
      const word = (c: readonly [number, number, number]): number => ((255 << 24) | (c[2] << 16) | (c[1] << 8) | c[0]) >>> 0;
      const px = new Uint32Array(image.data.buffer);
      const a = word(on);
      const b = word(off);
      for (let q = 0; q < n; q++) {
        const end = Math.max(0, Math.min(n, rowEnd(q)));
        px.fill(a, q * n, q * n + end);
        px.fill(b, q * n + end, (q + 1) * n);
      }
      ctx.putImageData(image, 0, 0);
    },
    setBoundaries(bounds) {
      const g = lines
        .selectAll<SVGGElement, (typeof bounds)[number]>('g.bound')
        .data(bounds, (d) => d.label)
        .join((enter) => {
          const e = enter.append('g').attr('class', 'bound');
          e.append('line').attr('class', 'hline');
          e.append('line').attr('class', 'vline');
          e.append('text').attr('class', 'axis-label top-label');
          e.append('text').attr('class', 'axis-label left-label');
          return e;
        });
      g.select('.hline')
        .attr('x1', 0)
        .attr('x2', size)
        .attr('y1', (d) => d.start * size)
        .attr('y2', (d) => d.start * size);
      g.select('.vline')
        .attr('y1', 0)
        .attr('y2', size)
        .attr('x1', (d) => d.start * size)
        .attr('x2', (d) => d.start * size);
      // Labels only where the block is wide enough to hold them.
      g.select('.top-label')
        .attr('x', (d) => ((d.start + d.end) / 2) * size)
        .attr('y', -6)
        .attr('text-anchor', 'middle')
        .text((d) => ((d.end - d.start) * size >= 14 ? d.label : ''));
      g.select('.left-label')
        .attr('x', -4)
        .attr('y', (d) => ((d.start + d.end) / 2) * size + 3)
        .attr('text-anchor', 'end')
        .text((d) => ((d.end - d.start) * size >= 10 ? d.label : ''));
    },
    markRow(q, visibleEnd) {
      row.attr('hidden', q === null ? '' : null);
      if (q === null) return;
      const h = Math.max(1.5, size / n);
      rowRect
        .attr('x', 0)
        .attr('width', size)
        .attr('y', (q / n) * size - h / 2)
        .attr('height', h);
      keysRect
        .attr('x', 0)
        .attr('width', (visibleEnd / n) * size)
        .attr('y', (q / n) * size - h / 2)
        .attr('height', h);
    },
  };
}
