/**
 * Compare models on the same image, any number of them: the panel's model is A, the others B, C, … Token agreement
 * with A per scale, teacher-forced accuracy per scale of each model, each model's decoded image, and the pyramids
 * one under the other, cells that differ from A outlined.
 */
import { select } from 'd3';
import type { ComparedModel, HostEvents } from '../../shared/protocol';
import type { EvalResult, InspectResult } from '../../shared/results';
import { regionOf, scaleLabel } from '../geometry/scales';
import { drawRgba } from '../ui/canvas';
import { button } from '../ui/controls';
import { makeFigure } from '../ui/figure';
import { makeScaleChart } from '../ui/scaleChart';
import { makeSwatchKey } from '../ui/swatchKey';
import { makeTokenGrid, type TokenGrid } from '../ui/tokenGrid';
import { defineView } from './view';

const GRID = 84;
/** Side of the decoded images (px): small enough that the charts and a few images share one row. */
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

/** "A", "B", … for the i-th model of a comparison (then "A2", "B2", … past Z). */
export function modelLetter(i: number): string {
  return String.fromCharCode(65 + (i % 26)) + (i >= 26 ? String(Math.floor(i / 26) + 1) : '');
}

/** The chart colour class of the i-th model (the same in every chart of the view). */
const colour = (i: number): string => `c${i % 10}`;

/** Cells of `r` whose token differs from A's at that scale (none where the scales differ). */
function differingCells(a: InspectResult, r: InspectResult, k: number): number[] {
  const s = r.scales[k];
  const other = a.scales[k];
  const diff: number[] = [];
  if (other && other.pn === s.pn) for (let p = 0; p < s.tokens.length; p++) if (other.tokens[p] !== s.tokens[p]) diff.push(p);
  return diff;
}

/** The compare view. */
export const createCompareView = defineView<HostEvents['comparison']>({
  className: 'view view-compare',
  source: (st) => ({
    data: st.comparison ? { status: 'ready', value: st.comparison } : { status: 'idle' },
    loading: 'Comparing…',
    idle: 'No comparison yet: choose one or more models with “Compare with other models…”.',
  }),
  build({ doc, store, host }, parts) {
    const toolbar = select(parts.head).append('div').attr('class', 'toolbar');
    toolbar
      .node()!
      .append(
        button(
          doc,
          'Compare with other models…',
          () => void host.call('runCommand', { command: 'varscope.compareModels' }).catch((e) => store.pushError('compareModels', e)),
          'Choose models to compare with this one on this image',
        ),
      );
    const body = select(parts.body);
    const top = body.append('div').attr('class', 'row compare-top');
    const chart = makeScaleChart(doc, {
      title: 'Token agreement with A per scale',
      yLabel: 'same token as A (%)',
      kind: 'bar',
      yDomain: [0, 100],
      format: (v) => v.toFixed(0),
    });
    const accuracy = makeScaleChart(doc, {
      title: 'Teacher-forced accuracy',
      yLabel: 'accuracy, no class (%)',
      kind: 'bar',
      yDomain: [0, 100],
      format: (v) => v.toFixed(1),
    });
    accuracy.root.classList.add('compare-accuracy');
    top.node()!.append(chart.root, accuracy.root);
    const images = top.append('div').attr('class', 'compare-images');
    body.node()!.append(
      makeSwatchKey(doc, 'Compare key', [
        { swatch: 'swatch-diff-outline', text: 'token differs from A' },
        { swatch: 'swatch-focus-outline', text: 'hovered region' },
      ]),
    );
    const rows = body.append('div').attr('class', 'section');
    let grids: TokenGrid[][] = [];
    let figures: ReturnType<typeof makeFigure>[] = [];
    let agreement: number[][] = [];

    return {
      draws: [
        {
          // Every pyramid, one under the other, each one's differences from A outlined; each model's final image.
          on: (c, st) => [c, st.colorBy],
          draw({ models }, st) {
            rows.selectAll('*').remove();
            images.selectAll('*').remove();
            const a = models[0].inspect;
            agreement = models.map((m) => agreementPerScale(a, m.inspect));
            grids = models.map(({ model, inspect: r }, i) => {
              const letter = modelLetter(i);
              rows.append('h4').text(`${letter}: ${model.name}${i ? ' (cells that differ from A outlined)' : ''}`);
              const line = rows
                .append('div')
                .attr('class', `heatmap-row compare-row compare-${letter.toLowerCase()}`)
                .attr('data-model', i);
              return r.scales.map((s, k) => {
                const g = makeTokenGrid(
                  doc,
                  s.pn,
                  GRID,
                  `${letter} tokens at ${scaleLabel(k, s.pn)}`,
                  (p) => store.update({ hover: p === null ? null : { scaleIndex: k, position: p } }),
                  () => undefined,
                );
                g.setTokens(s.tokens, model.codeColors, st.colorBy);
                g.markPositions('is-different', i ? differingCells(a, r, k) : []);
                const fig = line.append('figure').attr('class', 'grid-figure').attr('data-scale', k);
                fig.node()!.append(g.root);
                const same = agreement[i][k];
                fig
                  .append('figcaption')
                  .text(`${s.pn}×${s.pn}${i ? ` · ${Number.isFinite(same) ? (same * 100).toFixed(0) : '–'}% same` : ''}`);
                return g;
              });
            });
            figures = models.map(({ model, inspect: r }, i) => {
              const letter = modelLetter(i);
              const fig = makeFigure(doc, `compare-image image-${letter.toLowerCase()}`, letter, IMAGE);
              const last = r.scales[r.scales.length - 1];
              drawRgba(fig.canvas, last.decoded, IMAGE);
              fig.caption.textContent = `${letter}: ${model.name} · ${last.psnr.toFixed(2)} dB`;
              images.node()!.append(fig.root);
              return fig;
            });
          },
        },
        {
          on: (c, st) => [c, st.focusScale, st.themeVersion],
          draw({ models }, st) {
            const pns = models[0].model.patchNums;
            const named = (m: ComparedModel, i: number) => seriesName(modelLetter(i), m.model.name);
            chart.update(
              pns,
              models.slice(1).map((m, j) => ({ name: named(m, j + 1), values: agreement[j + 1].map((x) => x * 100), cls: colour(j + 1) })),
              st.focusScale,
            );
            accuracy.update(
              pns,
              models.map((m, i) => ({ name: named(m, i), values: accuracyPercent(m.evaluation, pns.length), cls: colour(i) })),
              st.focusScale,
            );
          },
        },
        {
          on: (c, st) => [c, st.colorBy, st.hover],
          draw({ models }, st) {
            const h = st.hover;
            const a = models[0].inspect;
            const region = h && a.scales[h.scaleIndex] ? regionOf(a.scales[h.scaleIndex].pn, h.position) : null;
            for (const side of grids) side.forEach((g, k) => g.markHover(h?.scaleIndex === k ? h.position : null, region));
            for (const f of figures) f.mark(region);
          },
        },
      ],
    };
  },
  exportData(st) {
    const c = st.comparison;
    if (!c) return null;
    const a = c.models[0].inspect;
    return {
      view: 'compare',
      models: c.models.map((m, i) => ({
        letter: modelLetter(i),
        id: m.model.id,
        name: m.model.name,
        agreementWithA: agreementPerScale(a, m.inspect),
        teacherForced: {
          classId: m.evaluation.classId,
          scales: m.evaluation.scales.map((s) => ({ pn: s.pn, accuracy: s.accuracy, nll: s.nll })),
        },
      })),
    };
  },
});

/** "B · step 419" for a model named like "Emoji VAR d4 (early, step 419)", else "B" (the chart key stays short). */
function seriesName(letter: string, name: string): string {
  const step = /step (\d+)/.exec(name)?.[1];
  return step ? `${letter} · step ${step}` : letter;
}
