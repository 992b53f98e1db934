/** Residual maps: ‖f − f̂ₖ‖ per latent position after each scale on one shared colour scale, quantization error per token, energy curve. */
import { select } from 'd3';
import type { InspectResult } from '../../shared/results';
import { regionOf } from '../geometry/scales';
import type { InspectorState } from '../store';
import { drawRgba, heatmapImage } from '../ui/canvas';
import { placeholder } from '../ui/controls';
import { makeLegend } from '../ui/legend';
import { makeScaleChart } from '../ui/scaleChart';
import { makeScaleFigures, type ScaleFigures } from '../ui/scaleFigures';
import type { View, ViewContext } from './view';

const SIZE = 104;

/** Create the residual view. */
export function createResidualView(ctx: ViewContext): View {
  const { doc, store } = ctx;
  const root = doc.createElement('section');
  root.className = 'view view-residual';
  const empty = placeholder(doc);
  root.append(empty.root);
  const body = select(root).append('div').attr('class', 'section');
  const charts = body.append('div').attr('class', 'row');
  const energy = makeScaleChart(doc, { title: 'Residual energy Σ‖f − f̂ₖ‖² / Σ‖f‖² after scale k', yLabel: 'energy left (%)', kind: 'line', yDomain: [0, 100], format: (v) => v.toFixed(0) });
  const qerr = makeScaleChart(doc, { title: 'Mean quantization error at scale k', yLabel: 'dist² (latent units²)', kind: 'bar', format: (v) => v.toFixed(3) });
  charts.node()!.append(energy.root, qerr.root);
  body.append('h4').text('Remaining residual ‖f − f̂ₖ‖ per latent position');
  const resLegend = makeLegend(doc, '‖f − f̂ₖ‖ (latent units, shared by all scales)', 220, (v) => v.toFixed(2));
  body.node()!.append(resLegend.root);
  const resHost = body.append('div');
  body.append('h4').text('Quantization error per token (dist² of the residual to its code)');
  const qLegend = makeLegend(doc, 'dist² (shared by all scales)', 220, (v) => v.toFixed(2));
  body.node()!.append(qLegend.root);
  const qHost = body.append('div');
  let res: ScaleFigures | null = null;
  let q: ScaleFigures | null = null;
  let built: InspectResult | null = null;
  let resMax = 0;

  const build = (r: InspectResult): void => {
    resHost.selectAll('*').remove();
    qHost.selectAll('*').remove();
    const pns = r.scales.map((s) => s.pn);
    res = makeScaleFigures(doc, store, pns, SIZE, 'residual-row', (k) => `after ${pns[k]}×${pns[k]} · ${(r.scales[k].residualEnergy * 100).toFixed(1)}%`);
    q = makeScaleFigures(doc, store, pns, SIZE, 'quant-row');
    resHost.node()!.append(res.root);
    qHost.node()!.append(q.root);
    resMax = 0;
    let qMax = 0;
    for (const s of r.scales) {
      for (const v of s.residualNorm) resMax = Math.max(resMax, v);
      for (const v of s.quantError) qMax = Math.max(qMax, v);
    }
    const side = r.model.latentSize;
    r.scales.forEach((s, k) => {
      drawRgba(res!.figures[k].canvas, heatmapImage(s.residualNorm, side, 0, resMax), SIZE);
      res!.figures[k].canvas.dataset.max = String(resMax);
      drawRgba(q!.figures[k].canvas, heatmapImage(s.quantError, s.pn, 0, qMax), SIZE);
    });
    resLegend.update(0, resMax);
    qLegend.update(0, qMax);
    built = r;
  };

  return {
    root,
    update(st: InspectorState, prev: InspectorState | null) {
      const r = st.inspect.value;
      empty.show(st.inspect, 'Computing residuals…', st.initialised ? 'No image is open in this panel: Step-through generates one.' : '');
      body.attr('hidden', r ? null : '');
      if (!r) return;
      const rebuilt = r !== built;
      if (rebuilt) build(r);
      if (rebuilt || !prev || st.focusScale !== prev.focusScale || st.themeVersion !== prev.themeVersion) {
        energy.update(r.model.patchNums, [{ name: 'residual energy', values: r.scales.map((s) => s.residualEnergy * 100) }], st.focusScale);
        const mean = (a: Float32Array): number => a.reduce((x, y) => x + y, 0) / a.length;
        qerr.update(r.model.patchNums, [{ name: 'mean quantization error', values: r.scales.map((s) => mean(s.quantError)) }], st.focusScale);
        res!.focus(st.focusScale);
        q!.focus(st.focusScale);
      }
      if (rebuilt || !prev || st.hover !== prev.hover) {
        const region = st.hover ? regionOf(r.scales[st.hover.scaleIndex].pn, st.hover.position) : null;
        res!.mark(region);
        q!.mark(region);
      }
    },
    resize() {},
    dispose() {
      root.remove();
    },
    exportData() {
      const r = store.state.inspect.value;
      return r && { view: 'residual', patchNums: r.model.patchNums, residualEnergy: r.scales.map((s) => s.residualEnergy), residualNorm: r.scales.map((s) => s.residualNorm), quantError: r.scales.map((s) => s.quantError) };
    },
  };
}
