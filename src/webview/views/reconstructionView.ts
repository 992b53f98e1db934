/** Progressive reconstruction: decode(f̂ after scale k) next to the input, pixel-error maps on one shared scale, PSNR per scale. */
import { select } from 'd3';
import type { InspectResult } from '../../shared/results';
import { regionOf } from '../geometry/scales';
import type { InspectorState } from '../store';
import { drawRgba, heatmapImage } from '../ui/canvas';
import { placeholder } from '../ui/controls';
import { makeFigure } from '../ui/figure';
import { makeLegend } from '../ui/legend';
import { makeScaleChart } from '../ui/scaleChart';
import { makeScaleFigures, type ScaleFigures } from '../ui/scaleFigures';
import type { View, ViewContext } from './view';

const SIZE = 104;

/** Create the reconstruction view. */
export function createReconstructionView(ctx: ViewContext): View {
  const { doc, store } = ctx;
  const root = doc.createElement('section');
  root.className = 'view view-reconstruction';
  const empty = placeholder(doc);
  root.append(empty.root);
  const body = select(root).append('div').attr('class', 'section');
  const top = body.append('div').attr('class', 'row');
  const input = makeFigure(doc, 'input-figure', 'Input', SIZE * 2);
  top.node()!.append(input.root);
  const psnr = makeScaleChart(doc, { title: 'PSNR of decode(f̂ₖ) vs input', yLabel: 'PSNR (dB)', kind: 'line', format: (v) => v.toFixed(1) });
  top.node()!.append(psnr.root);
  const stats = top.append('div').attr('class', 'stats');
  body.append('h4').text('Decoded after each scale');
  const decHost = body.append('div');
  body.append('h4').text('Pixel error |decode − input|');
  const errLegend = makeLegend(doc, 'mean absolute error per pixel (fraction of the 0–255 range)', 220, (v) => v.toFixed(2));
  body.node()!.append(errLegend.root);
  const errHost = body.append('div');
  let decoded: ScaleFigures | null = null;
  let errors: ScaleFigures | null = null;
  let built: InspectResult | null = null;

  const build = (r: InspectResult): void => {
    decHost.selectAll('*').remove();
    errHost.selectAll('*').remove();
    const pns = r.scales.map((s) => s.pn);
    decoded = makeScaleFigures(doc, store, pns, SIZE, 'decoded-row');
    errors = makeScaleFigures(doc, store, pns, SIZE, 'error-row');
    decHost.node()!.append(decoded.root);
    errHost.node()!.append(errors.root);
    drawRgba(input.canvas, r.image.input, SIZE * 2);
    // One shared colour scale for all error maps, so scales compare by colour.
    let hi = 0;
    for (const s of r.scales) for (const v of s.errorMap) if (v > hi) hi = v;
    r.scales.forEach((s, k) => {
      drawRgba(decoded!.figures[k].canvas, s.decoded, SIZE);
      decoded!.figures[k].caption.textContent = `${s.pn}×${s.pn} · ${s.psnr.toFixed(1)} dB`;
      drawRgba(errors!.figures[k].canvas, heatmapImage(s.errorMap, r.image.input.width, 0, hi), SIZE);
      errors!.figures[k].canvas.dataset.max = String(hi);
    });
    errLegend.update(0, hi);
    const last = r.scales[r.scales.length - 1];
    stats.selectAll('*').remove();
    const stat = (label: string, value: string): void => {
      const d = stats.append('div').attr('class', 'stat');
      d.append('span').attr('class', 'stat-value').text(value);
      d.append('span').attr('class', 'stat-label').text(label);
    };
    stat('final PSNR', `${last.psnr.toFixed(2)} dB`);
    stat('gain over the 1×1 scale', `${(last.psnr - r.scales[0].psnr).toFixed(2)} dB`);
    built = r;
  };

  const render = (st: InspectorState, prev: InspectorState | null): void => {
    const r = st.inspect.value;
    empty.show(st.inspect, 'Decoding every scale…', st.initialised ? 'No image is open in this panel: Step-through generates one.' : '');
    body.attr('hidden', r ? null : '');
    if (!r) return;
    const rebuilt = r !== built;
    if (rebuilt) build(r);
    if (rebuilt || !prev || st.focusScale !== prev.focusScale || st.themeVersion !== prev.themeVersion) {
      psnr.update(r.model.patchNums, [{ name: 'PSNR', values: r.scales.map((s) => s.psnr) }], st.focusScale);
      decoded!.focus(st.focusScale);
      errors!.focus(st.focusScale);
    }
    if (rebuilt || !prev || st.hover !== prev.hover) {
      const region = st.hover ? regionOf(r.scales[st.hover.scaleIndex].pn, st.hover.position) : null;
      decoded!.mark(region);
      errors!.mark(region);
      input.mark(region);
    }
  };

  return {
    root,
    update: render,
    resize() {},
    dispose() {
      root.remove();
    },
    exportData() {
      const r = store.state.inspect.value;
      return r && { view: 'reconstruction', patchNums: r.model.patchNums, psnrDb: r.scales.map((s) => s.psnr) };
    },
  };
}
