/** A rank-frequency histogram on canvas (up to thousands of bins) with a log count axis in SVG; hover reports the code. */
import { axisBottom, axisLeft, scaleLinear, select } from 'd3';
import { logBars, rankFrequency } from '../geometry/histogram';
import type { ThemeColors } from '../theme';
import { makeCanvas, sizeCanvas } from './canvas';

const SVG = 'http://www.w3.org/2000/svg';

/** The histogram; `update` redraws, `onHover(code, count)` / `onClick(code)` report pointer actions. */
export interface HistogramCanvas {
  root: HTMLElement;
  canvas: HTMLCanvasElement;
  /** Draw the `bins` highest ranks (default: all codes). */
  update(counts: ArrayLike<number>, theme: ThemeColors, markedCode: number | null, bins?: number): void;
  /** Rank of a code in the last drawn histogram. */
  rankOf(code: number): number;
}

// Ranking thousands of codes is the costly part: keep one ranking per counts array (they are never mutated).
const rankings = new WeakMap<object, { ids: Int32Array; counts: Float64Array }>();
function rankingOf(counts: ArrayLike<number>): { ids: Int32Array; counts: Float64Array } {
  let r = rankings.get(counts as object);
  if (!r) rankings.set(counts as object, (r = rankFrequency(counts)));
  return r;
}

/** The first value of each of `columns` equal slices of a descending array (= the slice maximum). */
function columnMaxima(sorted: Float64Array, columns: number): Float64Array {
  const out = new Float64Array(columns);
  for (let x = 0; x < columns; x++) out[x] = sorted[Math.floor((x * sorted.length) / columns)];
  return out;
}

/** The bars of ranked counts as one path: ranked counts only fall, so the bars form a single staircase. */
function staircase(sorted: Float64Array, width: number, height: number): Path2D {
  // More bins than pixels: one step per pixel column, its height the column's first (largest) rank.
  const bars = logBars(sorted.length > width ? columnMaxima(sorted, width) : sorted, width, height, sorted[0] ?? 0);
  const path = new Path2D();
  path.moveTo(0, height);
  for (const b of bars) {
    path.lineTo(b.x, height - b.h);
    path.lineTo(b.x + b.w, height - b.h);
  }
  path.lineTo(width, height);
  path.closePath();
  return path;
}

/** Build a histogram `width`×`height` CSS pixels (plot area; axes add margins). */
export function makeHistogram(
  doc: Document,
  label: string,
  width: number,
  height: number,
  onHover: (code: number | null, count: number) => void,
  onClick: (code: number) => void,
  compact = false,
): HistogramCanvas {
  const m = compact ? { left: 34, bottom: 18, top: 4, right: 4 } : { left: 48, bottom: 34, top: 6, right: 8 };
  const root = doc.createElement('div');
  root.className = 'histogram';
  const frame = doc.createElement('div');
  frame.className = 'histogram-frame';
  select(frame)
    .style('width', `${width + m.left + m.right}px`)
    .style('height', `${height + m.top + m.bottom}px`);
  const canvas = makeCanvas(doc, 'histogram-canvas', label);
  select(canvas).style('left', `${m.left}px`).style('top', `${m.top}px`);
  const svgEl = doc.createElementNS(SVG, 'svg');
  const svg = select(svgEl)
    .attr('class', 'chart histogram-axes')
    .attr('width', width + m.left + m.right)
    .attr('height', height + m.top + m.bottom);
  const gx = svg
    .append('g')
    .attr('class', 'axis x')
    .attr('transform', `translate(${m.left},${m.top + height})`);
  const gy = svg.append('g').attr('class', 'axis y').attr('transform', `translate(${m.left},${m.top})`);
  if (!compact) {
    svg
      .append('text')
      .attr('class', 'axis-label')
      .attr('x', m.left + width / 2)
      .attr('y', m.top + height + 30)
      .attr('text-anchor', 'middle')
      .text('rank (codes sorted by hits)');
    svg
      .append('text')
      .attr('class', 'axis-label')
      .attr('transform', `translate(12,${m.top + height / 2}) rotate(-90)`)
      .attr('text-anchor', 'middle')
      .text('hits (log scale)');
  }
  frame.append(svgEl, canvas);
  root.append(frame);
  let ids: Int32Array = new Int32Array(0);
  let sorted: Float64Array = new Float64Array(0);
  let axesFor = '';
  // The staircase of the last drawn counts: a click that only moves the marked code refills it without rebuilding it.
  let shape: { counts: ArrayLike<number>; n: number; path: Path2D } | null = null;
  const codeAt = (ev: MouseEvent): number => {
    const b = canvas.getBoundingClientRect();
    const i = Math.floor(((ev.clientX - b.left) / b.width) * ids.length);
    return i >= 0 && i < ids.length ? i : -1;
  };
  canvas.addEventListener('mousemove', (ev) => {
    const i = codeAt(ev);
    onHover(i < 0 ? null : ids[i], i < 0 ? 0 : sorted[i]);
  });
  canvas.addEventListener('mouseleave', () => onHover(null, 0));
  canvas.addEventListener('click', (ev) => {
    const i = codeAt(ev);
    if (i >= 0) onClick(ids[i]);
  });
  return {
    root,
    canvas,
    update(counts, theme, markedCode, bins) {
      const rf = rankingOf(counts);
      const n = Math.max(1, Math.min(bins ?? rf.ids.length, rf.ids.length));
      ids = rf.ids.subarray(0, n);
      sorted = rf.counts.subarray(0, n);
      const maxCount = sorted[0] ?? 0;
      const ctx = sizeCanvas(canvas, width, height);
      ctx.clearRect(0, 0, width, height);
      ctx.fillStyle = theme.accent;
      if (shape?.counts !== counts || shape.n !== n) shape = { counts, n, path: staircase(sorted, width, height) };
      ctx.fill(shape.path);
      if (markedCode !== null) {
        const r = this.rankOf(markedCode);
        if (r >= 0) {
          ctx.fillStyle = theme.warn;
          ctx.fillRect(Math.min(width - 2, (r / ids.length) * width), 0, Math.max(2, width / ids.length), height);
        }
      }
      const axesKey = `${ids.length}/${maxCount}`;
      if (axesKey === axesFor) return;
      axesFor = axesKey;
      // Ranks are whole numbers: no fractional ticks on short axes.
      gx.call(
        axisBottom(scaleLinear().domain([0, ids.length]).range([0, width]))
          .ticks(Math.min(compact ? 3 : 6, ids.length))
          .tickFormat((v) => (Number.isInteger(+v) ? String(+v) : ''))
          .tickSizeOuter(0),
      );
      // Bars are log10(count + 1) so that a single hit still shows; ticks are placed there but labelled in hits.
      const top = Math.log10(maxCount + 1) || 1;
      const y = scaleLinear().domain([0, top]).range([height, 0]);
      const ticks = [0];
      for (let c = 1; c <= maxCount; c *= 10) ticks.push(c);
      if (maxCount > ticks[ticks.length - 1] * 2) ticks.push(maxCount);
      gy.call(
        axisLeft(y)
          .tickValues(ticks.map((c) => Math.log10(c + 1)))
          .tickFormat((_v, i) => String(ticks[i])),
      );
    },
    rankOf(code) {
      for (let i = 0; i < ids.length; i++) if (ids[i] === code) return i;
      return -1;
    },
  };
}
