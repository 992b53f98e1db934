/** One scale of a token pyramid as an SVG grid: cells coloured per token, classes for hover / linked / selected. */
import { select } from 'd3';
import { embeddingColor, idColor, rgbCss } from '../geometry/colorMaps';
import { cellRect, gridSize, positionAt, positionsOverlapping, type GridShape, type Region } from '../geometry/scales';

const SVG = 'http://www.w3.org/2000/svg';

/** A token grid; `setTokens` recolours, `mark*` toggle highlight classes in place (cheap, for hover). */
export interface TokenGrid {
  root: SVGSVGElement;
  setTokens(tokens: Int32Array, codeColors: Uint8Array, colorBy: 'embedding' | 'id'): void;
  /** Colour each cell from its position (codes that are not one id, e.g. Infinity's bit vectors). */
  fill(colorOf: (position: number) => string): void;
  markHover(position: number | null, linked: Region | null): void;
  markCode(code: number | null): void;
  markPositions(cls: string, positions: number[]): void;
  /** Write each cell's token id in it (for grids with cells large enough to read). */
  showIds(on: boolean): void;
}

/**
 * Build the grid of a scale (pn×pn or h×w), `size` CSS pixels wide and square cells high; `onHover(position|null)` /
 * `onClick(position)` report pointer actions.
 */
export function makeTokenGrid(
  doc: Document,
  shape: GridShape,
  size: number,
  label: string,
  onHover: (position: number | null) => void,
  onClick: (position: number, ev: MouseEvent) => void,
): TokenGrid {
  const { h: rows, w: pn } = gridSize(shape); // pn: cells per row
  const height = (size * rows) / pn;
  const svg = doc.createElementNS(SVG, 'svg') as SVGSVGElement;
  const root = select(svg)
    .attr('class', 'token-grid')
    .attr('width', size)
    .attr('height', height)
    .attr('viewBox', `0 0 ${size} ${height}`)
    .attr('role', 'img')
    .attr('aria-label', label)
    .attr('data-pn', pn)
    .attr('data-rows', rows);
  const positions = Array.from({ length: rows * pn }, (_, i) => i);
  const cells = root
    .append('g')
    .attr('class', 'cells')
    .selectAll<SVGRectElement, number>('rect')
    .data(positions, (d) => String(d))
    .join('rect')
    .attr('class', 'cell')
    .attr('data-pos', (d) => d)
    .each(function (d) {
      const r = cellRect(shape, d, size);
      select(this).attr('x', r.x).attr('y', r.y).attr('width', r.w).attr('height', r.h);
    });
  const nodes = cells.nodes();
  const labels = root.append('g').attr('class', 'ids');
  // The linked region as one outline on top of the cells: clearer than many cell strokes and cheap to move.
  const regionBox = root.append('rect').attr('class', 'hover-region').attr('hidden', '');

  let tokens: Int32Array = new Int32Array(rows * pn);
  const marked = new Map<string, number[]>();
  const pointAt = (ev: MouseEvent): number => {
    const b = svg.getBoundingClientRect();
    return positionAt(shape, b.width, ev.clientX - b.left, ev.clientY - b.top);
  };
  svg.addEventListener('mousemove', (ev) => {
    const p = pointAt(ev);
    onHover(p < 0 ? null : p);
  });
  svg.addEventListener('click', (ev) => {
    const p = pointAt(ev);
    if (p >= 0) onClick(p, ev);
  });
  const setMarks = (cls: string, list: number[]): void => {
    for (const p of marked.get(cls) ?? []) nodes[p]?.classList.remove(cls);
    for (const p of list) nodes[p]?.classList.add(cls);
    marked.set(cls, list);
  };
  return {
    root: svg,
    setTokens(t, codeColors, colorBy) {
      tokens = t;
      cells
        .attr('fill', (d) => rgbCss(colorBy === 'id' ? idColor(t[d]) : embeddingColor(codeColors, t[d])))
        .attr('data-token', (d) => t[d]);
    },
    fill(colorOf) {
      cells.attr('fill', colorOf);
    },
    markHover(position, linked) {
      setMarks('is-hover', position === null ? [] : [position]);
      setMarks('is-linked', linked ? positionsOverlapping(shape, linked) : []);
      if (!linked) regionBox.attr('hidden', '');
      else {
        // Snap to the cells that overlap the region so the outline follows this grid's own cells.
        const c0 = Math.floor(linked.x0 * pn + 1e-9),
          c1 = Math.ceil(linked.x1 * pn - 1e-9);
        const r0 = Math.floor(linked.y0 * rows + 1e-9),
          r1 = Math.ceil(linked.y1 * rows - 1e-9);
        const cell = size / pn;
        regionBox
          .attr('hidden', null)
          .attr('x', c0 * cell + 1)
          .attr('y', r0 * cell + 1)
          .attr('width', Math.max(0, (c1 - c0) * cell - 2))
          .attr('height', Math.max(0, (r1 - r0) * cell - 2));
      }
    },
    markCode(code) {
      const list: number[] = [];
      if (code !== null) for (let i = 0; i < tokens.length; i++) if (tokens[i] === code) list.push(i);
      setMarks('is-selected', list);
      svg.classList.toggle('has-selection', code !== null);
    },
    markPositions(cls, list) {
      setMarks(cls, list);
    },
    showIds(on) {
      const cell = size / pn;
      labels
        .selectAll<SVGTextElement, number>('text')
        .data(on ? positions : [], (d) => String(d))
        .join('text')
        .attr('x', (d) => (d % pn) * cell + cell / 2)
        .attr('y', (d) => Math.floor(d / pn) * cell + cell / 2)
        .attr('text-anchor', 'middle')
        .attr('dominant-baseline', 'central')
        .attr('font-size', Math.min(14, cell / 3))
        .text((d) => tokens[d]);
    },
  };
}
