/** Progressive reconstruction: decode(f̂ after scale k) next to the input, pixel-error maps on one shared scale, PSNR per scale. */
import { select } from 'd3';
import type { InspectResult } from '../../shared/results';
import { hoverToken } from '../actions';
import { regionOf, type TokenRef } from '../geometry/scales';
import { drawRgba, heatmapImage } from '../ui/canvas';
import { makeFigure } from '../ui/figure';
import { makeLegend } from '../ui/legend';
import { makeScaleChart } from '../ui/scaleChart';
import { makeScaleFigures, type ScaleFigures } from '../ui/scaleFigures';
import { renderStats } from '../ui/stats';
import { defineView } from './view';

const SIZE = 104;

/** The reconstruction view. */
export const createReconstructionView = defineView<InspectResult>({
  className: 'view view-reconstruction',
  source: (st) => ({
    data: st.inspect,
    loading: 'Decoding every scale…',
    idle: st.initialised ? 'No image is open in this panel: Step-through generates one.' : '',
  }),
  build({ doc, store }, parts) {
    const body = select(parts.body);
    const top = body.append('div').attr('class', 'row');
    const input = makeFigure(doc, 'input-figure', 'Input', SIZE * 2);
    top.node()!.append(input.root);
    const psnr = makeScaleChart(doc, {
      title: 'PSNR of decode(f̂ₖ) vs input',
      yLabel: 'PSNR (dB)',
      kind: 'line',
      format: (v) => v.toFixed(1),
    });
    top.node()!.append(psnr.root);
    const stats = top.append('div').attr('class', 'stats');
    body.append('h4').text('Decoded after each scale');
    const decHost = body.append('div');
    body.append('h4').text('Pixel error |decode − input|');
    const errLegend = makeLegend(doc, 'mean absolute error per pixel (fraction of the 0–255 range)', 220, (v) => v.toFixed(2));
    body.node()!.append(errLegend.root);
    const errHost = body.append('div');
    let decoded: ScaleFigures;
    let errors: ScaleFigures;
    const onHover = (t: TokenRef): void => hoverToken(store, t);

    return {
      draws: [
        {
          on: (r) => [r],
          draw(r) {
            decHost.selectAll('*').remove();
            errHost.selectAll('*').remove();
            const pns = r.scales.map((s) => s.pn);
            decoded = makeScaleFigures(doc, pns, SIZE, 'decoded-row', onHover);
            errors = makeScaleFigures(doc, pns, SIZE, 'error-row', onHover);
            decHost.node()!.append(decoded.root);
            errHost.node()!.append(errors.root);
            drawRgba(input.canvas, r.image.input, SIZE * 2);
            // One shared colour scale for all error maps, so scales compare by colour.
            let hi = 0;
            for (const s of r.scales) for (const v of s.errorMap) if (v > hi) hi = v;
            r.scales.forEach((s, k) => {
              drawRgba(decoded.figures[k].canvas, s.decoded, SIZE);
              decoded.figures[k].caption.textContent = `${s.pn}×${s.pn} · ${s.psnr.toFixed(1)} dB`;
              drawRgba(errors.figures[k].canvas, heatmapImage(s.errorMap, r.image.input.width, 0, hi), SIZE);
              errors.figures[k].canvas.dataset.max = String(hi);
            });
            errLegend.update(0, hi);
            const last = r.scales[r.scales.length - 1];
            renderStats(stats.node()!, [
              { label: 'final PSNR', value: `${last.psnr.toFixed(2)} dB` },
              { label: 'gain over the 1×1 scale', value: `${(last.psnr - r.scales[0].psnr).toFixed(2)} dB` },
            ]);
          },
        },
        {
          on: (r, st) => [r, st.focusScale, st.themeVersion],
          draw(r, st) {
            psnr.update(r.model.patchNums, [{ name: 'PSNR', values: r.scales.map((s) => s.psnr) }], st.focusScale);
            decoded.focus(st.focusScale);
            errors.focus(st.focusScale);
          },
        },
        {
          on: (r, st) => [r, st.hover],
          draw(r, st) {
            const region = st.hover ? regionOf(r.scales[st.hover.scaleIndex].pn, st.hover.position) : null;
            decoded.mark(region);
            errors.mark(region);
            input.mark(region);
          },
        },
      ],
    };
  },
  exportData(st) {
    const r = st.inspect.value;
    return r && { view: 'reconstruction', patchNums: r.model.patchNums, psnrDb: r.scales.map((s) => s.psnr) };
  },
});
