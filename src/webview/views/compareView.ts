/**
 * Compare two models on the same image: token agreement per scale, teacher-forced accuracy per scale of each model,
 * and the two pyramids side by side, differences marked.
 */
import { select } from 'd3';
import type { HostEvents } from '../../shared/protocol';
import type { EvalResult, InspectResult } from '../../shared/results';
import { regionOf, scaleLabel } from '../geometry/scales';
import type { Loadable } from '../store';
import { drawRgba } from '../ui/canvas';
import { button } from '../ui/controls';
import { makeFigure } from '../ui/figure';
import { makeScaleChart } from '../ui/scaleChart';
import { makeSwatchKey } from '../ui/swatchKey';
import { makeTokenGrid, type TokenGrid } from '../ui/tokenGrid';
import { defineView } from './view';

const GRID = 84;
/** Side of the decoded images (px): small enough that both charts and both images share one row. */
const IMAGE = 128;

/** Fraction of positions with equal tokens, per scale (NaN where the pyramids' scales differ). */
export function agreementPerScale(a: InspectResult, b: InspectResult): number[] {
  return a.scales.map((s, k) => {
    const t = b.scales[k];
    if (!t || t.pn !== s.pn) return NaN;
    let same = 0;
    for (let p = 0; p < s.tokens.length; p++) if (s.tokens[p] === t.tokens[p]) same++;
    return same / s.tokens.length;
  });
}

/** Teacher-forced accuracy (%) per scale of an evaluation, NaN past its own scales. */
export function accuracyPercent(e: EvalResult, scales: number): number[] {
  return Array.from({ length: scales }, (_, k) => (e.scales[k] ? e.scales[k].accuracy * 100 : NaN));
}

/** What the compare view shows: the open image's tokens and the finished comparison. */
interface Compared {
  a: InspectResult;
  c: HostEvents['comparison'];
}

/** The compare view. */
export const createCompareView = defineView<Compared>({
  className: 'view view-compare',
  source: (st) => {
    const a = st.inspect.value;
    const c = st.comparison;
    const data: Loadable<Compared> = a && c ? { status: 'ready', value: { a, c } } : st.inspect.status === 'loading' ? { status: 'loading' } : { status: 'idle' };
    return { data, loading: 'Tokenizing the image…', idle: 'No comparison yet: choose a second model with “Compare with another model…”.' };
  },
  build({ doc, store, host }, parts) {
    const toolbar = select(parts.head).append('div').attr('class', 'toolbar');
    toolbar.node()!.append(button(doc, 'Compare with another model…', () => void host.call('runCommand', { command: 'varscope.compareModels' }).catch((e) => store.pushError('compareModels', e)), 'Choose a second model to compare on this image'));
    const body = select(parts.body);
    const top = body.append('div').attr('class', 'row');
    const chart = makeScaleChart(doc, { title: 'Token agreement per scale', yLabel: 'same token (%)', kind: 'bar', yDomain: [0, 100], format: (v) => v.toFixed(0) });
    const accuracy = makeScaleChart(doc, { title: 'Teacher-forced accuracy', yLabel: 'accuracy, no class (%)', kind: 'bar', yDomain: [0, 100], format: (v) => v.toFixed(1) });
    accuracy.root.classList.add('compare-accuracy');
    const imgA = makeFigure(doc, 'image-a', 'A', IMAGE);
    const imgB = makeFigure(doc, 'image-b', 'B', IMAGE);
    top.node()!.append(chart.root, accuracy.root, imgA.root, imgB.root);
    body.node()!.append(makeSwatchKey(doc, 'Compare key', [
      { swatch: 'swatch-diff-outline', text: 'token differs between A and B' },
      { swatch: 'swatch-focus-outline', text: 'hovered region' },
    ]));
    const rows = body.append('div').attr('class', 'section');
    let grids: TokenGrid[][] = [];
    let agreement: number[] = [];

    return {
      draws: [
        {
          // Both pyramids side by side, B's differences from A outlined, and each model's final image.
          on: ({ a, c }, st) => [a, c, st.colorBy],
          draw({ a, c }, st) {
            rows.selectAll('*').remove();
            const b = c.otherInspect;
            agreement = agreementPerScale(a, b);
            grids = [a, b].map((r, side) => {
              rows.append('h4').text(`${side ? 'B' : 'A'}: ${r.model.name}${side ? ' (cells that differ from A outlined)' : ''}`);
              const line = rows.append('div').attr('class', `heatmap-row compare-${side ? 'b' : 'a'}`);
              return r.scales.map((s, k) => {
                const g = makeTokenGrid(doc, s.pn, GRID, `${side ? 'B' : 'A'} tokens at ${scaleLabel(k, s.pn)}`,
                  (p) => store.update({ hover: p === null ? null : { scaleIndex: k, position: p } }), () => undefined);
                const other = (side ? a : b).scales[k];
                const diff: number[] = [];
                if (other && other.pn === s.pn) for (let p = 0; p < s.tokens.length; p++) if (other.tokens[p] !== s.tokens[p]) diff.push(p);
                g.setTokens(s.tokens, r.model.codeColors, st.colorBy);
                g.markPositions('is-different', diff);
                const fig = line.append('figure').attr('class', 'grid-figure').attr('data-scale', k);
                fig.node()!.append(g.root);
                fig.append('figcaption').text(`${s.pn}×${s.pn}${side ? ` · ${Number.isFinite(agreement[k]) ? (agreement[k] * 100).toFixed(0) : '–'}% same` : ''}`);
                return g;
              });
            });
            drawRgba(imgA.canvas, a.scales[a.scales.length - 1].decoded, IMAGE);
            drawRgba(imgB.canvas, b.scales[b.scales.length - 1].decoded, IMAGE);
            imgA.caption.textContent = `A: ${a.model.name} · ${a.scales[a.scales.length - 1].psnr.toFixed(2)} dB`;
            imgB.caption.textContent = `B: ${c.other.name} · ${b.scales[b.scales.length - 1].psnr.toFixed(2)} dB`;
          },
        },
        {
          on: ({ a, c }, st) => [a, c, st.focusScale, st.themeVersion],
          draw({ a, c }, st) {
            chart.update(a.model.patchNums, [{ name: 'agreement', values: agreement.map((x) => x * 100) }], st.focusScale);
            const SN = a.model.patchNums.length;
            accuracy.update(a.model.patchNums, [
              { name: seriesName('A', a.model.name), values: accuracyPercent(c.evals.a, SN) },
              { name: seriesName('B', c.other.name), values: accuracyPercent(c.evals.b, SN), cls: 'alt' },
            ], st.focusScale);
          },
        },
        {
          on: ({ a, c }, st) => [a, c, st.colorBy, st.hover],
          draw({ a }, st) {
            const h = st.hover;
            const region = h && a.scales[h.scaleIndex] ? regionOf(a.scales[h.scaleIndex].pn, h.position) : null;
            for (const side of grids) side.forEach((g, k) => g.markHover(h?.scaleIndex === k ? h.position : null, region));
            imgA.mark(region);
            imgB.mark(region);
          },
        },
      ],
    };
  },
  exportData(st) {
    const c = st.comparison;
    const a = st.inspect.value;
    if (!c || !a) return null;
    const perScale = (e: EvalResult) => e.scales.map((s) => ({ pn: s.pn, accuracy: s.accuracy, nll: s.nll }));
    return {
      view: 'compare', a: a.model.id, b: c.other.id, agreementPerScale: agreementPerScale(a, c.otherInspect),
      teacherForced: { classId: { a: c.evals.a.classId, b: c.evals.b.classId }, a: perScale(c.evals.a), b: perScale(c.evals.b) },
    };
  },
});

/** "A · step 419" for a model named like "Emoji VAR d4 (early, step 419)", else "A" (the chart key stays short). */
function seriesName(side: string, name: string): string {
  const step = /step (\d+)/.exec(name)?.[1];
  return step ? `${side} · step ${step}` : side;
}
