/**
 * A strip of bit grids, one per scale (h×w, non-square where the schedule is), each cell coloured from its d-bit
 * vector by a fixed projection (geometry/bitColors.ts): the Infinity pyramid of an image and of a generation so far.
 */
import type { Selection } from 'd3';
import { bitColor, bitProjection } from '../geometry/bitColors';
import { rgbCss } from '../geometry/colorMaps';
import { scaleLabel } from '../geometry/scales';
import { makeTokenGrid, type TokenGrid } from './tokenGrid';

/** One scale's bits: 0/1 [h·w·d], token p's bit j at p·d + j. */
export interface BitScaleGrid {
  scaleIndex: number;
  h: number;
  w: number;
  bits: Uint8Array;
}

/** The grids drawn and their figures, in scale order. */
export interface BitGrids {
  grids: TokenGrid[];
  figures: HTMLElement[];
}

/**
 * Replace `strip`'s content by one grid per scale; cells keep one size across grids (the widest scale is `width`
 * CSS px, `widestW` its columns); `onHover` gets the scale and position under the pointer (null: left).
 */
export function drawBitGrids(
  doc: Document,
  strip: Selection<HTMLDivElement, unknown, null, undefined>,
  scales: readonly BitScaleGrid[],
  d: number,
  width: number,
  widestW: number,
  onHover: (scaleIndex: number, position: number | null) => void,
): BitGrids {
  strip.selectAll('*').remove();
  const projection = bitProjection(d);
  const out: BitGrids = { grids: [], figures: [] };
  for (const s of scales) {
    const shape = { h: s.h, w: s.w };
    const fig = strip.append('figure').attr('class', 'grid-figure').attr('data-scale', s.scaleIndex);
    const grid = makeTokenGrid(
      doc,
      shape,
      Math.max(24, Math.round((width * s.w) / widestW)),
      `Bits of scale ${scaleLabel(s.scaleIndex, shape)}`,
      (p) => onHover(s.scaleIndex, p),
      () => undefined,
    );
    grid.fill((p) => rgbCss(bitColor(s.bits, p, d, projection)));
    fig.node()!.append(grid.root);
    fig.append('figcaption').text(scaleLabel(s.scaleIndex, shape));
    out.grids.push(grid);
    out.figures.push(fig.node()!);
  }
  return out;
}
