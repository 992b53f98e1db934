/**
 * Residual maps: ‖f − f̂ₖ‖ per latent position after each scale on one shared colour scale, the energy curve, and (VAR)
 * the quantization error per token; of a VAR model's tokens or an Infinity model's bits (no codebook distances).
 */
import { select } from 'd3';
import type { BitsInspectResult, InspectResult, ScaleTokens } from '../../shared/results';
import { hoverToken } from '../actions';
import { gridSize, regionOf, scaleShapes, shapeText, type TokenRef } from '../geometry/scales';
import type { InspectorState, Loadable } from '../store';
import { drawRgba, heatmapImage } from '../ui/canvas';
import { makeLegend } from '../ui/legend';
import { makeScaleChart } from '../ui/scaleChart';
import { makeScaleFigures, type ScaleFigures } from '../ui/scaleFigures';
import { defineView } from './view';

const SIZE = 104;

/** The residual view of an inspection of either family: `inspection` picks the store's slot. */
const residualViewOf = (inspection: (st: InspectorState) => Loadable<InspectResult | BitsInspectResult>) =>
  defineView<InspectResult | BitsInspectResult>({
    className: 'view view-residual',
    source: (st) => ({
      data: inspection(st),
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
      const qPart = body.append('div');
      qPart.append('h4').text('Quantization error per token (dist² of the residual to its code)');
      const qLegend = makeLegend(doc, 'dist² (shared by all scales)', 220, (v) => v.toFixed(2));
      qPart.node()!.append(qLegend.root);
      const qHost = qPart.append('div');
      let res: ScaleFigures;
      let q: ScaleFigures | null = null;
      const onHover = (t: TokenRef): void => hoverToken(store, t);
      const mean = (a: Float32Array): number => a.reduce((x, y) => x + y, 0) / a.length;

      return {
        draws: [
          {
            on: (r) => [r],
            draw(r) {
              resHost.selectAll('*').remove();
              qHost.selectAll('*').remove();
              const shapes = scaleShapes(r.scales);
              // The latent grid: VAR's latentSize², an Infinity schedule's last scale (h × w).
              const last = shapes[shapes.length - 1];
              const { w: side, h: height } = gridSize(r.model.family === 'infinity' ? last : r.model.latentSize);
              res = makeScaleFigures(
                doc,
                shapes,
                SIZE,
                'residual-row',
                onHover,
                (k) => `after ${shapeText(shapes[k])} · ${(r.scales[k].residualEnergy * 100).toFixed(1)}%`,
                height / side,
              );
              resHost.node()!.append(res.root);
              let resMax = 0;
              for (const s of r.scales) for (const v of s.residualNorm) resMax = Math.max(resMax, v);
              r.scales.forEach((s, k) => {
                drawRgba(res.figures[k].canvas, heatmapImage(s.residualNorm, side, 0, resMax, height), SIZE);
                res.figures[k].canvas.dataset.max = String(resMax);
              });
              resLegend.update(0, resMax);
              const qs = quantized(r);
              qPart.attr('hidden', qs ? null : '');
              select(qerr.root).attr('hidden', qs ? null : '');
              q = null;
              if (!qs) return;
              const qScales = makeScaleFigures(doc, shapes, SIZE, 'quant-row', onHover);
              qHost.node()!.append(qScales.root);
              let qMax = 0;
              for (const s of qs) for (const v of s.quantError) qMax = Math.max(qMax, v);
              qs.forEach((s, k) => drawRgba(qScales.figures[k].canvas, heatmapImage(s.quantError, s.pn, 0, qMax), SIZE));
              qLegend.update(0, qMax);
              q = qScales;
            },
          },
          {
            on: (r, st) => [r, st.focusScale, st.themeVersion],
            draw(r, st) {
              const shapes = scaleShapes(r.scales);
              energy.update(shapes, [{ name: 'residual energy', values: r.scales.map((s) => s.residualEnergy * 100) }], st.focusScale);
              const qs = quantized(r);
              if (qs) qerr.update(shapes, [{ name: 'mean quantization error', values: qs.map((s) => mean(s.quantError)) }], st.focusScale);
              res.focus(st.focusScale);
              q?.focus(st.focusScale);
            },
          },
          {
            on: (r, st) => [r, st.hover],
            draw(r, st) {
              const shape = st.hover && scaleShapes(r.scales)[st.hover.scaleIndex];
              const region = st.hover && shape ? regionOf(shape, st.hover.position) : null;
              res.mark(region);
              q?.mark(region);
            },
          },
        ],
      };
    },
    exportData(st) {
      const r = inspection(st).value;
      if (!r) return r;
      const qs = quantized(r);
      return {
        view: 'residual',
        ...(r.model.family === 'infinity' ? { scales: scaleShapes(r.scales) } : { patchNums: r.model.patchNums }),
        residualEnergy: r.scales.map((s) => s.residualEnergy),
        residualNorm: r.scales.map((s) => s.residualNorm),
        ...(qs ? { quantError: qs.map((s) => s.quantError) } : {}),
      };
    },
  });

/** VAR's scales with their quantization error; null for Infinity's bits (no codebook distances). */
function quantized(r: InspectResult | BitsInspectResult): ScaleTokens[] | null {
  return r.model.family === 'infinity' ? null : (r as InspectResult).scales;
}

/** The residual view of a VAR model's tokens. */
export const createResidualView = residualViewOf((st) => st.inspect);

/** The residual view of an Infinity model's bits. */
export const createBitsResidualView = residualViewOf((st) => st.bitsInspect);
