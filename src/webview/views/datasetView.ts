/**
 * The Dataset view: a checkpoint evaluated over a folder. Per-scale curves of the model beside its baselines
 * (the code-frequency priors, copying the coarser scale), the reliability diagram, reconstruction and codebook
 * use, tables per scale and per class, the worst images (sortable; a click opens one in the inspector with the
 * same model), and, with several checkpoints of a run, the same metrics as curves against the training step.
 */
import { select } from 'd3';
import type { DatasetEvaluation, ImageMetrics, ScaleMetrics } from '../../shared/evaluation';
import { scalesCsv } from '../../shared/evaluationCsv';
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
import type { InspectorState } from '../store';
import { button } from '../ui/controls';
import { makeReliabilityChart } from '../ui/reliabilityChart';
import { makeScaleChart } from '../ui/scaleChart';
import { makeStepChart } from '../ui/stepChart';
import type { View, ViewContext } from './view';

const WORST_ROWS = 30;
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

/** The rows of the worst-images table for a sort key (worst first). */
export function worstImages(ev: DatasetEvaluation, key: keyof ImageMetrics, n = WORST_ROWS): ImageMetrics[] {
  const col = IMAGE_COLUMNS.find((c) => c.key === key) ?? IMAGE_COLUMNS[0];
  const sign = col.worstHigh ? -1 : 1;
  return [...ev.perImage].sort((a, b) => sign * ((a[col.key] as number) - (b[col.key] as number))).slice(0, n);
}

/** A column of the per-scale table: its header and a scale's cell. */
export interface ScaleColumn {
  header: string;
  cell: (sc: ScaleMetrics) => string;
}

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

/** Create the Dataset view. */
export function createDatasetView(ctx: ViewContext): View {
  const { doc, store, host } = ctx;
  const root = doc.createElement('section');
  root.className = 'view view-dataset';
  const toolbar = select(root).append('div').attr('class', 'toolbar');
  const run = (command: 'varscope.evaluateFolder' | 'varscope.evaluateTimeline' | 'varscope.openEvaluation') => () =>
    void host.call('runCommand', { command }).catch((e) => store.pushError(command, e));
  toolbar.node()!.append(
    button(doc, 'Evaluate a folder…', run('varscope.evaluateFolder'), 'Evaluate the model on a folder of images'),
    button(doc, 'Timeline of checkpoints…', run('varscope.evaluateTimeline'), 'Evaluate several checkpoints of a run on one folder'),
    button(doc, 'Open results…', run('varscope.openEvaluation'), 'Open a saved evaluation (JSON)'),
    button(doc, 'Save CSV', () => void saveCsv(), 'Save the per-scale table as CSV'),
  );
  const summary = select(root).append('p').attr('class', 'dataset-summary muted');
  const empty = select(root)
    .append('div')
    .attr('class', 'placeholder')
    .attr('role', 'status')
    .text('No evaluation yet: evaluate the model on a folder of images (an ImageFolder layout gives the classes), or open a saved result.');
  const body = select(root).append('div').attr('class', 'section dataset-body');
  const charts = body.append('div').attr('class', 'row');
  const accChart = makeScaleChart(doc, {
    title: 'Token accuracy vs baselines',
    yLabel: axisLabel(metricOf('accuracy')),
    kind: 'line',
    height: 220,
    format: (v) => v.toFixed(0),
  });
  const nllChart = makeScaleChart(doc, {
    title: 'NLL vs the code-frequency prior',
    yLabel: axisLabel(metricOf('nll')),
    kind: 'line',
    height: 220,
    format: (v) => v.toFixed(1),
  });
  const recChart = makeScaleChart(doc, {
    title: 'Reconstruction of the cumulative decode',
    yLabel: axisLabel(metricOf('psnr')),
    kind: 'line',
    format: (v) => v.toFixed(0),
  });
  const useChart = makeScaleChart(doc, {
    title: 'Codebook use over the folder',
    yLabel: axisLabel(metricOf('used')),
    kind: 'bar',
    format: (v) => v.toFixed(0),
  });
  const eceChart = makeScaleChart(doc, {
    title: 'Calibration per scale',
    yLabel: axisLabel(metricOf('ece')),
    kind: 'bar',
    format: (v) => v.toFixed(1),
  });
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
  const scaleTable = body.append('table').attr('class', 'data-table scale-table');
  const classHead = body.append('h2').text('Per class');
  const classTable = body.append('table').attr('class', 'data-table class-table');
  body.append('h2').text('Worst images');
  body
    .append('p')
    .attr('class', 'muted')
    .text('Click a column to sort by it (worst first); click a row to open the image in the inspector with this model.');
  const worstTable = body.append('table').attr('class', 'data-table worst-table');
  let sortKey: keyof ImageMetrics = 'nll';
  let shown: DatasetEvaluation | null = null;
  let shownList: DatasetEvaluation[] | null = null;

  const current = (s: InspectorState): DatasetEvaluation | null => s.dataset[s.dataset.length - 1] ?? null;

  const saveCsv = async (): Promise<void> => {
    const ev = current(store.state);
    if (!ev) return;
    try {
      await host.call('saveExport', { suggestedName: `varscope-evaluation-${ev.model.id}.csv`, mime: 'text/csv', data: scalesCsv(ev) });
    } catch (e) {
      store.pushError('saveCsv', e);
    }
  };

  const table = (t: typeof scaleTable, head: string[], rows: Array<Array<string | number>>, onRow?: (i: number) => void) => {
    t.selectAll('thead')
      .data([0])
      .join('thead')
      .selectAll('tr')
      .data([head])
      .join('tr')
      .selectAll('th')
      .data((d) => d)
      .join('th')
      .text((d) => d);
    const tr = t
      .selectAll('tbody')
      .data([0])
      .join('tbody')
      .selectAll<HTMLTableRowElement, Array<string | number>>('tr')
      .data(rows)
      .join('tr');
    tr.selectAll('td')
      .data((d) => d)
      .join('td')
      .text((d) => String(d));
    tr.classed('clickable', !!onRow).on('click', (_e, d) => onRow?.(rows.indexOf(d)));
  };

  const drawWorst = (ev: DatasetEvaluation) => {
    const rows = worstImages(ev, sortKey);
    const names = new Map(ev.perClass.map((c) => [c.classId, c.name]));
    const head = ['image', 'class', ...IMAGE_COLUMNS.map((c) => c.label + (c.key === sortKey ? (c.worstHigh ? ' ▼' : ' ▲') : ''))];
    table(
      worstTable,
      head,
      rows.map((r) => [
        relative(ev.folder, r.file),
        names.get(r.classId) ?? String(r.classId),
        ...IMAGE_COLUMNS.map((c) => c.fmt(r[c.key] as number)),
      ]),
      (i) => {
        void host.call('openImage', { file: rows[i].file, model: ev.model.dir }).catch((e) => store.pushError('openImage', e));
      },
    );
    worstTable
      .selectAll<HTMLTableCellElement, string>('thead th')
      .classed('sortable', (_d, i) => i >= 2)
      .attr('aria-sort', (_d, i) => (i >= 2 && IMAGE_COLUMNS[i - 2].key === sortKey ? 'descending' : null))
      .on('click', (_e, d) => {
        const i = head.indexOf(d);
        if (i < 2) return;
        sortKey = IMAGE_COLUMNS[i - 2].key;
        drawWorst(ev);
      });
  };

  const draw = (s: InspectorState) => {
    const ev = current(s);
    empty.attr('hidden', ev ? '' : null);
    body.attr('hidden', ev ? null : '');
    if (!ev) {
      summary.text('');
      return;
    }
    if (ev !== shown) {
      shown = ev;
      const pns = ev.scales.map((sc) => sc.pn);
      const prior = (sc: DatasetEvaluation['scales'][number]) => sc.baselines.priorTraining ?? sc.baselines.priorFolder;
      const priorName = ev.scales[0]?.baselines.priorTraining ? 'prior (training counts)' : 'prior (folder counts)';
      const o = ev.overall;
      summary.text(
        `${modelTitle(ev.model)} on ${ev.folder}: ${ev.images} images${ev.failed.length ? `, ${ev.failed.length} unreadable` : ''}${ev.cancelled ? ' (cancelled: partial)' : ''}; ` +
          `all scales: accuracy ${pct(o.accuracy)} %, top-5 ${pct(o.top5)} %, NLL ${f3(o.nll)}, ECE ${pct(o.ece)} %; ${ev.usage.used} of ${ev.usage.used + ev.usage.dead} codes used. ` +
          `Labels: ${ev.labels.kind === 'subfolders' ? `sub-folders (matched by ${ev.classMatch})` : ev.labels.kind === 'class' ? `class ${ev.labels.classId} for all` : 'none (the null class)'}.`,
      );
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
      reliability.update(o.reliability, o.ece);
      table(
        scaleTable,
        SCALE_COLUMNS.map((c) => c.header),
        ev.scales.map((sc) => SCALE_COLUMNS.map((c) => c.cell(sc))),
      );
      const labelled = ev.labels.kind !== 'none';
      classHead.attr('hidden', labelled ? null : '');
      classTable.attr('hidden', labelled ? null : '');
      table(
        classTable,
        ['class', 'images', 'accuracy % (all scales)', 'NLL (all scales)', 'accuracy % finest', 'PSNR dB'],
        ev.perClass.map((c) => {
          const w = ev.scales.map((sc) => sc.pn * sc.pn);
          const L = w.reduce((a, b) => a + b, 0);
          return [
            c.name,
            c.images,
            pct(c.accuracy.reduce((a, v, k) => a + v * w[k], 0) / L),
            f3(c.nll.reduce((a, v, k) => a + v * w[k], 0) / L),
            pct(c.accuracy[c.accuracy.length - 1]),
            c.psnr.toFixed(2),
          ];
        }),
      );
      drawWorst(ev);
    }
    if (s.dataset !== shownList) {
      shownList = s.dataset;
      const many = s.dataset.length > 1;
      timeline.attr('hidden', many ? null : '');
      if (many) {
        const t = timelineOf(s.dataset);
        const xs = t.points.map((p) => p.step);
        // One curve per scale, in the unit the metric is shown in (a percentage × 100).
        const perScale = (key: ScaleMetricKey) => {
          const scale = metricOf(key).format.percent ? 100 : 1;
          return t
            .series(key)
            .map((v, k) => ({ name: `${t.patchNums[k]}×${t.patchNums[k]}`, values: v.map((x) => x * scale), cls: `c${k % 10}` }));
        };
        tlAcc.update(xs, perScale('accuracy'));
        tlNll.update(xs, perScale('nll'));
        tlUse.update(xs, [{ name: 'all scales', values: t.usedOverall, cls: 'c0' }]);
      }
    }
  };

  return {
    root,
    update(s, prev) {
      if (!prev || s.dataset !== prev.dataset) draw(s);
    },
    resize() {},
    dispose() {
      root.remove();
    },
    exportData: () => {
      const list = store.state.dataset;
      return list.length > 1 ? timelineFile(list) : (list[0] ?? null);
    },
  };
}

/** A file's path below the evaluated folder. */
function relative(folder: string, file: string): string {
  return file.startsWith(folder) ? file.slice(folder.length).replace(/^[\\/]/, '') : file;
}

/** The model's name, with its training step unless the name already says it ("… (early, step 72 of 2312)"). */
export function modelTitle(model: { name: string; step: number | null }): string {
  if (model.step === null || new RegExp(`\\bstep ${model.step}\\b`).test(model.name)) return model.name;
  return `${model.name} (step ${model.step})`;
}
