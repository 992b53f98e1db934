/** Residual maps: ‖f − f̂ₖ‖ per latent position after each scale on one shared colour scale, quantization error per token, energy curve. */
import { select } from 'd3';
import type { InspectResult } from '../../shared/results';
import { hoverToken } from '../actions';
import { regionOf, type TokenRef } from '../geometry/scales';
import { drawRgba, heatmapImage } from '../ui/canvas';
import { makeLegend } from '../ui/legend';
import { makeScaleChart } from '../ui/scaleChart';
import { makeScaleFigures, type ScaleFigures } from '../ui/scaleFigures';
import { defineView } from './view';

const SIZE = 104;

/** The residual view. */
export const createResidualView = defineView<InspectResult>({
  className: 'view view-residual',
  source: (st) => ({
    data: st.inspect,
    loading: 'Computing residuals…',
    idle: st.initialised ? 'No image is open in this panel: Step-through generates one.' : '',
  }),
  build({ doc, store }, parts) {
    const body = select(parts.body);
    const charts = body.append('div').attr('class', 'row');
    const energy = makeScaleChart(doc, {
      title: 'Residual energy Σ‖f − f̂ₖ‖² / Σ‖f‖² after scale k',
      yLabel: 'energy left (%)',
      kind: 'line',
      yDomain: [0, 100],
      format: (v) => v.toFixed(0),
    });
    const qerr = makeScaleChart(doc, {
      title: 'Mean quantization error at scale k',
      yLabel: 'dist² (latent units²)',
      kind: 'bar',
      format: (v) => v.toFixed(3),
    });
    charts.node()!.append(energy.root, qerr.root);
    body.append('h4').text('Remaining residual ‖f − f̂ₖ‖ per latent position');
    const resLegend = makeLegend(doc, '‖f − f̂ₖ‖ (latent units, shared by all scales)', 220, (v) => v.toFixed(2));
    body.node()!.append(resLegend.root);
    const resHost = body.append('div');
    body.append('h4').text('Quantization error per token (dist² of the residual to its code)');
    const qLegend = makeLegend(doc, 'dist² (shared by all scales)', 220, (v) => v.toFixed(2));
    body.node()!.append(qLegend.root);
    const qHost = body.append('div');
    let res: ScaleFigures;
    let q: ScaleFigures;
    const onHover = (t: TokenRef): void => hoverToken(store, t);
    const mean = (a: Float32Array): number => a.reduce((x, y) => x + y, 0) / a.length;

    return {
      draws: [
        {
          on: (r) => [r],
          draw(r) {
            resHost.selectAll('*').remove();
            qHost.selectAll('*').remove();
            const pns = r.scales.map((s) => s.pn);
            res = makeScaleFigures(
              doc,
              pns,
              SIZE,
              'residual-row',
              onHover,
              (k) => `after ${pns[k]}×${pns[k]} · ${(r.scales[k].residualEnergy * 100).toFixed(1)}%`,
            );
            q = makeScaleFigures(doc, pns, SIZE, 'quant-row', onHover);
            resHost.node()!.append(res.root);
            qHost.node()!.append(q.root);
            let resMax = 0;
            let qMax = 0;
            for (const s of r.scales) {
              for (const v of s.residualNorm) resMax = Math.max(resMax, v);
              for (const v of s.quantError) qMax = Math.max(qMax, v);
            }
            const side = r.model.latentSize;
            r.scales.forEach((s, k) => {
              drawRgba(res.figures[k].canvas, heatmapImage(s.residualNorm, side, 0, resMax), SIZE);
              res.figures[k].canvas.dataset.max = String(resMax);
              drawRgba(q.figures[k].canvas, heatmapImage(s.quantError, s.pn, 0, qMax), SIZE);
            });
            resLegend.update(0, resMax);
            qLegend.update(0, qMax);
          },
        },
        {
          on: (r, st) => [r, st.focusScale, st.themeVersion],
          draw(r, st) {
            energy.update(
              r.model.patchNums,
              [{ name: 'residual energy', values: r.scales.map((s) => s.residualEnergy * 100) }],
              st.focusScale,
            );
            qerr.update(
              r.model.patchNums,
              [{ name: 'mean quantization error', values: r.scales.map((s) => mean(s.quantError)) }],
              st.focusScale,
            );
            res.focus(st.focusScale);
            q.focus(st.focusScale);
          },
        },
        {
          on: (r, st) => [r, st.hover],
          draw(r, st) {
            const region = st.hover ? regionOf(r.scales[st.hover.scaleIndex].pn, st.hover.position) : null;
            res.mark(region);
            q.mark(region);
          },
        },
      ],
    };
  },
  exportData(st) {
    const r = st.inspect.value;
    return (
      r && {
        view: 'residual',
        patchNums: r.model.patchNums,
        residualEnergy: r.scales.map((s) => s.residualEnergy),
        residualNorm: r.scales.map((s) => s.residualNorm),
        quantError: r.scales.map((s) => s.quantError),
      }
    );
  },
});
