/**
 * An Infinity model's bit pyramid: one grid per scale of the schedule (h×w, non-square where the schedule is), each
 * cell coloured from its d-bit vector by a fixed projection (geometry/bitColors.ts: similar codes look alike); hover
 * outlines the region in every scale and the input, and lists the token's bits.
 */
import { select } from 'd3';
import type { BitsInspectResult } from '../../shared/results';
import { bitString } from '../geometry/bitColors';
import { regionOf, scaleLabel } from '../geometry/scales';
import type { InspectorState } from '../store';
import { drawRgba } from '../ui/canvas';
import { makeFigure } from '../ui/figure';
import { makeSwatchKey } from '../ui/swatchKey';
import { drawBitGrids } from '../ui/bitGrids';
import type { TokenGrid } from '../ui/tokenGrid';
import { defineView } from './view';

/** Grid width bounds (CSS px): the finest scale is the widest grid; every scale shares one row when it fits. */
const GRID_MIN = 64;
const GRID_MAX = 300;
const IMAGE = 240;

/** The pyramid view of an Infinity model. */
export const createBitPyramidView = defineView<BitsInspectResult>({
  className: 'view view-pyramid view-bit-pyramid',
  source: (st) => ({
    data: st.bitsInspect,
    loading: 'Encoding the image to bits…',
    idle: st.initialised ? 'No image is open in this panel.' : '',
  }),
  build({ doc, store }, parts) {
    const toolbar = select(parts.head).append('div').attr('class', 'toolbar');
    toolbar.append('span').attr('class', 'hint').text('Hover a cell to link it across scales (Esc clears); ← → step scales.');
    parts.head.append(makeSwatchKey(doc, 'Pyramid key', [{ swatch: 'swatch-focus-outline', text: 'hovered region, in every scale' }]));
    const body = select(parts.body);
    const colorNote = body.append('p').attr('class', 'hint color-note');
    const strip = body
      .append('div')
      .attr('class', 'pyramid-strip')
      .attr('role', 'group')
      .attr('aria-label', 'Bit pyramid, one grid per scale')
      .attr('tabindex', 0);
    const detail = body.append('div').attr('class', 'pyramid-detail');
    const inputHost = detail.append('div');
    let input = makeFigure(doc, 'input-figure', 'Input image', IMAGE);
    const info = detail.append('div').attr('class', 'token-info').attr('aria-live', 'polite');
    let gridWidth = 120;
    let grids: TokenGrid[] = [];
    let figures: HTMLElement[] = [];
    const regionOfHover = (r: BitsInspectResult, st: InspectorState) => {
      const s = st.hover && r.scales[st.hover.scaleIndex];
      return s ? regionOf({ h: s.h, w: s.w }, st.hover!.position) : null;
    };

    return {
      draws: [
        {
          // One grid per scale; cells keep one size within a grid, and a grid's width follows its columns.
          on: (r) => [r, gridWidth],
          draw(r) {
            const d = r.model.bits;
            ({ grids, figures } = drawBitGrids(doc, strip, r.scales, d, gridWidth, Math.max(...r.scales.map((s) => s.w)), (k, p) =>
              store.update({ hover: p === null ? null : { scaleIndex: k, position: p }, focusScale: k }),
            ));
            const img = r.image.input;
            inputHost.selectAll('*').remove();
            input = makeFigure(doc, 'input-figure', 'Input image', IMAGE, Math.round((IMAGE * img.height) / img.width));
            inputHost.node()!.append(input.root);
            drawRgba(input.canvas, img, IMAGE);
            colorNote.text(
              `Cell colour: the token’s ${d} bits as ±1, projected on 3 fixed ±1 directions (one per RGB channel): tokens a few bits apart look alike.`,
            );
          },
        },
        {
          on: (r, st) => [r, gridWidth, st.hover],
          draw(r, st) {
            const region = regionOfHover(r, st);
            grids.forEach((g, k) => g.markHover(st.hover?.scaleIndex === k ? st.hover.position : null, region));
            input.mark(region);
          },
        },
        {
          on: (r, st) => [r, gridWidth, st.focusScale],
          draw: (_r, st) => figures.forEach((f, k) => f.classList.toggle('is-focused', k === st.focusScale)),
        },
        { on: (r, st) => [r, st.hover], draw: (r, st) => renderInfo(st, r) },
      ],
      resize(width) {
        // The widest grid is about a third of the row: the coarser ones' widths add up to about twice its own
        // (1:1 and 3:4 schedules alike), so all scales share one row.
        const inner = parts.root.clientWidth || width;
        const size = Math.max(GRID_MIN, Math.min(GRID_MAX, Math.floor((inner - 120) / 3.3)));
        if (!width || size === gridWidth) return;
        gridWidth = size;
        parts.refresh();
      },
    };

    function renderInfo(st: InspectorState, r: BitsInspectResult): void {
      info.selectAll('*').remove();
      const h = st.hover;
      const s = h && r.scales[h.scaleIndex];
      if (!h || !s) {
        info.append('p').attr('class', 'muted').text('Hover a token to see its scale, position and bits.');
        return;
      }
      const d = r.model.bits;
      let ones = 0;
      for (let j = 0; j < d; j++) ones += s.bits[h.position * d + j];
      info.append('h3').text(`Token at row ${Math.floor(h.position / s.w)}, col ${h.position % s.w}`);
      const dl = info.append('dl');
      const add = (k: string, v: string, cls?: string): void => {
        dl.append('dt').text(k);
        dl.append('dd')
          .attr('class', cls ?? null)
          .text(v);
      };
      add('Scale', scaleLabel(s.scaleIndex, { h: s.h, w: s.w }));
      add('Position', `row ${Math.floor(h.position / s.w)}, col ${h.position % s.w}`);
      add(`Bits (${d}, bit 0 first)`, bitString(s.bits, h.position, d), 'bit-string');
      add('Ones', `${ones} of ${d}`);
      add('Schedule', r.schedule);
    }
  },
  exportData(st) {
    const r = st.bitsInspect.value;
    return (
      r && {
        view: 'pyramid',
        schedule: r.schedule,
        bits: r.model.bits,
        scales: r.scales.map((s) => ({ h: s.h, w: s.w, bits: Array.from(s.bits) })),
      }
    );
  },
});
