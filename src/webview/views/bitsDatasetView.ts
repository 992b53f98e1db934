/**
 * The Dataset view of an Infinity model: a checkpoint evaluated over a folder of captioned images (BitsDatasetEvaluation).
 * Per scale, teacher-forced bit accuracy and token accuracy (every bit right), each beside the two baselines that need no
 * model (each bit's majority value, the coarser scale copied); the per-scale table; the worst images (sortable; a click
 * opens one in the inspector with the same model). Built from the VAR Dataset view's pieces (scale charts, data tables).
 */
import { select } from 'd3';
import type { BitAccuracyValues, BitsDatasetEvaluation, BitsImageMetrics, BitsScaleMetrics } from '../../shared/evaluation';
import { makeDataTable, type Column } from '../ui/dataTable';
import { makeDatasetToolbar } from '../ui/datasetToolbar';
import { makeScaleChart } from '../ui/scaleChart';
import { makeWorstImagesTable, relative } from '../ui/worstImagesTable';
import { modelTitle } from './datasetView';
import { defineView } from './view';

const pct = (v: number) => (v * 100).toFixed(1);
const pctOf = (a: BitAccuracyValues | null, key: keyof BitAccuracyValues) => (a ? pct(a[key]) : '–');

/** A scale's name: h×w when every image has the same grid, else its index. */
const scaleName = (sc: BitsScaleMetrics) => (sc.grid ? `${sc.grid.h}×${sc.grid.w}` : `scale ${sc.scaleIndex}`);

/** Columns of the per-scale table: each accuracy beside its baselines. */
const SCALE_COLUMNS: Array<Column<BitsScaleMetrics>> = [
  { header: 'scale', cell: scaleName },
  { header: 'tokens', cell: (sc) => String(sc.tokens) },
  ...(['bitAccuracy', 'tokenAccuracy'] as const).flatMap((key): Array<Column<BitsScaleMetrics>> => {
    const what = key === 'bitAccuracy' ? 'bit' : 'token';
    return [
      { header: `${what} acc %`, cell: (sc) => pct(sc[key]) },
      { header: `majority ${what} %`, cell: (sc) => pctOf(sc.baselines.majority, key) },
      { header: `copy coarser ${what} %`, cell: (sc) => pctOf(sc.baselines.copyCoarser, key) },
    ];
  }),
];

/** The metric columns of the worst-images table, each sortable (worst first: the lowest). */
const IMAGE_METRIC_COLUMNS: Array<Column<BitsImageMetrics>> = [
  { header: 'bit accuracy (%)', cell: (r) => pct(r.bitAccuracy), sort: { value: (r) => r.bitAccuracy, worstHigh: false } },
  { header: 'token accuracy (%)', cell: (r) => pct(r.tokenAccuracy), sort: { value: (r) => r.tokenAccuracy, worstHigh: false } },
];

/** The line above the charts: model, folder, images, the accuracies over all scales, where the captions came from. */
function summaryText(ev: BitsDatasetEvaluation): string {
  const captions = ev.labels.kind === 'captions' && ev.labels.jsonl ? `from ${ev.labels.jsonl}` : 'beside the images';
  return (
    `${modelTitle(ev.model)} on ${ev.folder}: ${ev.images} images${ev.failed.length ? `, ${ev.failed.length} failed (see the log)` : ''}${ev.cancelled ? ' (cancelled: partial)' : ''}; ` +
    `all scales: bit accuracy ${pct(ev.overall.bitAccuracy)} %, token accuracy ${pct(ev.overall.tokenAccuracy)} %. Captions: ${captions}.`
  );
}

/** The Dataset view of an Infinity model. */
export const createBitsDatasetView = defineView<BitsDatasetEvaluation>({
  className: 'view view-dataset view-bits-dataset',
  source: (st) => ({
    data: st.bitsDataset ? { status: 'ready', value: st.bitsDataset } : { status: 'idle' },
    loading: '',
    idle: 'No evaluation yet: evaluate the model on a folder of captioned images (NAME.txt or NAME.npy beside each, or one JSONL), or open a saved result.',
  }),
  build(ctx, parts) {
    const { doc, store } = ctx;
    makeDatasetToolbar(
      ctx,
      parts.head,
      [
        { command: 'varscope.evaluateFolder', label: 'Evaluate a folder…', title: 'Evaluate the model on a folder of captioned images' },
        { command: 'varscope.openEvaluation', label: 'Open results…', title: 'Open a saved evaluation (JSON)' },
      ],
      () => store.state.bitsDataset,
    );
    const summary = select(parts.head).append('p').attr('class', 'dataset-summary muted');
    parts.body.classList.add('dataset-body');
    const body = select(parts.body);
    const charts = body.append('div').attr('class', 'row');
    const chartOf = (title: string, yLabel: string) =>
      makeScaleChart(doc, {
        title,
        yLabel,
        xLabel: 'scale (h × w tokens)',
        kind: 'line',
        height: 220,
        yDomain: [0, 100],
        format: (v) => v.toFixed(0),
      });
    const bitChart = chartOf('Bit accuracy vs baselines', 'bit accuracy (%)');
    const tokenChart = chartOf('Token accuracy (all bits right) vs baselines', 'token accuracy (%)');
    charts.node()!.append(bitChart.root, tokenChart.root);
    body.append('h2').text('Per scale');
    const scaleTable = makeDataTable(doc, 'scale-table', SCALE_COLUMNS);
    body.node()!.append(scaleTable.root);
    const worstTable = makeWorstImagesTable<BitsDatasetEvaluation, BitsImageMetrics>(ctx, parts.body, {
      columns: (shown) => [
        { header: 'caption', cell: (r) => (r.caption.startsWith('prompt: ') ? r.caption : relative(shown().folder, r.caption)) },
        ...IMAGE_METRIC_COLUMNS,
      ],
    });
    return {
      controls: [{ on: (ev) => [ev], draw: (ev) => summary.text(ev ? summaryText(ev) : '') }],
      draws: [
        {
          on: (ev) => [ev],
          draw(ev) {
            const ticks = ev.scales.map((sc) => sc.grid ?? sc.scaleIndex + 1);
            const seriesOf = (key: keyof BitAccuracyValues) => [
              { name: 'model', values: ev.scales.map((sc) => sc[key] * 100), cls: 'c0' },
              { name: 'majority bit', values: ev.scales.map((sc) => sc.baselines.majority[key] * 100), cls: 'c2' },
              {
                name: 'copy coarser',
                values: ev.scales.map((sc) => (sc.baselines.copyCoarser ? sc.baselines.copyCoarser[key] * 100 : NaN)),
                cls: 'c3',
              },
            ];
            bitChart.update(ticks, seriesOf('bitAccuracy'), null);
            tokenChart.update(ticks, seriesOf('tokenAccuracy'), null);
            scaleTable.update(ev.scales);
            worstTable.update(ev, ev.perImage);
          },
        },
      ],
    };
  },
  exportData: (st) => st.bitsDataset,
});
