/** The frame every SVG chart shares: title, x and y axes with their labels, an optional grid, and the plot group. */
import { select, type Selection } from 'd3';

const SVG = 'http://www.w3.org/2000/svg';

/** Margins around the plot area (pixels). */
export interface Margins {
  top: number;
  right: number;
  bottom: number;
  left: number;
}

/** What a chart draws into. */
export interface ChartFrame {
  root: SVGSVGElement;
  svg: Selection<SVGSVGElement, unknown, null, undefined>;
  /** The title line above the plot (its text can change with the data). */
  title: Selection<SVGTextElement, unknown, null, undefined>;
  /** The x axis's name below it (its text can change with the data). */
  xLabel: Selection<SVGTextElement, unknown, null, undefined>;
  gx: Selection<SVGGElement, unknown, null, undefined>;
  gy: Selection<SVGGElement, unknown, null, undefined>;
  /** Horizontal grid lines behind the plot (only with `grid: true`). */
  grid: Selection<SVGGElement, unknown, null, undefined> | null;
  plot: Selection<SVGGElement, unknown, null, undefined>;
}

/** Build the frame of a chart of `width` × `height` with the given margins, axis labels and accessible title. */
export function chartFrame(
  doc: Document,
  o: { cls: string; title: string; xLabel: string; yLabel: string; width: number; height: number; m: Margins; grid?: boolean },
): ChartFrame {
  const { width, height, m } = o;
  const root = doc.createElementNS(SVG, 'svg') as SVGSVGElement;
  const svg = select(root).attr('class', o.cls).attr('width', width).attr('height', height).attr('role', 'img').attr('aria-label', o.title);
  const title = svg.append('text').attr('class', 'axis-label chart-title').attr('x', m.left).attr('y', 12).text(o.title);
  const gx = svg
    .append('g')
    .attr('class', 'axis x')
    .attr('transform', `translate(0,${height - m.bottom})`);
  const gy = svg.append('g').attr('class', 'axis y').attr('transform', `translate(${m.left},0)`);
  const grid = o.grid ? svg.append('g').attr('class', 'grid').attr('transform', `translate(${m.left},0)`) : null;
  const plot = svg.append('g').attr('class', 'plot');
  const xLabel = svg
    .append('text')
    .attr('class', 'axis-label')
    .attr('x', (m.left + width - m.right) / 2)
    .attr('y', height - 4)
    .attr('text-anchor', 'middle')
    .text(o.xLabel);
  svg
    .append('text')
    .attr('class', 'axis-label')
    .attr('transform', `translate(12,${(m.top + height - m.bottom) / 2}) rotate(-90)`)
    .attr('text-anchor', 'middle')
    .text(o.yLabel);
  return { root, svg, title, xLabel, gx, gy, grid, plot };
}
