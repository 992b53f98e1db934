/**
 * The Dataset view's free-running section (`varscope evaluate --free-running`): per prefix of the image's own tokens
 * (scales kept), the agreement of the continuation with the image at every later scale and the PSNR of its decode; the
 * NLL of the model's own tokens beside the teacher-forced NLL of the true ones; per class and the worst images (a click
 * opens one in the inspector). Sampled or greedy continuations, by a switch.
 */
import { select } from 'd3';
import type { DatasetEvaluation, FreeRunCurve, FreeRunMode, FreeRunningEvaluation } from '../../shared/evaluation';
import { FREE_RUN_MODES } from '../../shared/evaluation';
import type { HostChannel } from '../hostBridge';
import type { Store } from '../store';
import { segmented } from '../ui/controls';
import { makeDataTable } from '../ui/dataTable';
import { makeScaleChart, type Series } from '../ui/scaleChart';
import { makeWorstImagesTable } from '../ui/worstImagesTable';

const WORST_ROWS = 20;
const pct = (v: number) => (v * 100).toFixed(1);

type ImageRow = FreeRunningEvaluation['perImage'][number];
type ClassRow = FreeRunningEvaluation['perClass'][number];

/** One series per prefix over the scales: the value at every later scale, NaN before it. */
export function prefixSeries(
  curves: FreeRunCurve[],
  SN: number,
  value: (s: FreeRunCurve['scales'][number]) => number,
  pns: number[],
): Series[] {
  return curves.map((c) => {
    const values = new Array<number>(SN).fill(NaN);
    for (const s of c.scales) values[s.scaleIndex] = value(s);
    return { name: `kept to ${pns[c.kept - 1]}×${pns[c.kept - 1]}`, values, cls: `c${(c.kept - 1) % 10}` };
  });
}

/** How the section says what it ran. */
function settingsText(ev: DatasetEvaluation, f: FreeRunningEvaluation): string {
  const { cfg, topK, topP, seed } = f.sampling;
  const cls =
    f.classSource === 'labels' ? 'each image’s label' : f.classSource === 'class' ? 'one class for all' : 'the null class (unconditional)';
  return (
    `${f.generations} continuations (${ev.images} images × ${ev.scales.length - 1} prefixes × ${f.modes.length} modes). ` +
    `Sampled: CFG ${cfg}, top-k ${topK}, top-p ${topP}, seed ${seed}; greedy: the most probable code after CFG. Class: ${cls}. ` +
    'Each curve keeps the image’s own tokens up to one scale and lets the model generate the finer ones.'
  );
}

/** Build the section into `parent`; `update` shows an evaluation in a mode (hidden without free running). */
export function makeFreeRunSection(
  doc: Document,
  parent: HTMLElement,
  store: Store,
  host: HostChannel,
): { update(ev: DatasetEvaluation, mode: FreeRunMode): void } {
  const section = select(parent).append('div').attr('class', 'section dataset-free-run');
  section.append('h2').text('Free running: where the model departs from the data');
  const modeSwitch = segmented(
    doc,
    'Continuations',
    FREE_RUN_MODES.map((m) => ({ value: m, label: m === 'sampled' ? 'Sampled' : 'Greedy' })),
    (v) => store.update({ freeRunMode: v as FreeRunMode }),
  );
  section.node()!.append(modeSwitch.root);
  const note = section.append('p').attr('class', 'muted free-run-settings');
  const row = section.append('div').attr('class', 'row');
  const agreeChart = makeScaleChart(doc, {
    title: 'Agreement with the image’s tokens',
    yLabel: 'agreement (%)',
    kind: 'line',
    height: 360,
    width: 370,
    format: (v) => v.toFixed(0),
  });
  const psnrChart = makeScaleChart(doc, {
    title: 'PSNR of the continuation’s decode',
    yLabel: 'PSNR (dB)',
    kind: 'line',
    height: 360,
    width: 370,
    format: (v) => v.toFixed(0),
  });
  const nllChart = makeScaleChart(doc, {
    title: 'NLL from the coarsest prefix: own tokens vs true',
    yLabel: 'NLL (nats)',
    kind: 'line',
    height: 360,
    width: 370,
    format: (v) => v.toFixed(1),
  });
  row.node()!.append(agreeChart.root, psnrChart.root, nllChart.root);
  section.append('h3').text('Per class');
  let shown: { ev: DatasetEvaluation; mode: FreeRunMode } | null = null;
  const at = (r: ClassRow | ImageRow, key: 'agreement' | 'psnr', k: number) => r[shown!.mode]?.[key][k] ?? NaN;
  const lastPrefix = () => shown!.ev.scales.length - 2;
  const classTable = makeDataTable<ClassRow>(doc, 'free-run-class-table', [
    { header: 'class', cell: (c) => c.name },
    { header: 'images', cell: (c) => String(c.images) },
    { header: 'finest agreement % (1×1 kept)', cell: (c) => pct(at(c, 'agreement', 0)) },
    { header: 'finest agreement % (all but the finest kept)', cell: (c) => pct(at(c, 'agreement', lastPrefix())) },
    { header: 'PSNR dB (1×1 kept)', cell: (c) => at(c, 'psnr', 0).toFixed(2) },
  ]);
  section.node()!.append(classTable.root);
  const worstTable = makeWorstImagesTable<DatasetEvaluation, ImageRow>({ doc, store, host }, section.node()!, {
    cls: 'free-run-worst-table',
    heading: 'h3',
    note: 'Lowest agreement at the finest scale when only the 1×1 scale is kept; click a row to open the image in the inspector.',
    limit: WORST_ROWS,
    columns: (ev) => [
      { header: 'class', cell: (r) => ev().perClass.find((c) => c.classId === r.classId)?.name ?? String(r.classId) },
      {
        header: 'finest agreement % (1×1 kept)',
        cell: (r) => pct(at(r, 'agreement', 0)),
        sort: { value: (r) => at(r, 'agreement', 0), worstHigh: false },
      },
      {
        header: 'PSNR dB (1×1 kept)',
        cell: (r) => at(r, 'psnr', 0).toFixed(2),
        sort: { value: (r) => at(r, 'psnr', 0), worstHigh: false },
      },
      { header: 'finest agreement % (all but the finest kept)', cell: (r) => pct(at(r, 'agreement', lastPrefix())) },
    ],
  });
  return {
    update(ev, wanted) {
      const f = ev.freeRunning;
      section.attr('hidden', f ? null : '');
      if (!f) return;
      const mode = f.curves[wanted] ? wanted : f.modes[0];
      shown = { ev, mode };
      modeSwitch.set(mode);
      for (const b of modeSwitch.root.querySelectorAll('button')) b.disabled = !f.curves[b.dataset.value as FreeRunMode];
      note.text(settingsText(ev, f));
      const pns = ev.scales.map((s) => s.pn);
      const curves = f.curves[mode]!;
      agreeChart.update(
        pns,
        prefixSeries(curves, pns.length, (s) => s.agreement * 100, pns),
        null,
      );
      psnrChart.update(
        pns,
        prefixSeries(curves, pns.length, (s) => s.psnr, pns),
        null,
      );
      const first = prefixSeries(curves.slice(0, 1), pns.length, (s) => s.nll, pns)[0];
      const truth = prefixSeries(curves.slice(0, 1), pns.length, (s) => s.trueNll, pns)[0];
      nllChart.update(
        pns,
        [
          { name: `its own ${mode} tokens`, values: first.values, cls: 'c0' },
          { name: 'the true tokens (teacher-forced)', values: truth.values, cls: 'c2' },
        ],
        null,
      );
      classTable.update(f.perClass);
      worstTable.update(ev, f.perImage);
    },
  };
}
