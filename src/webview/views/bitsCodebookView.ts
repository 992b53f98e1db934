/**
 * Codebook use of an Infinity model, where a 2^d-bin histogram cannot be drawn: per scale, each bit's balance
 * (fraction of ones) and entropy, and the number of different codes (of the tokens, of 2^d); for the open image or a
 * folder counted by the engine (`folderUsage`), the two sources in one place as the VAR Codebook view has them.
 */
import { select } from 'd3';
import { bitUsageJson, distinctText, type BitScaleUsage, type BitUsage } from '../../shared/results';
import { countFolder } from '../actions';
import { scaleLabel, type GridShape } from '../geometry/scales';
import type { InspectorState, Loadable } from '../store';
import { drawRgba, heatmapImage } from '../ui/canvas';
import { button, segmented } from '../ui/controls';
import { makeDataTable, type Column } from '../ui/dataTable';
import { makeLegend } from '../ui/legend';
import { makeScaleChart } from '../ui/scaleChart';
import { renderStats } from '../ui/stats';
import { defineView } from './view';

type Source = InspectorState['codebookSource'];

/** Height of one scale's row in the per-bit grids (CSS px), the widest a bit's column gets, and a grid's width (two share a row). */
const ROW = 18;
const COLUMN_MAX = 18;
const GRID_WIDTH = 400;

/** The bit usage a source shows: the open image's, or the folder's (once counted), else null. */
export function bitUsageFor(st: InspectorState, source: Source): BitUsage | null {
  if (source === 'image') return st.bitsInspect.value?.usage ?? null;
  const u = st.folderUsage?.usage;
  return u && 'kind' in u ? u : null;
}

/** The chosen source's status: ready with its usage, else how far its request got. */
function usageSource(st: InspectorState): Loadable<BitUsage> {
  const source = st.codebookSource === 'training' ? 'image' : st.codebookSource; // no training counts in an Infinity bundle
  const usage = bitUsageFor(st, source);
  if (usage) return { status: 'ready', value: usage };
  if (source === 'image') return { status: st.bitsInspect.status, error: st.bitsInspect.error };
  return { status: st.folderRun ? 'loading' : 'idle' };
}

/** Each scale's grid: from the open image, else from the one schedule counted (several: none, the index says it). */
function scaleShapesOf(st: InspectorState, u: BitUsage): Array<GridShape | null> {
  const r = st.bitsInspect.value;
  if (r && u.schedules.length === 1 && u.schedules[0] === r.schedule) return r.scales.map((s) => ({ h: s.h, w: s.w }));
  const s = u.schedules.length === 1 ? st.bitsModel?.schedules.find((x) => x.id === u.schedules[0]) : undefined;
  return u.perScale.map((_, k) => (s?.scales[k] ? { h: s.scales[k][0], w: s.scales[k][1] } : null));
}

/** "k=3 · 3×4", or "k=3" where scale k's grid differs between the schedules counted. */
const labelOf = (k: number, shape: GridShape | null): string => (shape ? scaleLabel(k, shape) : `k=${k + 1}`);

/** A fraction for a table cell: a percentage, or powers of ten where it is far below one percent (codes of 2^d). */
function share(v: number): string {
  return v === 0 || v >= 1e-3 ? `${(v * 100).toFixed(1)}%` : `${(v * 100).toExponential(1)}%`;
}

/** A share of a scale's different codes, "≥" when their count is a lower bound. */
const atLeast = (s: BitScaleUsage, text: string): string => (s.distinctCapped ? `≥ ${text}` : text);

/** The mean of a vector (0 when empty). */
function mean(a: ArrayLike<number>): number {
  let t = 0;
  for (let i = 0; i < a.length; i++) t += a[i];
  return a.length ? t / a.length : 0;
}

/** The per-scale table's rows: a scale's usage and its label. */
interface Row {
  s: BitScaleUsage;
  label: string;
  d: number;
}

const COLUMNS: Array<Column<Row>> = [
  { header: 'Scale', cell: (r) => r.label },
  { header: 'Tokens', cell: (r) => String(r.s.tokens) },
  { header: 'Different codes', cell: (r) => distinctText(r.s.distinct, r.s.distinctCapped) },
  { header: 'of tokens', cell: (r) => atLeast(r.s, share(r.s.tokens ? r.s.distinct / r.s.tokens : 0)) },
  { header: 'of 2^d', cell: (r) => atLeast(r.s, share(r.s.distinct / 2 ** r.d)) },
  { header: 'Mean bit entropy', cell: (r) => mean(r.s.entropy).toFixed(3) },
  { header: 'Lowest bit entropy', cell: (r) => Math.min(...r.s.entropy).toFixed(3) },
  { header: 'Constant bits', cell: (r) => String(Array.from(r.s.entropy).filter((h) => h === 0).length) },
];

/** A scales × bits grid on canvas with its row labels; `update` draws values in [0, 1] (row k, column j at k·d + j). */
function makeBitGrid(doc: Document, cls: string, label: string, onHover: (cell: { k: number; j: number } | null) => void) {
  const root = doc.createElement('div');
  root.className = `bit-grid ${cls}`;
  const labels = select(root).append('div').attr('class', 'bit-grid-labels');
  const canvas = doc.createElement('canvas');
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', label);
  root.append(canvas);
  let shape = { K: 0, d: 0 };
  canvas.addEventListener('mousemove', (ev) => {
    const b = canvas.getBoundingClientRect();
    const j = Math.floor(((ev.clientX - b.left) / b.width) * shape.d);
    const k = Math.floor(((ev.clientY - b.top) / b.height) * shape.K);
    onHover(j >= 0 && j < shape.d && k >= 0 && k < shape.K ? { k, j } : null);
  });
  canvas.addEventListener('mouseleave', () => onHover(null));
  return {
    root,
    canvas,
    update(values: Float64Array, K: number, d: number, rowLabels: string[]): void {
      shape = { K, d };
      const column = Math.max(2, Math.min(COLUMN_MAX, Math.floor(GRID_WIDTH / d)));
      drawRgba(canvas, heatmapImage(values, d, 0, 1, K), column * d, ROW * K);
      labels
        .selectAll('span')
        .data(rowLabels)
        .join('span')
        .text((t) => t);
    },
  };
}

/** The Codebook view of an Infinity model. */
export const createBitsCodebookView = defineView<BitUsage>({
  className: 'view view-codebook view-bit-codebook',
  source: (st) => ({
    data: usageSource(st),
    loading: st.codebookSource === 'folder' ? 'Counting the folder…' : 'Encoding the image to bits…',
    idle: st.codebookSource === 'folder' ? 'No folder counted yet: use “Count a folder…”.' : '',
  }),
  build({ doc, store, host }, parts) {
    const toolbar = select(parts.head).append('div').attr('class', 'toolbar');
    const source = segmented(
      doc,
      'Counts from',
      [
        { value: 'image', label: 'This image' },
        { value: 'folder', label: 'Folder' },
      ],
      (v) => store.update({ codebookSource: v as Source }),
    );
    toolbar.node()!.append(source.root);
    const count = button(doc, 'Count a folder…', () => void countFolder(store, host), 'Count bit usage over a folder of images');
    count.classList.add('count-folder');
    toolbar.node()!.append(count);
    const folderStatus = toolbar.append('span').attr('class', 'hint folder-status');
    const body = select(parts.body);
    const stats = body.append('div').attr('class', 'stats');
    let hover: { k: number; j: number } | null = null;
    const onHover = (cell: { k: number; j: number } | null): void => {
      if (cell?.k === hover?.k && cell?.j === hover?.j) return;
      hover = cell;
      parts.refresh();
    };
    // The per-bit grids first, side by side: what stands in for the histogram.
    body.append('h4').text('Per scale (rows) and bit (columns, bit 0 first): how often the bit is 1, and its entropy');
    const grids = body.append('div').attr('class', 'row bit-grids');
    const panel = (legendTitle: string, cls: string, label: string) => {
      const root = doc.createElement('div');
      const legend = makeLegend(doc, legendTitle, 220, (v) => v.toFixed(1));
      const grid = makeBitGrid(doc, cls, label, onHover);
      root.append(legend.root, grid.root);
      grids.node()!.append(root);
      return { legend, grid };
    };
    const balance = panel('fraction of tokens with the bit 1 (0.5: even)', 'balance-grid', 'Bit balance per scale');
    const entropy = panel('binary entropy of that fraction (bits)', 'entropy-grid', 'Bit entropy per scale');
    const info = body.append('p').attr('class', 'hint bit-info').attr('aria-live', 'polite');
    const charts = body.append('div').attr('class', 'row');
    const distinctChart = makeScaleChart(doc, {
      title: 'Different codes, of the scale’s tokens',
      yLabel: 'different codes (%)',
      xLabel: 'scale (h × w tokens)',
      kind: 'bar',
      width: 400,
      yDomain: [0, 100],
      format: (v) => v.toFixed(1),
    });
    distinctChart.root.classList.add('distinct-chart');
    const entropyChart = makeScaleChart(doc, {
      title: 'Bit entropy per scale (1 bit: the bit is even)',
      yLabel: 'entropy (bits)',
      xLabel: 'scale (h × w tokens)',
      kind: 'bar',
      width: 400,
      yDomain: [0, 1],
      format: (v) => v.toFixed(2),
    });
    entropyChart.root.classList.add('entropy-chart');
    charts.node()!.append(distinctChart.root, entropyChart.root);
    const table = makeDataTable(doc, 'bit-usage-table', COLUMNS);
    body.node()!.append(table.root);
    let labels: string[] = [];

    return {
      controls: [
        {
          on: (_u, st) => [st.codebookSource, st.folderUsage, st.folderRun],
          draw(_u, st) {
            source.set(st.codebookSource === 'training' ? 'image' : st.codebookSource);
            const f = st.folderUsage;
            const counting = st.folderRun !== null;
            folderStatus.text(
              f ? `folder: ${f.done}/${f.total} images${f.finished ? '' : ' (counting…)'}` : counting ? 'folder: listing images…' : '',
            );
          },
        },
      ],
      draws: [
        {
          on: (u, st) => [u, st.bitsInspect.value],
          draw(u, st) {
            const d = u.bits;
            const K = u.perScale.length;
            const shapes = scaleShapesOf(st, u);
            labels = shapes.map((s, k) => labelOf(k, s));
            renderStats(stats.node()!, [
              {
                label: 'different codes, all scales',
                value: `${distinctText(u.distinct, u.distinctCapped)} of ${u.tokens} tokens`,
                cls: 'stat-distinct',
              },
              { label: 'possible codes (2^d)', value: `2^${d} = ${(2 ** d).toExponential(2)}`, cls: 'stat-possible' },
              { label: 'mean bit entropy (bits)', value: mean(u.perScale.map((s) => mean(s.entropy))).toFixed(3), cls: 'stat-entropy' },
              { label: u.images === 1 ? 'image' : 'images', value: String(u.images), cls: 'stat-images' },
            ]);
            table.update(u.perScale.map((s, k) => ({ s, label: labels[k], d })));
            const ticks = shapes.map((s, k) => s ?? k + 1);
            distinctChart.update(
              ticks,
              [{ name: 'different codes', values: u.perScale.map((s) => (s.tokens ? (100 * s.distinct) / s.tokens : 0)), cls: 'c0' }],
              null,
            );
            entropyChart.update(
              ticks,
              [
                { name: 'mean over the bits', values: u.perScale.map((s) => mean(s.entropy)), cls: 'c0' },
                { name: 'lowest bit', values: u.perScale.map((s) => Math.min(...s.entropy)), cls: 'c2' },
              ],
              null,
            );
            const balances = new Float64Array(K * d);
            const entropies = new Float64Array(K * d);
            u.perScale.forEach((s, k) => {
              balances.set(s.balance, k * d);
              entropies.set(s.entropy, k * d);
            });
            balance.grid.update(balances, K, d, labels);
            entropy.grid.update(entropies, K, d, labels);
            balance.legend.update(0, 1);
            entropy.legend.update(0, 1);
          },
        },
        {
          on: (u) => [u, hover],
          draw(u) {
            const s = hover && u.perScale[hover.k];
            if (!hover || !s) {
              info.text('Hover a cell of a grid for its scale and bit.');
              return;
            }
            const j = hover.j;
            info.text(
              `${labels[hover.k]}, bit ${j}: ${share(s.balance[j])} ones (${s.ones[j]} of ${s.tokens} tokens), entropy ${s.entropy[j].toFixed(3)} bits`,
            );
          },
        },
      ],
    };
  },
  exportData(st) {
    const source = st.codebookSource === 'training' ? 'image' : st.codebookSource;
    const u = bitUsageFor(st, source);
    return (
      u && {
        view: 'codebook',
        family: 'infinity',
        source,
        ...bitUsageJson(u),
      }
    );
  },
});
