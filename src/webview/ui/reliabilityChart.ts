/** A reliability diagram in SVG: per confidence bin, the accuracy (bars) against the diagonal of perfect calibration. */
import { axisBottom, axisLeft, scaleLinear } from 'd3';
import { chartFrame } from './chartFrame';
import type { ReliabilityBin } from '../../shared/evaluation';

/** Build the diagram; `update` redraws it for a set of bins and its ECE. */
export function makeReliabilityChart(
  doc: Document,
  title: string,
  size = 220,
): { root: SVGSVGElement; update(bins: ReliabilityBin[], ece: number): void } {
  const m = { top: 22, right: 10, bottom: 34, left: 46 };
  const {
    root,
    svg,
    title: head,
    gx,
    gy,
    plot: bars,
  } = chartFrame(doc, { cls: 'chart reliability', title, xLabel: 'top-1 probability', yLabel: 'accuracy', width: size, height: size, m });
  const x = scaleLinear()
    .domain([0, 1])
    .range([m.left, size - m.right]);
  const y = scaleLinear()
    .domain([0, 1])
    .range([size - m.bottom, m.top]);
  gx.call(axisBottom(x).ticks(5));
  gy.call(axisLeft(y).ticks(5));
  svg
    .append('path')
    .attr('class', 'diagonal')
    .attr('d', `M${x(0)},${y(0)}L${x(1)},${y(1)}`);
  return {
    root,
    update(bins, ece) {
      head.text(`${title} · ECE ${(ece * 100).toFixed(1)} %`);
      const full = bins.filter((b) => b.count > 0 && b.accuracy !== null);
      bars
        .selectAll<SVGRectElement, ReliabilityBin>('rect.bar')
        .data(full, (d) => String(d.lo))
        .join('rect')
        .attr('class', 'bar')
        .attr('x', (d) => x(d.lo) + 1)
        .attr('width', (d) => Math.max(1, x(d.hi) - x(d.lo) - 2))
        .attr('y', (d) => y(d.accuracy!))
        .attr('height', (d) => y(0) - y(d.accuracy!))
        .selectAll('title')
        .data((d) => [d])
        .join('title')
        .text(
          (d) =>
            `top-1 probability ${d.lo.toFixed(2)}–${d.hi.toFixed(2)}: ${d.count} tokens, mean ${(d.confidence! * 100).toFixed(1)} %, right ${(d.accuracy! * 100).toFixed(1)} %`,
        );
    },
  };
}
