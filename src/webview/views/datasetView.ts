/**
 * The Dataset view: a checkpoint evaluated over a folder. Per-scale curves of the model beside its baselines
 * (the code-frequency priors, copying the coarser scale), the reliability diagram, reconstruction and codebook
 * use, tables per scale and per class, the worst images (sortable; a click opens one in the inspector with the
 * same model), and, with several checkpoints of a run, the same metrics as curves against the training step.
 */
import { select } from 'd3';
import type { DatasetEvaluation, ImageMetrics, ScaleMetrics } from '../../shared/evaluation';
import {
  axisLabel,
  BASELINES,
  baselineValue,
  formatMetric,
  metricOf,
  SCALE_METRICS,
  type ScaleMetric,
  type ScaleMetricKey,
} from '../../shared/metrics';
import { timelineOf } from '../../shared/timeline';
import { timelineFile } from '../../shared/timelineFile';
import { makeDataTable, sortRows, type Column } from '../ui/dataTable';
import { makeDatasetToolbar } from '../ui/datasetToolbar';
import { makeReliabilityChart } from '../ui/reliabilityChart';
import { makeScaleChart } from '../ui/scaleChart';
import { makeStepChart } from '../ui/stepChart';
import { makeWorstImagesTable, WORST_ROWS } from '../ui/worstImagesTable';
import { makeFreeRunSection } from './freeRunSection';
import { defineView } from './view';

const pct = (v: number) => `${(v * 100).toFixed(1)}`;
const f3 = (v: number) => v.toFixed(3);

/** Columns of the worst-images table: key, header, format, and whether "worst" is the highest value. */
const IMAGE_COLUMNS: Array<{ key: keyof ImageMetrics; label: string; fmt: (v: number) => string; worstHigh: boolean }> = [
  { key: 'nll', label: 'NLL (nats)', fmt: f3, worstHigh: true },
  { key: 'accuracy', label: 'accuracy (%)', fmt: pct, worstHigh: false },
  { key: 'psnr', label: 'PSNR (dB)', fmt: (v) => v.toFixed(2), worstHigh: false },
  { key: 'ssim', label: 'SSIM', fmt: f3, worstHigh: false },
  { key: 'rarity', label: 'code rarity (nats)', fmt: f3, worstHigh: true },
];

/** The metric columns of the worst-images table, each sortable (worst first). */
const IMAGE_METRIC_COLUMNS: Array<Column<ImageMetrics>> = IMAGE_COLUMNS.map((c) => ({
  header: c.label,
  cell: (r) => c.fmt(r[c.key] as number),
  sort: { value: (r) => r[c.key] as number, worstHigh: c.worstHigh },
}));

/** The rows of the worst-images table for a sort key (worst first). */
export function worstImages(ev: DatasetEvaluation, key: keyof ImageMetrics, n = WORST_ROWS): ImageMetrics[] {
  const i = Math.max(
    0,
    IMAGE_COLUMNS.findIndex((c) => c.key === key),
  );
  return sortRows(ev.perImage, IMAGE_METRIC_COLUMNS[i].sort, n);
}

/** A column of the per-scale table: its header and a scale's cell. */
export type ScaleColumn = Column<ScaleMetrics>;

/**
 * The per-scale table's columns, from the metric declarations: the scale, then every metric, each group's baselines
 * after its last metric ("prior acc %": the training prior when the bundle has its counts, else the folder's).
 */
export function scaleColumns(): ScaleColumn[] {
  const groupOf = (m: ScaleMetric) => m.group ?? m.key;
  const columns: ScaleColumn[] = [{ header: 'scale', cell: (sc) => `${sc.pn}×${sc.pn}` }];
  SCALE_METRICS.forEach((m, i) => {
    columns.push({ header: m.column, cell: (sc) => formatMetric(m, sc[m.key]) });
    const next = SCALE_METRICS[i + 1];
    if (next && groupOf(next) === groupOf(m)) return;
    for (const g of SCALE_METRICS.filter((x) => groupOf(x) === groupOf(m))) {
      const scoring = BASELINES.filter((b) => g.baselines.includes(b.key));
      for (const column of new Set(scoring.map((b) => b.column))) {
        const candidates = scoring.filter((b) => b.column === column);
        columns.push({
          header: `${column} ${g.column}`,
          cell: (sc) =>
            formatMetric(
              g,
              candidates.map((b) => baselineValue(sc.baselines, b.key, g.key)).find((v) => v !== undefined),
            ),
        });
      }
    }
  });
  return columns;
}

const SCALE_COLUMNS = scaleColumns();

/** The evaluation the view shows: the newest of the list (the last appended). */
const current = (list: DatasetEvaluation[]): DatasetEvaluation => list[list.length - 1];

/** The Dataset view. */
export const createDatasetView = defineView<DatasetEvaluation[]>({
  className: 'view view-dataset',
  source: (st) => ({
    data: st.dataset.length ? { status: 'ready', value: st.dataset } : { status: 'idle' },
    loading: '',
    idle: 'No evaluation yet: evaluate the model on a folder of images (an ImageFolder layout gives the classes), or open a saved result.',
  }),
  build(ctx, parts) {
    const { doc, store, host } = ctx;
    makeDatasetToolbar(
      ctx,
      parts.head,
      [
        { command: 'varscope.evaluateFolder', label: 'Evaluate a folder…', title: 'Evaluate the model on a folder of images' },
        {
          command: 'varscope.evaluateTimeline',
          label: 'Timeline of checkpoints…',
          title: 'Evaluate several checkpoints of a run on one folder',
        },
        { command: 'varscope.openEvaluation', label: 'Open results…', title: 'Open a saved evaluation (JSON)' },
      ],
      () => (store.state.dataset.length ? current(store.state.dataset) : null),
    );
    const summary = select(parts.head).append('p').attr('class', 'dataset-summary muted');
    parts.body.classList.add('dataset-body');
    const body = select(parts.body);
    const charts = body.append('div').attr('class', 'row');
    // A per-scale chart of a metric, on its axis label, its values shown to `digits` decimals.
    const chartOf = (title: string, key: ScaleMetricKey, kind: 'line' | 'bar', digits: number, height?: number) =>
      makeScaleChart(doc, { title, yLabel: axisLabel(metricOf(key)), kind, height, format: (v) => v.toFixed(digits) });
    const accChart = chartOf('Token accuracy vs baselines', 'accuracy', 'line', 0, 220);
    const nllChart = chartOf('NLL vs the code-frequency prior', 'nll', 'line', 1, 220);
    const recChart = chartOf('Reconstruction of the cumulative decode', 'psnr', 'line', 0);
    const useChart = chartOf('Codebook use over the folder', 'used', 'bar', 0);
    const eceChart = chartOf('Calibration per scale', 'ece', 'bar', 1);
    const reliability = makeReliabilityChart(doc, 'Reliability, all scales');
    charts.node()!.append(accChart.root, nllChart.root, recChart.root, useChart.root, eceChart.root, reliability.root);
    const timeline = body.append('div').attr('class', 'section dataset-timeline');
    timeline.append('h2').text('Along the training run');
    const tlRow = timeline.append('div').attr('class', 'row');
    const tlAcc = makeStepChart(doc, {
      title: 'Token accuracy per scale',
      yLabel: axisLabel(metricOf('accuracy')),
      xLabel: 'training step',
      format: (v) => v.toFixed(0),
    });
    const tlNll = makeStepChart(doc, {
      title: 'NLL per scale',
      yLabel: axisLabel(metricOf('nll')),
      xLabel: 'training step',
      format: (v) => v.toFixed(1),
    });
    const tlUse = makeStepChart(doc, { title: 'Codebook use', yLabel: 'codes used', xLabel: 'training step', format: (v) => v.toFixed(0) });
    tlRow.node()!.append(tlAcc.root, tlNll.root, tlUse.root);
    body.append('h2').text('Per scale');
    const scaleTable = makeDataTable(doc, 'scale-table', SCALE_COLUMNS);
    body.node()!.append(scaleTable.root);
    const classHead = body.append('h2').text('Per class');
    const classTable = makeDataTable(doc, 'class-table', CLASS_COLUMNS);
    body.node()!.append(classTable.root);
    const worstTable = makeWorstImagesTable<DatasetEvaluation, ImageMetrics>(ctx, parts.body, {
      columns: (shown) => [
        { header: 'class', cell: (r) => shown().perClass.find((c) => c.classId === r.classId)?.name ?? String(r.classId) },
        ...IMAGE_METRIC_COLUMNS,
      ],
    });
    const freeRun = makeFreeRunSection(doc, body.node()!, store, host);

    return {
      controls: [
        {
          on: (list) => [list && current(list)],
          draw: (list) => {
            summary.text(list ? summaryText(current(list)) : '');
            // Where the folder's labels and the model's classes disagree: one line each, after the summary.
            summary
              .selectAll('span.consistency-warning')
              .data(list ? (current(list).warnings ?? []) : [])
              .join('span')
              .attr('class', 'consistency-warning')
              .text((w) => `Warning: ${w.message}.`);
          },
        },
      ],
      draws: [
        {
          // The newest evaluation: its curves beside their baselines, the reliability diagram and the tables.
          on: (list) => [current(list)],
          draw(list) {
            const ev = current(list);
            const pns = ev.scales.map((sc) => sc.pn);
            const prior = (sc: ScaleMetrics) => sc.baselines.priorTraining ?? sc.baselines.priorFolder;
            const priorName = ev.scales[0]?.baselines.priorTraining ? 'prior (training counts)' : 'prior (folder counts)';
            accChart.update(
              pns,
              [
                { name: 'model top-1', values: ev.scales.map((sc) => sc.accuracy * 100), cls: 'c0' },
                { name: 'model top-5', values: ev.scales.map((sc) => sc.top5 * 100), cls: 'c1' },
                { name: priorName, values: ev.scales.map((sc) => prior(sc).accuracy * 100), cls: 'c2' },
                {
                  name: 'copy coarser',
                  values: ev.scales.map((sc) => (sc.baselines.copyCoarser ? sc.baselines.copyCoarser.accuracy * 100 : NaN)),
                  cls: 'c3',
                },
              ],
              null,
            );
            nllChart.update(
              pns,
              [
                { name: 'model', values: ev.scales.map((sc) => sc.nll), cls: 'c0' },
                { name: priorName, values: ev.scales.map((sc) => prior(sc).nll ?? NaN), cls: 'c2' },
                { name: 'entropy', values: ev.scales.map((sc) => sc.entropy), cls: 'c1' },
              ],
              null,
            );
            recChart.update(pns, [{ name: 'PSNR', values: ev.scales.map((sc) => sc.psnr), cls: 'c0' }], null);
            useChart.update(pns, [{ name: 'codes used', values: ev.scales.map((sc) => sc.used) }], null);
            eceChart.update(pns, [{ name: 'ECE', values: ev.scales.map((sc) => sc.ece * 100) }], null);
            reliability.update(ev.overall.reliability, ev.overall.ece);
            scaleTable.update(ev.scales);
            const labelled = ev.labels.kind !== 'none';
            classHead.attr('hidden', labelled ? null : '');
            classTable.root.hidden = !labelled;
            classTable.update(ev.perClass.map((c) => ({ c, w: ev.scales.map((sc) => sc.pn * sc.pn) })));
            worstTable.update(ev, ev.perImage);
          },
        },
        {
          // Free running (evaluate --free-running), in the chosen mode.
          on: (list, st) => [current(list), st.freeRunMode],
          draw: (list, st) => freeRun.update(current(list), st.freeRunMode),
        },
        {
          // Several checkpoints of a run: the same metrics as curves against the training step.
          on: (list) => [list],
          draw(list) {
            const many = list.length > 1;
            timeline.attr('hidden', many ? null : '');
            if (!many) return;
            const t = timelineOf(list);
            const xs = t.points.map((p) => p.step);
            // One curve per scale, in the unit the metric is shown in (a percentage × 100).
            const perScale = (key: ScaleMetricKey) => {
              const scale = metricOf(key).format.percent ? 100 : 1;
              return t
                .series(key)
                .map((v, k) => ({ name: `${t.patchNums[k]}×${t.patchNums[k]}`, values: v.map((x) => x * scale), cls: `c${k % 10}` }));
            };
            tlAcc.update(xs, perScale('accuracy'), t.axis);
            tlNll.update(xs, perScale('nll'), t.axis);
            tlUse.update(xs, [{ name: 'all scales', values: t.usedOverall, cls: 'c0' }], t.axis);
          },
        },
      ],
    };
  },
  exportData(st) {
    const list = st.dataset;
    return list.length > 1 ? timelineFile(list) : (list[0] ?? null);
  },
});

/** A class of the per-class table with the per-scale token counts its means over all scales weigh by. */
interface ClassRow {
  c: DatasetEvaluation['perClass'][number];
  w: number[];
}

/** The token-weighted mean over scales of a per-scale value. */
const overScales = (values: number[], w: number[]): number => values.reduce((a, v, k) => a + v * w[k], 0) / w.reduce((a, b) => a + b, 0);

/** Columns of the per-class table. */
const CLASS_COLUMNS: Array<Column<ClassRow>> = [
  { header: 'class', cell: ({ c }) => c.name },
  { header: 'images', cell: ({ c }) => String(c.images) },
  { header: 'accuracy % (all scales)', cell: ({ c, w }) => pct(overScales(c.accuracy, w)) },
  { header: 'NLL (all scales)', cell: ({ c, w }) => f3(overScales(c.nll, w)) },
  { header: 'accuracy % finest', cell: ({ c }) => pct(c.accuracy[c.accuracy.length - 1]) },
  { header: 'PSNR dB', cell: ({ c }) => c.psnr.toFixed(2) },
];

/** The line above the charts: model, folder, images, the headline numbers over all scales, and how labels were found. */
function summaryText(ev: DatasetEvaluation): string {
  const o = ev.overall;
  return (
    `${modelTitle(ev.model)} on ${ev.folder}: ${ev.images} images${ev.failed.length ? `, ${ev.failed.length} unreadable` : ''}${ev.cancelled ? ' (cancelled: partial)' : ''}; ` +
    `all scales: accuracy ${pct(o.accuracy)} %, top-5 ${pct(o.top5)} %, NLL ${f3(o.nll)}, ECE ${pct(o.ece)} %; ${ev.usage.used} of ${ev.usage.used + ev.usage.dead} codes used. ` +
    `Labels: ${ev.labels.kind === 'subfolders' ? `sub-folders (matched by ${ev.classMatch})` : ev.labels.kind === 'class' ? `class ${ev.labels.classId} for all` : 'none (the null class)'}.`
  );
}

/** The model's name, with its training step unless the name already says it ("… (early, step 72 of 2312)"). */
export function modelTitle(model: { name: string; step: number | null }): string {
  if (model.step === null || new RegExp(`\\bstep ${model.step}\\b`).test(model.name)) return model.name;
  return `${model.name} (step ${model.step})`;
}
