/** A reliability diagram in SVG: per confidence bin, the accuracy (bars) against the diagonal of perfect calibration. */
import { axisBottom, axisLeft, scaleLinear, select } from 'd3';
import type { ReliabilityBin } from '../../shared/evaluation';

const SVG = 'http://www.w3.org/2000/svg';

/** Build the diagram; `update` redraws it for a set of bins and its ECE. */
export function makeReliabilityChart(doc: Document, title: string, size = 220): { root: SVGSVGElement; update(bins: ReliabilityBin[], ece: number): void } {
  const m = { top: 22, right: 10, bottom: 34, left: 46 };
  const svgEl = doc.createElementNS(SVG, 'svg') as SVGSVGElement;
  const svg = select(svgEl).attr('class', 'chart reliability').attr('width', size).attr('height', size).attr('role', 'img').attr('aria-label', title);
  const head = svg.append('text').attr('class', 'axis-label chart-title').attr('x', m.left).attr('y', 12);
  const x = scaleLinear().domain([0, 1]).range([m.left, size - m.right]);
  const y = scaleLinear().domain([0, 1]).range([size - m.bottom, m.top]);
  svg.append('g').attr('class', 'axis x').attr('transform', `translate(0,${size - m.bottom})`).call(axisBottom(x).ticks(5));
  svg.append('g').attr('class', 'axis y').attr('transform', `translate(${m.left},0)`).call(axisLeft(y).ticks(5));
  svg.append('text').attr('class', 'axis-label').attr('x', (m.left + size - m.right) / 2).attr('y', size - 4).attr('text-anchor', 'middle').text('top-1 probability');
  svg.append('text').attr('class', 'axis-label').attr('transform', `translate(12,${(m.top + size - m.bottom) / 2}) rotate(-90)`).attr('text-anchor', 'middle').text('accuracy');
  const bars = svg.append('g').attr('class', 'plot');
  svg.append('path').attr('class', 'diagonal').attr('d', `M${x(0)},${y(0)}L${x(1)},${y(1)}`);
  return {
    root: svgEl,
    update(bins, ece) {
      head.text(`${title} · ECE ${(ece * 100).toFixed(1)} %`);
      const full = bins.filter((b) => b.count > 0 && b.accuracy !== null);
      bars.selectAll<SVGRectElement, ReliabilityBin>('rect.bar').data(full, (d) => String(d.lo)).join('rect').attr('class', 'bar')
        .attr('x', (d) => x(d.lo) + 1).attr('width', (d) => Math.max(1, x(d.hi) - x(d.lo) - 2))
        .attr('y', (d) => y(d.accuracy!)).attr('height', (d) => y(0) - y(d.accuracy!))
        .selectAll('title').data((d) => [d]).join('title')
        .text((d) => `top-1 probability ${d.lo.toFixed(2)}–${d.hi.toFixed(2)}: ${d.count} tokens, mean ${(d.confidence! * 100).toFixed(1)} %, right ${(d.accuracy! * 100).toFixed(1)} %`);
    },
  };
}
