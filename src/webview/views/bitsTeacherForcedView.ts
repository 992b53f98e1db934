/**
 * Teacher-forced evaluation of the open image's bits for the caption (an Infinity model): per scale, bit accuracy and
 * token accuracy (every bit right), the two numbers Infinity's trainer logs, each beside the no-model baselines
 * (each bit's majority value; the coarser scale copied); and per scale a map of the wrong bits of every token.
 */
import { select } from 'd3';
import type { BitScaleEval, BitsEvalResult } from '../../shared/results';
import { hoverToken, load } from '../actions';
import { regionOf, scaleLabel, scaleShapes, type TokenRef } from '../geometry/scales';
import type { InspectorState } from '../store';
import { drawRgba, heatmapImage } from '../ui/canvas';
import { makeCaptionInput } from '../ui/captionInput';
import { button } from '../ui/controls';
import { makeDataTable, type Column } from '../ui/dataTable';
import { makeLegend } from '../ui/legend';
import { makeScaleChart, type Series } from '../ui/scaleChart';
import { makeScaleFigures, type ScaleFigures } from '../ui/scaleFigures';
import { renderStats } from '../ui/stats';
import { defineView } from './view';

/** Width of a scale's map (CSS px). */
const MAP = 96;

const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;

/** One chart's series: the model, then the two baselines (copying is undefined at the first scale). */
function accuracySeries(e: BitsEvalResult, key: 'bitAccuracy' | 'tokenAccuracy'): Series[] {
  return [
    { name: 'model (argmax)', values: e.scales.map((s) => s[key] * 100), cls: 'c0' },
    { name: 'majority per bit', values: e.scales.map((s) => s.majorityBaseline[key] * 100), cls: 'c2' },
    { name: 'copy coarser', values: e.scales.map((s) => (s.copyCoarserBaseline ? s.copyCoarserBaseline[key] * 100 : NaN)), cls: 'c3' },
  ];
}

/** The per-scale table: each accuracy beside its baselines. */
const COLUMNS: Array<Column<BitScaleEval>> = [
  { header: 'Scale', cell: (s) => scaleLabel(s.scaleIndex, { h: s.h, w: s.w }) },
  { header: 'Tokens', cell: (s) => String(s.h * s.w) },
  { header: 'Bit acc.', cell: (s) => pct(s.bitAccuracy) },
  { header: 'bit: majority', cell: (s) => pct(s.majorityBaseline.bitAccuracy) },
  { header: 'bit: copy coarser', cell: (s) => (s.copyCoarserBaseline ? pct(s.copyCoarserBaseline.bitAccuracy) : '–') },
  { header: 'Token acc.', cell: (s) => pct(s.tokenAccuracy) },
  { header: 'token: majority', cell: (s) => pct(s.majorityBaseline.tokenAccuracy) },
  { header: 'token: copy coarser', cell: (s) => (s.copyCoarserBaseline ? pct(s.copyCoarserBaseline.tokenAccuracy) : '–') },
];

/** What the idle view asks for: an image, a caption, then a press of Evaluate. */
function idleText(st: InspectorState): string {
  if (!st.initialised) return '';
  if (!st.panel.imageUri) return 'No image is open in this panel.';
  if (!st.panel.caption) return 'Choose the caption above, then press Evaluate.';
  return 'Press Evaluate: the bit and token accuracy of every scale of this image, given the true coarser scales and the caption.';
}

/** The teacher-forced view of an Infinity model (the step-through tab's teacher-forced half). */
export const createBitsTeacherForcedView = defineView<BitsEvalResult>({
  className: 'section teacher teacher-bits',
  source: (st) => ({ data: st.bitsEvaluation, loading: 'Evaluating every scale…', idle: idleText(st) }),
  build({ doc, store, host }, parts) {
    const caption = makeCaptionInput({ doc, store, host });
    const evaluate = button(
      doc,
      'Evaluate',
      () => {
        const text = store.state.panel.caption;
        if (text) void load(store, host, 'evaluateBits', { text });
      },
      'Teacher-forced evaluation of this image for the caption',
    );
    evaluate.classList.add('evaluate-bits');
    caption.controls.append(evaluate);
    parts.head.append(caption.root);
    const body = select(parts.body);
    const stats = body.append('div').attr('class', 'stats');
    const charts = body.append('div').attr('class', 'row');
    const chart = (title: string) =>
      makeScaleChart(doc, {
        title,
        yLabel: 'accuracy (%)',
        xLabel: 'scale (h × w tokens)',
        kind: 'bar',
        width: 400,
        height: 200,
        yDomain: [0, 100],
        format: (v) => v.toFixed(1),
      });
    const bitChart = chart('Bit accuracy given the true coarser scales');
    const tokenChart = chart('Token accuracy (all bits right)');
    bitChart.root.classList.add('bit-accuracy-chart');
    tokenChart.root.classList.add('token-accuracy-chart');
    charts.node()!.append(bitChart.root, tokenChart.root);
    body.append('h4').text('Wrong bits per token (0: the token is right)');
    const legend = makeLegend(doc, 'wrong bits of the token', 220, (v) => v.toFixed(0));
    body.node()!.append(legend.root);
    const mapHost = body.append('div');
    const info = body.append('p').attr('class', 'hint wrong-bits-info').attr('aria-live', 'polite');
    const table = makeDataTable(doc, 'bit-scale-table', COLUMNS);
    body.node()!.append(table.root);
    let maps: ScaleFigures;
    const onHover = (t: TokenRef): void => hoverToken(store, t);

    return {
      controls: [
        {
          on: (_e, st) => [st.panel.caption, st.bitsModel, st.captionBesideImage, st.panel.imageUri, st.bitsEvaluation.status],
          draw(_e, st) {
            caption.update(st);
            evaluate.disabled = !st.panel.caption || !st.panel.imageUri || st.bitsEvaluation.status === 'loading';
          },
        },
      ],
      draws: [
        {
          on: (e, st) => [e, st.bitsModel, st.panel.caption],
          draw(e, st) {
            const d = st.bitsModel?.bits ?? 0;
            renderStats(stats.node()!, [
              { label: 'bit accuracy, all scales', value: pct(e.overall.bitAccuracy), cls: 'stat-bit-accuracy' },
              { label: 'token accuracy, all scales', value: pct(e.overall.tokenAccuracy), cls: 'stat-token-accuracy' },
              { label: 'caption tokens', value: String(e.captionTokens), cls: 'stat-caption-tokens' },
              { label: `bits per token · schedule ${e.schedule}`, value: String(d), cls: 'stat-bits' },
            ]);
            table.update(e.scales);
            const shapes = scaleShapes(e.scales);
            const last = e.scales[e.scales.length - 1];
            const aspect = last ? last.h / last.w : 1;
            mapHost.selectAll('*').remove();
            maps = makeScaleFigures(
              doc,
              shapes,
              MAP,
              'wrong-bits-row',
              onHover,
              (k) => `${scaleLabel(k, shapes[k])} · ${pct(e.scales[k].tokenAccuracy)} right`,
              aspect,
            );
            mapHost.node()!.append(maps.root);
            // One colour scale for every scale: 0 … d wrong bits; every grid covers the image (1×1 too).
            const height = Math.round(MAP * aspect);
            e.scales.forEach((s, k) => {
              drawRgba(maps.figures[k].canvas, heatmapImage(s.wrongBits, s.w, 0, d, s.h), MAP, height);
              maps.figures[k].canvas.dataset.max = String(d);
            });
            legend.update(0, d);
          },
        },
        {
          on: (e, st) => [e, st.focusScale, st.themeVersion],
          draw(e, st) {
            const shapes = scaleShapes(e.scales);
            bitChart.update(shapes, accuracySeries(e, 'bitAccuracy'), st.focusScale);
            tokenChart.update(shapes, accuracySeries(e, 'tokenAccuracy'), st.focusScale);
            maps.focus(st.focusScale);
          },
        },
        {
          on: (e, st) => [e, st.hover, maps],
          draw(e, st) {
            const h = st.hover;
            const s = h && e.scales[h.scaleIndex];
            maps.mark(s ? regionOf({ h: s.h, w: s.w }, h.position) : null);
            const d = st.bitsModel?.bits ?? 0;
            info.text(
              s
                ? `${scaleLabel(s.scaleIndex, { h: s.h, w: s.w })}, row ${Math.floor(h.position / s.w)}, col ${h.position % s.w}: ` +
                    `${s.wrongBits[h.position]} of ${d} bits wrong`
                : 'Hover a token for its wrong bits.',
            );
          },
        },
      ],
    };
  },
  exportData: (st) => ({
    view: 'teacherForced',
    family: 'infinity',
    caption: st.panel.caption ?? null,
    evaluation: st.bitsEvaluation.value ?? null,
  }),
});
