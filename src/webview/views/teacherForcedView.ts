/** Teacher-forced evaluation of the open image, the other half of the step-through view: per-scale accuracy, NLL and entropy, correctness and value maps per position. */
import { select } from 'd3';
import type { EvalResult } from '../../shared/results';
import { hoverToken, load } from '../actions';
import { parseCssColor } from '../geometry/colorMaps';
import { regionOf, scaleLabel, type TokenRef } from '../geometry/scales';
import { drawRgba, heatmapImage } from '../ui/canvas';
import { button, field, segmented } from '../ui/controls';
import { makeLegend } from '../ui/legend';
import { makeScaleChart } from '../ui/scaleChart';
import { makeScaleFigures, type ScaleFigures } from '../ui/scaleFigures';
import { makeSwatchKey } from '../ui/swatchKey';
import { defineView } from './view';

/** Which quantity the per-position maps show, on one colour scale shared by all scales. */
type TfKind = 'nll' | 'entropy' | 'top1';

/** The teacher-forced half of the step-through view (shown while the store's stepMode is 'teacher'). */
export const createTeacherForcedView = defineView<EvalResult>({
  className: 'section teacher',
  source: (st) => ({ data: st.evaluation, loading: 'Evaluating every scale…', idle: 'Choose the class and press Evaluate.' }),
  build({ doc, store, host, theme }, parts) {
    const tfControls = select(parts.head).append('div').attr('class', 'controls');
    const evalClass = doc.createElement('select');
    evalClass.className = 'eval-class';
    tfControls.node()!.append(
      field(doc, 'Class', evalClass),
      button(
        doc,
        'Evaluate',
        () => {
          store.update((s) => ({ panel: { ...s.panel, evalClass: +evalClass.value } }));
          void load(store, host, 'evaluate', { classId: +evalClass.value });
        },
        'Teacher-forced evaluation of this image',
      ),
    );
    const tfBody = select(parts.body);
    const tfCharts = tfBody.append('div').attr('class', 'row');
    const acc = makeScaleChart(doc, {
      title: 'Top-1 accuracy given the true coarser scales',
      yLabel: 'accuracy (%)',
      kind: 'bar',
      format: (v) => v.toFixed(1),
    });
    const nll = makeScaleChart(doc, {
      title: 'NLL of the true token, mean entropy',
      yLabel: 'nats',
      kind: 'bar',
      width: 400,
      height: 190,
      format: (v) => v.toFixed(1),
    });
    tfCharts.node()!.append(acc.root, nll.root);
    tfBody.append('h4').text('Correct (argmax = true token) per position');
    tfBody.node()!.append(
      makeSwatchKey(doc, 'Correctness key', [
        { swatch: 'swatch-good', text: 'argmax = true token' },
        { swatch: 'swatch-bad', text: 'wrong' },
      ]),
    );
    const tfMapHost = tfBody.append('div');
    let tfKind: TfKind = 'nll';
    const tfKindSel = segmented(
      doc,
      'Per-position map',
      [
        { value: 'nll', label: '−log p(true token)' },
        { value: 'entropy', label: 'Entropy' },
        { value: 'top1', label: 'Top-1 probability' },
      ],
      (v) => {
        tfKind = v as TfKind;
        parts.refresh();
      },
    );
    tfBody.node()!.append(tfKindSel.root);
    const tfLegend = makeLegend(doc, '', 220, (v) => v.toPrecision(3));
    tfBody.node()!.append(tfLegend.root);
    const tfValueHost = tfBody.append('div');
    let tfMaps: ScaleFigures;
    let tfValues: ScaleFigures;
    const onHover = (t: TokenRef): void => hoverToken(store, t);

    return {
      controls: [
        {
          // The class list follows the model; the class shown is the one last evaluated (else the sampler's).
          on: (_e, st) => [st.model],
          draw(_e, st) {
            const opts = (st.model?.classes ?? []).map((name, id) => ({ id, name }));
            select(evalClass)
              .selectAll('option')
              .data(opts, (d) => String((d as { id: number }).id))
              .join('option')
              .attr('value', (d) => d.id)
              .text((d) => `${d.id} · ${d.name}`);
            evalClass.value = String(st.panel.evalClass ?? st.generation.settings.classId);
          },
        },
      ],
      draws: [
        {
          on: (e, st) => [e, st.model],
          draw(e, st) {
            const m = st.model!;
            tfMapHost.selectAll('*').remove();
            tfMaps = makeScaleFigures(
              doc,
              m.patchNums,
              96,
              'correct-row',
              onHover,
              (k) => `${scaleLabel(k, m.patchNums[k])} · ${(e.scales[k].accuracy * 100).toFixed(1)}%`,
            );
            tfMapHost.node()!.append(tfMaps.root);
            evalClass.value = String(e.classId);
          },
        },
        {
          on: (e, st) => [e, st.model, st.themeVersion, st.focusScale],
          draw(e, st) {
            const m = st.model!;
            const t = theme();
            const good = parseCssColor(t.good) ?? [0, 160, 0];
            const bad = parseCssColor(t.error) ?? [200, 0, 0];
            e.scales.forEach((s, k) => {
              const data = new Uint8ClampedArray(s.pn * s.pn * 4);
              for (let p = 0; p < s.pn * s.pn; p++) data.set([...(s.correct[p] ? good : bad), 255], p * 4);
              drawRgba(tfMaps.figures[k].canvas, { width: s.pn, height: s.pn, data }, 96);
            });
            acc.update(m.patchNums, [{ name: 'accuracy', values: e.scales.map((s) => s.accuracy * 100) }], st.focusScale);
            nll.update(
              m.patchNums,
              [
                { name: 'NLL', values: e.scales.map((s) => s.nll) },
                { name: 'mean entropy', values: e.scales.map((s) => s.meanEntropy), cls: 'alt' },
              ],
              st.focusScale,
            );
            tfMaps.focus(st.focusScale);
          },
        },
        {
          on: (e, st) => [e, st.model, st.themeVersion, tfKind],
          draw(e, st) {
            const m = st.model!;
            tfKindSel.set(tfKind);
            tfValueHost.selectAll('*').remove();
            tfValues = makeScaleFigures(doc, m.patchNums, 96, 'tf-value-row', onHover);
            tfValueHost.node()!.append(tfValues.root);
            const pick = (sc: EvalResult['scales'][number]): Float32Array =>
              tfKind === 'nll' ? sc.trueProb.map((q) => -Math.log(Math.max(q, 1e-30))) : tfKind === 'entropy' ? sc.entropy : sc.top1Prob;
            const maps = e.scales.map(pick);
            let lo = Infinity;
            let hi = -Infinity;
            for (const a of maps)
              for (const v of a) {
                if (v < lo) lo = v;
                if (v > hi) hi = v;
              }
            if (!(hi > lo)) hi = lo + 1e-6;
            maps.forEach((a, k) => drawRgba(tfValues.figures[k].canvas, heatmapImage(a, e.scales[k].pn, lo, hi), 96));
            const title =
              tfKind === 'nll'
                ? '−log p(true token), nats'
                : tfKind === 'entropy'
                  ? 'entropy of the prediction, nats'
                  : 'top-1 probability';
            tfLegend.root.querySelector('.legend-title')!.textContent = `${title} (shared by all scales)`;
            tfLegend.update(lo, hi);
          },
        },
        {
          on: (e, st) => [e, st.model, st.themeVersion, tfKind, st.hover, st.focusScale],
          draw(_e, st) {
            const m = st.model!;
            const h = st.hover;
            const region = h ? regionOf(m.patchNums[h.scaleIndex], h.position) : null;
            tfMaps.mark(region);
            tfValues.mark(region);
            tfValues.focus(st.focusScale);
          },
        },
      ],
    };
  },
  exportData: (st) => ({ view: 'teacherForced', evaluation: st.evaluation.value ?? null }),
});
