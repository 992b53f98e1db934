/**
 * Progressive reconstruction: decode(f̂ after scale k) next to the input, pixel-error maps on one shared scale, PSNR
 * per scale; of a VAR model's tokens or an Infinity model's bits (the fields mean the same; grids may be h×w).
 */
import { select } from 'd3';
import type { BitsInspectResult, InspectResult } from '../../shared/results';
import { hoverToken } from '../actions';
import { regionOf, scaleLabel, scaleShapes, shapeText, type TokenRef } from '../geometry/scales';
import type { InspectorState, Loadable } from '../store';
import { drawRgba, heatmapImage } from '../ui/canvas';
import { makeFigure } from '../ui/figure';
import { makeLegend } from '../ui/legend';
import { makeScaleChart } from '../ui/scaleChart';
import { makeScaleFigures, type ScaleFigures } from '../ui/scaleFigures';
import { renderStats } from '../ui/stats';
import { defineView } from './view';

const SIZE = 104;

/** The reconstruction view of the inspection `inspection` picks from the store (a family's slot). */
const reconstructionViewOf = (inspection: (st: InspectorState) => Loadable<InspectResult | BitsInspectResult>) =>
  defineView<InspectResult | BitsInspectResult>({
    className: 'view view-reconstruction',
    source: (st) => ({
      data: inspection(st),
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
              const shapes = scaleShapes(r.scales);
              const aspect = r.image.input.height / r.image.input.width;
              const label = (k: number) => scaleLabel(k, shapes[k]);
              decoded = makeScaleFigures(doc, shapes, SIZE, 'decoded-row', onHover, label, aspect);
              errors = makeScaleFigures(doc, shapes, SIZE, 'error-row', onHover, label, aspect);
              decHost.node()!.append(decoded.root);
              errHost.node()!.append(errors.root);
              drawRgba(input.canvas, r.image.input, SIZE * 2);
              // One shared colour scale for all error maps, so scales compare by colour.
              let hi = 0;
              for (const s of r.scales) for (const v of s.errorMap) if (v > hi) hi = v;
              const { width, height } = r.image.input;
              r.scales.forEach((s, k) => {
                drawRgba(decoded.figures[k].canvas, s.decoded, SIZE);
                decoded.figures[k].caption.textContent = `${shapeText(shapes[k])} · ${s.psnr.toFixed(1)} dB`;
                drawRgba(errors.figures[k].canvas, heatmapImage(s.errorMap, width, 0, hi, height), SIZE);
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
              psnr.update(scaleShapes(r.scales), [{ name: 'PSNR', values: r.scales.map((s) => s.psnr) }], st.focusScale);
              decoded.focus(st.focusScale);
              errors.focus(st.focusScale);
            },
          },
          {
            on: (r, st) => [r, st.hover],
            draw(r, st) {
              const shape = st.hover && scaleShapes(r.scales)[st.hover.scaleIndex];
              const region = st.hover && shape ? regionOf(shape, st.hover.position) : null;
              decoded.mark(region);
              errors.mark(region);
              input.mark(region);
            },
          },
        ],
      };
    },
    exportData(st) {
      const r = inspection(st).value;
      if (!r) return r;
      const grids = r.model.family === 'infinity' ? { scales: scaleShapes(r.scales) } : { patchNums: r.model.patchNums };
      return { view: 'reconstruction', ...grids, psnrDb: r.scales.map((s) => s.psnr) };
    },
  });

/** The reconstruction view of a VAR model's tokens. */
export const createReconstructionView = reconstructionViewOf((st) => st.inspect);

/** The reconstruction view of an Infinity model's bits. */
export const createBitsReconstructionView = reconstructionViewOf((st) => st.bitsInspect);
