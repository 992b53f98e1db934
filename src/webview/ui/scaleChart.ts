/** A small per-scale chart (line or bars) in SVG with labelled axes and units; the focused scale is marked. */
import { axisBottom, axisLeft, max, scaleBand, scaleLinear, select } from 'd3';
import { chartFrame } from './chartFrame';
import { shapeText, type GridShape } from '../geometry/scales';

/** Height of one row of a chart's key (pixels): a line of its 11 px text. */
const KEY_ROW = 13;
/** How far below the top margin (the title's line) the key's first row sits: the title's descenders clear its ascenders. */
const KEY_TOP = 5;

/** One series: a value per scale. */
export interface Series {
  name: string;
  values: number[];
  /** Extra class for the bars / line (e.g. 'alt'). */
  cls?: string;
}

/** Options of a scale chart. */
export interface ScaleChartOptions {
  title: string;
  /** Y axis label with its unit, e.g. "PSNR (dB)". */
  yLabel: string;
  /** X axis label; default "scale (pn × pn tokens)". */
  xLabel?: string;
  /** `stack`: one bar per scale, the series stacked in order (parts of a whole). */
  kind: 'line' | 'bar' | 'stack';
  width?: number;
  height?: number;
  /** Fixed y domain; default [0, max]. */
  yDomain?: [number, number];
  format?: (v: number) => string;
}

/** A tick: pn for a pn×pn scale, h×w for a non-square one. */
function tickOf(shape: GridShape): string {
  return typeof shape === 'number' ? String(shape) : `${shape.h}×${shape.w}`;
}

/** Build a chart; `update` redraws it for the given patchNums (or h×w grids) and series. */
export function makeScaleChart(
  doc: Document,
  o: ScaleChartOptions,
): { root: SVGSVGElement; update(patchNums: GridShape[], series: Series[], focus: number | null): void } {
  const width = o.width ?? 340;
  const height = o.height ?? 170;
  const m = { top: 22, right: 10, bottom: 34, left: 58 };
  const { root, svg, gx, gy, grid, plot } = chartFrame(doc, {
    cls: 'chart',
    title: o.title,
    xLabel: o.xLabel ?? 'scale (pn × pn tokens)',
    yLabel: o.yLabel,
    width,
    height,
    m,
    grid: true,
  });
  return {
    root,
    update(patchNums, series, focus) {
      const x = scaleBand<number>()
        .domain(patchNums.map((_, k) => k))
        .range([m.left, width - m.right])
        .padding(0.2);
      const stacked = o.kind === 'stack';
      // Where each series' bar starts at each scale: the sum of the series below it (stacked), else 0.
      const base = series.map((_, si) => patchNums.map((_pn, k) => (stacked ? sumBelow(series, si, k) : 0)));
      const tops = stacked
        ? patchNums.map((_pn, k) => sumBelow(series, series.length, k))
        : series.flatMap((s) => s.values.filter(Number.isFinite));
      const top = o.yDomain?.[1] ?? max(tops) ?? 1;
      // With several series, a key names them in their own colours, one row each between the title and the plot.
      const keyed = series.length > 1 ? series : [];
      const plotTop = keyed.length ? m.top + KEY_TOP + keyed.length * KEY_ROW : m.top;
      const y = scaleLinear()
        .domain([o.yDomain?.[0] ?? 0, top || 1])
        .nice()
        .range([height - m.bottom, plotTop]);
      gx.call(
        axisBottom(x)
          .tickFormat((k) => tickOf(patchNums[k as number]))
          .tickSizeOuter(0),
      );
      gy.call(
        axisLeft(y)
          .ticks(4)
          .tickFormat((v) => (o.format ? o.format(+v) : String(v))),
      );
      grid!.call(
        axisLeft(y)
          .ticks(4)
          .tickSize(-(width - m.left - m.right))
          .tickFormat(() => ''),
      );
      const bw = stacked ? x.bandwidth() : x.bandwidth() / Math.max(1, series.length);
      svg
        .selectAll<SVGGElement, Series>('g.key')
        .data(keyed, (d) => d.name)
        .join((enter) => {
          const g = enter.append('g').attr('class', 'key');
          g.append('rect').attr('width', 8).attr('height', 8).attr('y', -8);
          g.append('text').attr('class', 'axis-label').attr('x', 11);
          return g;
        })
        .attr('transform', (_d, i) => `translate(${m.left},${m.top + KEY_TOP + i * KEY_ROW})`)
        .each(function (d) {
          select(this)
            .select('rect')
            .attr('class', `bar ${d.cls ?? ''}`);
          select(this).select('text').text(d.name);
        });
      plot
        .selectAll<SVGGElement, Series>('g.series')
        .data(series, (d) => d.name)
        .join('g')
        .attr('class', (d) => `series ${d.cls ?? ''}`)
        .each(function (s, si) {
          const g = select(this);
          const pts = s.values.map((v, k) => ({ k, v })).filter((d) => Number.isFinite(d.v));
          if (o.kind !== 'line') {
            const b0 = (k: number): number => base[si][k];
            g.selectAll('path').remove();
            g.selectAll<SVGRectElement, { k: number; v: number }>('rect.bar')
              .data(pts, (d) => String(d.k))
              .join('rect')
              .attr('class', (d) => `bar ${s.cls ?? ''} ${d.k === focus ? 'is-focused' : ''}`)
              .attr('data-scale', (d) => d.k)
              .attr('x', (d) => x(d.k)! + (stacked ? 0 : si * bw))
              .attr('width', bw)
              .attr('y', (d) => y(b0(d.k) + Math.max(0, d.v)))
              .attr('height', (d) => Math.abs(y(b0(d.k)) - y(b0(d.k) + d.v)))
              .selectAll('title')
              .data((d) => [d])
              .join('title')
              .text((d) => `${s.name} at ${shapeText(patchNums[d.k])}: ${o.format ? o.format(d.v) : d.v}`);
          } else {
            const cx = (k: number): number => x(k)! + x.bandwidth() / 2;
            g.selectAll('path.line')
              .data([pts])
              .join('path')
              .attr('class', `line ${s.cls ?? ''}`)
              .attr('d', (d) => d.map((p, i) => `${i ? 'L' : 'M'}${cx(p.k)},${y(p.v)}`).join(''));
            g.selectAll<SVGCircleElement, { k: number; v: number }>('circle.dot')
              .data(pts, (d) => String(d.k))
              .join('circle')
              .attr('class', (d) => `dot ${s.cls ?? ''} ${d.k === focus ? 'is-focused' : ''}`)
              .attr('data-scale', (d) => d.k)
              .attr('cx', (d) => cx(d.k))
              .attr('cy', (d) => y(d.v))
              .attr('r', (d) => (d.k === focus ? 5 : 3.5))
              .selectAll('title')
              .data((d) => [d])
              .join('title')
              .text((d) => `${s.name} at ${shapeText(patchNums[d.k])}: ${o.format ? o.format(d.v) : d.v}`);
          }
        });
    },
  };
}

/** The sum of the first `n` series' finite values at scale k. */
function sumBelow(series: Series[], n: number, k: number): number {
  let t = 0;
  for (let i = 0; i < n; i++) if (Number.isFinite(series[i].values[k])) t += series[i].values[k];
  return t;
}
