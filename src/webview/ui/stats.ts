/** A row of headline numbers: one `div.stat` (value over label) per item, joined to the items by class (else label). */
import { select } from 'd3';

/** One headline number. */
export interface Stat {
  label: string;
  value: string;
  /** Extra class of the stat (tests and export address it). */
  cls?: string;
}

/** Show `items` in `host` (a `.stats` element), in their order; a stat with a class keeps its element when its label changes. */
export function renderStats(host: HTMLElement, items: Stat[]): void {
  select(host)
    .selectAll<HTMLDivElement, Stat>('div.stat')
    .data(items, (d) => d.cls ?? d.label)
    .join((enter) => {
      const div = enter.append('div');
      div.append('span').attr('class', 'stat-value');
      div.append('span').attr('class', 'stat-label');
      return div;
    })
    .attr('class', (d) => (d.cls ? `stat ${d.cls}` : 'stat'))
    .call((div) => {
      div.select('.stat-value').text((d) => d.value);
      div.select('.stat-label').text((d) => d.label);
    })
    .order();
}
