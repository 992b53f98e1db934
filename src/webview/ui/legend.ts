/** A colour legend for a sequential heatmap: gradient bar plus an SVG axis with ticks and a titled unit. */
import { axisBottom, scaleLinear, select } from 'd3';
import { sequential } from '../geometry/colorMaps';
import { sizeCanvas } from './canvas';

const SVG = 'http://www.w3.org/2000/svg';

/** Build a legend `width` CSS pixels wide; `update(lo, hi)` sets its domain. */
export function makeLegend(
  doc: Document,
  title: string,
  width = 220,
  format?: (v: number) => string,
): { root: HTMLElement; update(lo: number, hi: number): void } {
  const root = doc.createElement('div');
  root.className = 'legend';
  root.setAttribute('role', 'img');
  root.setAttribute('aria-label', `Colour legend: ${title}`);
  const t = doc.createElement('span');
  t.className = 'legend-title';
  t.textContent = title;
  const bar = doc.createElement('canvas');
  bar.className = 'legend-bar';
  const axisSvg = doc.createElementNS(SVG, 'svg');
  const axis = select(axisSvg)
    .attr('class', 'chart')
    .attr('width', width + 16)
    .attr('height', 22)
    .append('g')
    .attr('class', 'axis')
    .attr('transform', 'translate(8,0)');
  const barWrap = doc.createElement('div');
  barWrap.className = 'legend-bar-wrap';
  barWrap.append(bar);
  root.append(t, barWrap, axisSvg);
  select(bar).classed('legend-bar', true);
  return {
    root,
    update(lo, hi) {
      const ctx = sizeCanvas(bar, width, 10);
      for (let x = 0; x < width; x++) {
        const [r, g, b] = sequential(x / (width - 1));
        ctx.fillStyle = `rgb(${r},${g},${b})`;
        ctx.fillRect(x, 0, 1, 10);
      }
      const s = scaleLinear().domain([lo, hi]).range([0, width]);
      // About one tick per 60 px so labels never collide.
      // Both ends are labelled (a narrow legend would otherwise show one middle tick and no range).
      const inner = s.ticks(Math.max(2, Math.floor(width / 60))).filter((v) => Math.abs(s(v) - s(lo)) > 30 && Math.abs(s(hi) - s(v)) > 30);
      axis.call(
        axisBottom(s)
          .tickValues([lo, ...inner, hi])
          .tickFormat((v) => (format ? format(+v) : String(+v))),
      );
    },
  };
}
