/** What VAR's and Infinity's Attention views share: the layer and head pickers, and attention weights in a log colour scale. */
import { select } from 'd3';
import { sequentialLut } from '../geometry/colorMaps';
import { field } from './controls';
import { makeLegend } from './legend';
import type { MaskCanvas } from './maskCanvas';

const LUT = sequentialLut();
/** Weights below this draw as the lowest colour: log colour scale over [1e-4, max]. */
export const WEIGHT_FLOOR = 1e-4;

/** The Layer and Head selects (block 0..depth − 1; the mean of heads or one head). */
export interface LayerHeadPickers {
  /** The two labelled fields, to place in a row of controls. */
  fields: HTMLElement[];
  /** Fill the options for a model. */
  setModel(depth: number, numHeads: number): void;
  value(): { layer: number; head: number | 'mean' };
  /** Show a loaded result's layer and head. */
  show(layer: number, head: number | 'mean'): void;
}

/** Layer and head pickers for the Load weights buttons of the Attention views. */
export function makeLayerHeadPickers(doc: Document): LayerHeadPickers {
  const layerSel = doc.createElement('select');
  const headSel = doc.createElement('select');
  layerSel.classList.add('attention-layer');
  headSel.classList.add('attention-head');
  return {
    fields: [field(doc, 'Layer', layerSel), field(doc, 'Head', headSel)],
    setModel(depth, numHeads) {
      select(layerSel)
        .selectAll('option')
        .data(Array.from({ length: depth }, (_, i) => i))
        .join('option')
        .attr('value', (d) => d)
        .text((d) => `block ${d}`);
      select(headSel)
        .selectAll('option')
        .data<number | 'mean'>(['mean', ...Array.from({ length: numHeads }, (_, i) => i)])
        .join('option')
        .attr('value', (d) => String(d))
        .text((d) => (d === 'mean' ? 'mean of heads' : `head ${d}`));
    },
    value: () => ({ layer: +layerSel.value, head: headSel.value === 'mean' ? 'mean' : +headSel.value }),
    show(layer, head) {
      layerSel.value = String(layer);
      headSel.value = String(head);
    },
  };
}

/** The legend of the weights' log colour scale. */
export function makeWeightsLegend(doc: Document): ReturnType<typeof makeLegend> {
  return makeLegend(doc, 'attention weight (log scale)', 220, (v) => (v <= Math.log10(WEIGHT_FLOOR) ? '≤1e-4' : `1e${v.toFixed(0)}`));
}

/** The colour scale's range [log10 floor, log10 top] for weights whose largest is `hi`. */
export function logRange(hi: number): [number, number] {
  return [Math.log10(WEIGHT_FLOOR), Math.log10(Math.max(hi, WEIGHT_FLOOR * 10))];
}

/** The RGB of a fraction in [0, 1] of the sequential colour map. */
export function sequentialRgb(fraction: number): [number, number, number] {
  const t = Math.max(0, Math.min(255, Math.round(fraction * 255)));
  return [LUT[t * 3], LUT[t * 3 + 1], LUT[t * 3 + 2]];
}

/** The RGB of weight w > 0 in the log colour scale [lo, top] (log10 units). */
export function weightRgb(w: number, lo: number, top: number): [number, number, number] {
  return sequentialRgb((Math.log10(Math.max(w, WEIGHT_FLOOR)) - lo) / (top - lo));
}

/** Draw weights [n, n] (row = query) on a matrix canvas, zero as the background; sets the legend's range. */
export function drawWeights(
  canvas: MaskCanvas,
  weights: Float32Array,
  n: number,
  background: readonly [number, number, number],
  legend: { update(lo: number, hi: number): void },
): void {
  let hi = 0;
  for (const w of weights) if (w > hi) hi = w;
  const [lo, top] = logRange(hi);
  canvas.draw((q, k, d, o) => {
    const w = weights[q * n + k];
    const rgb = w > 0 ? weightRgb(w, lo, top) : background;
    d[o] = rgb[0];
    d[o + 1] = rgb[1];
    d[o + 2] = rgb[2];
    d[o + 3] = 255;
  });
  legend.update(lo, top);
}
