/** Token pyramid: one grid per scale coloured by code embedding or id; hover shows a token, click marks a code everywhere. */
import { select } from 'd3';
import type { InspectResult } from '../../shared/results';
import { regionOf, scaleLabel } from '../geometry/scales';
import type { InspectorState } from '../store';
import { drawRgba } from '../ui/canvas';
import { makeFigure } from '../ui/figure';
import { makeTokenGrid, type TokenGrid } from '../ui/tokenGrid';
import { segmented } from '../ui/controls';
import { makeSwatchKey } from '../ui/swatchKey';
import { defineView } from './view';

/** Grid size bounds (CSS px): ten grids share one row when the panel is wide enough. */
const GRID_MIN = 64;
const GRID_MAX = 132;
const IMAGE = 224;

/** The pyramid view. */
export const createPyramidView = defineView<InspectResult>({
  className: 'view view-pyramid',
  source: (st) => ({
    data: st.inspect,
    loading: 'Tokenizing the image…',
    idle: st.initialised ? 'No image is open in this panel: Step-through generates one.' : '',
  }),
  build({ doc, store }, parts) {
    const toolbar = select(parts.head).append('div').attr('class', 'toolbar');
    const colorBy = segmented(
      doc,
      'Colour tokens by',
      [
        { value: 'embedding', label: 'Embedding' },
        { value: 'id', label: 'Id' },
      ],
      (v) => store.update({ colorBy: v as 'embedding' | 'id' }),
    );
    toolbar.node()!.append(colorBy.root);
    toolbar
      .append('span')
      .attr('class', 'hint')
      .text('Hover a cell to link it across scales and views (Esc clears); click to mark every place its code occurs; ← → step scales.');
    parts.head.append(
      makeSwatchKey(doc, 'Pyramid key', [
        { swatch: 'swatch-focus-outline', text: 'hovered region, in every scale' },
        { swatch: 'swatch-select-outline', text: 'clicked code, wherever it occurs' },
      ]),
    );
    const body = select(parts.body);
    const colorNote = body.append('p').attr('class', 'hint color-note');
    const strip = body
      .append('div')
      .attr('class', 'pyramid-strip')
      .attr('role', 'group')
      .attr('aria-label', 'Token pyramid, one grid per scale')
      .attr('tabindex', 0);
    const detail = body.append('div').attr('class', 'pyramid-detail');
    const input = makeFigure(doc, 'input-figure', 'Input image', IMAGE);
    detail.node()!.append(input.root);
    // The focused scale, large: ids are readable up to 8×8.
    const focusHost = detail.append('figure').attr('class', 'figure focus-grid');
    let focusGrid: TokenGrid;
    let focusFor = -1;
    const info = detail.append('div').attr('class', 'token-info').attr('aria-live', 'polite');
    let gridSize = 100;
    let grids: TokenGrid[] = [];
    let figures: HTMLElement[] = [];
    const regionOfHover = (r: InspectResult, st: InspectorState) =>
      st.hover ? regionOf(r.scales[st.hover.scaleIndex].pn, st.hover.position) : null;

    return {
      controls: [{ on: (_r, st) => [st.colorBy], draw: (_r, st) => colorBy.set(st.colorBy) }],
      draws: [
        {
          // One grid per scale, sized to share a row.
          on: (r) => [r, gridSize],
          draw(r) {
            strip.selectAll('*').remove();
            grids = [];
            figures = [];
            r.scales.forEach((s) => {
              const fig = strip.append('figure').attr('class', 'grid-figure').attr('data-scale', s.scaleIndex);
              const grid = makeTokenGrid(
                doc,
                s.pn,
                gridSize,
                `Tokens of scale ${scaleLabel(s.scaleIndex, s.pn)}`,
                (p) => store.update({ hover: p === null ? null : { scaleIndex: s.scaleIndex, position: p }, focusScale: s.scaleIndex }),
                (p) => {
                  const code = s.tokens[p];
                  store.update((st) => ({ selectedCode: st.selectedCode === code ? null : code }));
                },
              );
              fig.node()!.append(grid.root);
              fig.append('figcaption').text(scaleLabel(s.scaleIndex, s.pn));
              grids.push(grid);
              figures.push(fig.node()!);
            });
            drawRgba(input.canvas, r.image.input, IMAGE);
          },
        },
        {
          on: (r, st) => [r, gridSize, st.colorBy],
          draw(r, st) {
            r.scales.forEach((s, k) => grids[k].setTokens(s.tokens, r.model.codeColors, st.colorBy));
            colorNote.text(
              st.colorBy === 'embedding'
                ? 'Cell colour: the code’s embedding on the first 3 principal components of the codebook, weighted by training use, each spread by rank (as RGB): similar codes look alike.'
                : 'Cell colour: one arbitrary hue per token id: equal colours mean the same code.',
            );
          },
        },
        {
          on: (r, st) => [r, gridSize, st.hover],
          draw(r, st) {
            const region = regionOfHover(r, st);
            grids.forEach((g, k) => g.markHover(st.hover?.scaleIndex === k ? st.hover.position : null, region));
            input.mark(region);
          },
        },
        { on: (r, st) => [r, gridSize, st.selectedCode], draw: (_r, st) => grids.forEach((g) => g.markCode(st.selectedCode)) },
        {
          on: (r, st) => [r, gridSize, st.focusScale],
          draw: (_r, st) => figures.forEach((f, k) => f.classList.toggle('is-focused', k === st.focusScale)),
        },
        {
          // The focused scale, large, with its ids when they fit.
          on: (r, st) => [r, st.focusScale, st.colorBy],
          draw(r, st) {
            const s = r.scales[st.focusScale] ?? r.scales[0];
            focusHost.selectAll('*').remove();
            focusGrid = makeTokenGrid(
              doc,
              s.pn,
              IMAGE,
              `Tokens of the focused scale ${scaleLabel(s.scaleIndex, s.pn)}`,
              (p) => store.update({ hover: p === null ? null : { scaleIndex: s.scaleIndex, position: p } }),
              (p) => store.update((x) => ({ selectedCode: x.selectedCode === s.tokens[p] ? null : s.tokens[p] })),
            );
            focusGrid.setTokens(s.tokens, r.model.codeColors, st.colorBy);
            focusGrid.showIds(s.pn <= 8);
            focusHost.node()!.append(focusGrid.root);
            focusHost.append('figcaption').text(`Focused scale ${scaleLabel(s.scaleIndex, s.pn)} (← → to change)`);
            focusFor = s.scaleIndex;
          },
        },
        {
          on: (r, st) => [r, st.focusScale, st.colorBy, st.hover, st.selectedCode],
          draw(r, st) {
            focusGrid.markHover(st.hover?.scaleIndex === focusFor ? st.hover.position : null, regionOfHover(r, st));
            focusGrid.markCode(st.selectedCode);
          },
        },
        { on: (r, st) => [r, st.hover, st.selectedCode, st.trainingUsage], draw: (r, st) => renderInfo(st, r) },
      ],
      resize(width) {
        // Each grid takes a tenth of the row minus its gap and frame; below the minimum they wrap.
        const inner = parts.root.clientWidth || width;
        const size = Math.max(GRID_MIN, Math.min(GRID_MAX, Math.floor((inner - 9 * 12) / 10) - 6));
        if (!width || size === gridSize) return;
        gridSize = size;
        parts.refresh();
      },
    };

    function renderInfo(st: InspectorState, r: InspectResult): void {
      info.selectAll('*').remove();
      const h = st.hover;
      if (h && r.scales[h.scaleIndex]) {
        const s = r.scales[h.scaleIndex];
        const id = s.tokens[h.position];
        const row = Math.floor(h.position / s.pn);
        const col = h.position % s.pn;
        info.append('h3').text(`Token ${id}`);
        const dl = info.append('dl');
        const add = (k: string, v: string): void => {
          dl.append('dt').text(k);
          dl.append('dd').text(v);
        };
        add('Scale', scaleLabel(s.scaleIndex, s.pn));
        add('Position', `row ${row}, col ${col}`);
        add('Uses in this image', String(r.codebook.overall[id]));
        const train = st.trainingUsage.value;
        // the checkpoint's ema_vocab_hit_SV: a moving average of hits per training batch, not an integer count
        if (train) add('Uses in training (EMA)', formatHits(train.overall[id]));
        add('Quantization margin', `${s.quantMargin[h.position].toFixed(4)} (2nd − best dist²)`);
        add('Quantization error', `${s.quantError[h.position].toFixed(4)} (dist²)`);
      } else {
        info.append('p').attr('class', 'muted').text('Hover a token to see its scale, position, id, usage and quantization margin.');
      }
      if (st.selectedCode !== null) {
        const code = st.selectedCode;
        const where = r.scales.map((s) => ({ s, n: s.tokens.reduce((a, t) => a + (t === code ? 1 : 0), 0) })).filter((x) => x.n > 0);
        const sel = info.append('div').attr('class', 'occurrences');
        sel
          .append('h3')
          .text(`Code ${code} occurs ${where.reduce((a, x) => a + x.n, 0)}× in ${where.length} scale${where.length === 1 ? '' : 's'}`);
        sel
          .append('ul')
          .selectAll('li')
          .data(where, (d) => String((d as { s: { scaleIndex: number } }).s.scaleIndex))
          .join('li')
          .text((d) => `${scaleLabel(d.s.scaleIndex, d.s.pn)}: ${d.n}×`);
      }
    }
  },
  exportData(st) {
    const r = st.inspect.value;
    return (
      r && {
        view: 'pyramid',
        patchNums: r.model.patchNums,
        tokens: r.scales.map((s) => Array.from(s.tokens)),
        quantMargin: r.scales.map((s) => Array.from(s.quantMargin)),
      }
    );
  },
});

/** An EMA hit count for reading: three significant digits, whole numbers from 100 up. */
function formatHits(v: number): string {
  return v >= 100 ? v.toFixed(0) : v === 0 ? '0' : v.toPrecision(3);
}
