/** Curves against the training step (one line per series), for a training run's timeline. */
import { axisBottom, axisLeft, extent, max, min, scaleLinear, select } from 'd3';
import { spreadLabels } from '../geometry/labels';
import { chartFrame } from './chartFrame';

/** Least vertical distance between two curves' end labels (pixels). */
const LABEL_GAP = 11;

/** One curve: y per point. */
export interface StepSeries {
  name: string;
  values: number[];
  cls: string;
}

/** Build a chart; `update` redraws it for x values (steps) and series, and names x when `xLabel` is given. */
export function makeStepChart(
  doc: Document,
  o: { title: string; yLabel: string; xLabel: string; width?: number; height?: number; format?: (v: number) => string },
): { root: SVGSVGElement; update(xs: number[], series: StepSeries[], xLabel?: string): void } {
  const width = o.width ?? 340;
  const height = o.height ?? 190;
  const m = { top: 22, right: 90, bottom: 34, left: 58 };
  const {
    root,
    xLabel: xTitle,
    gx,
    gy,
    plot,
  } = chartFrame(doc, {
    cls: 'chart step-chart',
    title: o.title,
    xLabel: o.xLabel,
    yLabel: o.yLabel,
    width,
    height,
    m,
  });
  return {
    root,
    update(xs, series, xLabel) {
      if (xLabel !== undefined) xTitle.text(xLabel);
      const [x0, x1] = extent(xs) as [number, number];
      const x = scaleLinear()
        .domain(x0 === x1 ? [x0 - 1, x1 + 1] : [x0, x1])
        .range([m.left, width - m.right]);
      const vals = series.flatMap((s) => s.values.filter(Number.isFinite));
      const lo = Math.min(0, min(vals) ?? 0);
      const y = scaleLinear()
        .domain([lo, max(vals) || 1])
        .nice()
        .range([height - m.bottom, m.top]);
      gx.call(axisBottom(x).ticks(4).tickSizeOuter(0));
      gy.call(
        axisLeft(y)
          .ticks(4)
          .tickFormat((v) => (o.format ? o.format(+v) : String(v))),
      );
      plot
        .selectAll<SVGGElement, StepSeries>('g.series')
        .data(series, (d) => d.name)
        .join('g')
        .attr('class', (d) => `series ${d.cls}`)
        .each(function (s) {
          const g = select(this);
          const pts = s.values.map((v, i) => ({ x: xs[i], v })).filter((p) => Number.isFinite(p.v));
          g.selectAll('path.line')
            .data([pts])
            .join('path')
            .attr('class', `line ${s.cls}`)
            .attr('d', (d) => d.map((p, i) => `${i ? 'L' : 'M'}${x(p.x)},${y(p.v)}`).join(''));
          g.selectAll<SVGCircleElement, { x: number; v: number }>('circle.dot')
            .data(pts)
            .join('circle')
            .attr('class', `dot ${s.cls}`)
            .attr('cx', (d) => x(d.x))
            .attr('cy', (d) => y(d.v))
            .attr('r', 3)
            .selectAll('title')
            .data((d) => [d])
            .join('title')
            .text((d) => `${s.name} at step ${d.x}: ${o.format ? o.format(d.v) : d.v}`);
          const last = pts[pts.length - 1];
          g.selectAll('text.end')
            .data(last ? [last] : [])
            .join('text')
            .attr('class', 'axis-label end')
            .attr('x', width - m.right + 4)
            .attr('y', (d) => y(d.v) + 3)
            .text(s.name);
        });
      // curves that end at close values would print their names over each other
      const ends = plot.selectAll<SVGTextElement, unknown>('text.end').nodes();
      const ys = spreadLabels(
        ends.map((el) => Number(el.getAttribute('y'))),
        LABEL_GAP,
      );
      ends.forEach((el, i) => el.setAttribute('y', String(ys[i])));
    },
  };
}
