/**
 * What-if for an Infinity model: a generation for the panel's caption (Step-through's settings, this view's seed) is
 * the original. Choose tokens at one scale (click cells, or All), then flip chosen bits of each, or resample them with
 * another seed; the coarser scales and the other tokens stay, the finer scales are generated again on the same random
 * stream (shared/bitEdit.ts). Shown: both pyramids (changed tokens outlined), both images, and per scale the share of
 * tokens and of bits that differ from the original.
 */
import { select } from 'd3';
import { bitEditError, type BitEditChange, type BitEditRequest, type BitEditResult } from '../../shared/bitEdit';
import { nearestSchedule } from '../../shared/modelFamily';
import type { BitsModelInfo } from '../../shared/results';
import { SAMPLING_BOUNDS } from '../../shared/samplingBounds';
import { load } from '../actions';
import { bitColor, bitProjection } from '../geometry/bitColors';
import { rgbCss } from '../geometry/colorMaps';
import { scaleLabel } from '../geometry/scales';
import { bitSamplingOf, ofFamily, type InspectorState } from '../store';
import { drawBitGrids } from '../ui/bitGrids';
import { makeCaptionInput } from '../ui/captionInput';
import { drawRgba } from '../ui/canvas';
import { button, field, numberInput } from '../ui/controls';
import { makeFigure } from '../ui/figure';
import { makeScaleChart } from '../ui/scaleChart';
import { makeTokenGrid, type TokenGrid } from '../ui/tokenGrid';
import { defineView } from './view';

const EDIT = 240;
const STRIP = 200;
const IMAGE = 200;

/** Positions (token indices) where two scales' bits differ. */
function differingTokens(a: Uint8Array, b: Uint8Array, d: number): number[] {
  const out: number[] = [];
  for (let p = 0; p < a.length / d; p++)
    for (let j = p * d; j < (p + 1) * d; j++)
      if (a[j] !== b[j]) {
        out.push(p);
        break;
      }
  return out;
}

/** "flip bits 0, 5" / "resample with seed 9". */
export function changeLabel(c: BitEditChange): string {
  return 'flip' in c ? `flip bit${c.flip.length > 1 ? 's' : ''} ${c.flip.join(', ')}` : `resample with seed ${c.resampleSeed}`;
}

/** The What-if view of an Infinity model. */
export const createBitWhatIfView = defineView<BitsModelInfo>({
  className: 'view view-whatif view-bit-whatif',
  source: (st) => ({ data: st.bitsModel ? { status: 'ready', value: st.bitsModel } : { status: 'idle' }, loading: '', idle: '' }),
  build({ doc, store, host }, parts) {
    const caption = makeCaptionInput({ doc, store, host });
    parts.head.append(caption.root);
    const body = select(parts.body);
    body
      .append('p')
      .attr('class', 'hint')
      .text(
        'Generate the original for the caption (Step-through’s CFG, tau, top-k and top-p; the seed here), click tokens at one scale, then flip chosen bits of each or resample them with another seed: coarser scales and the other tokens stay, the finer scales are generated again on the same random stream, so every difference below comes from the edit.',
      );
    const controls = body.append('div').attr('class', 'controls');
    const seed = numberInput(doc, 0, SAMPLING_BOUNDS.seed.min, SAMPLING_BOUNDS.seed.max, 1);
    seed.classList.add('edit-seed');
    const scaleSel = doc.createElement('select');
    scaleSel.className = 'edit-scale';
    const flipIn = doc.createElement('input');
    flipIn.type = 'text';
    flipIn.className = 'edit-flip';
    flipIn.value = '0';
    flipIn.title = 'Bits to flip in every chosen token, comma-separated (0 … d − 1)';
    const resampleSeed = numberInput(doc, 1, SAMPLING_BOUNDS.seed.min, SAMPLING_BOUNDS.seed.max, 1);
    resampleSeed.classList.add('edit-resample-seed');
    const status = body.append('div').attr('class', 'hint edit-status').attr('aria-live', 'polite');
    const fail = (message: string): void => {
      status.text(message).classed('is-error', true);
    };
    // The edit of the chosen tokens, of the generation of the caption with Step-through's settings and this seed.
    const apply = (positions: number[], change: BitEditChange): void => {
      const st = store.state;
      const m = st.bitsModel;
      const text = st.panel.caption;
      if (!m) return;
      if (!text) return fail('choose a caption first (a prompt or a features file)');
      const form = st.generation.bitSettings ?? bitSamplingOf(m, m.schedules[0].hDivW, 0);
      const req: BitEditRequest = {
        family: 'infinity',
        settings: { ...form, family: 'infinity', text, seed: seed.value.trim() === '' ? NaN : Number(seed.value) },
        scaleIndex: st.edit.scaleIndex,
        positions,
        change,
      };
      const s = nearestSchedule(m.schedules, form.hDivW ?? m.schedules[0].hDivW);
      const problem = bitEditError({ ...req }, { scales: s.scales, bits: m.bits });
      if (problem) return fail(problem);
      status.classed('is-error', false);
      void load(store, host, 'edit', req);
    };
    const generate = button(doc, 'Generate original', () => apply([], { flip: [0] }), 'Generate the original for the caption');
    generate.classList.add('primary', 'edit-generate');
    const flipBtn = button(
      doc,
      'Flip bits',
      () => {
        const flip = flipIn.value.split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));
        apply(store.state.edit.positions, { flip });
      },
      'Flip the bits in every chosen token',
    );
    flipBtn.classList.add('edit-flip-run');
    const resampleBtn = button(
      doc,
      'Resample',
      () => apply(store.state.edit.positions, { resampleSeed: Number(resampleSeed.value) }),
      'Resample the chosen tokens with another seed',
    );
    resampleBtn.classList.add('edit-resample');
    const allBtn = button(
      doc,
      'All',
      () => {
        const m = store.state.bitsModel;
        const r = ofFamily(store.state.edit.result, 'infinity').value;
        const [h, w] = r?.scales[store.state.edit.scaleIndex] ?? [0, 0];
        if (m) store.update((s) => ({ edit: { ...s.edit, positions: Array.from({ length: h * w }, (_, p) => p) } }));
      },
      'Choose every token of the scale',
    );
    allBtn.classList.add('edit-all');
    const clearBtn = button(doc, 'Clear', () => store.update((s) => ({ edit: { ...s.edit, positions: [] } })), 'Clear the chosen tokens');
    clearBtn.classList.add('edit-clear');
    controls
      .node()!
      .append(
        field(doc, 'Seed', seed),
        generate,
        field(doc, 'Scale', scaleSel),
        allBtn,
        clearBtn,
        field(doc, 'Bits to flip', flipIn),
        flipBtn,
        field(doc, 'Resample seed', resampleSeed),
        resampleBtn,
      );
    scaleSel.addEventListener('change', () => store.update((s) => ({ edit: { ...s.edit, scaleIndex: +scaleSel.value, positions: [] } })));

    const top = body.append('div').attr('class', 'row');
    const gridHost = top.append('figure').attr('class', 'figure edit-grid');
    const before = makeFigure(doc, 'before-figure', 'Original', IMAGE);
    const after = makeFigure(doc, 'after-figure', 'Edited', IMAGE);
    top.node()!.append(before.root, after.root);
    const chart = makeScaleChart(doc, {
      title: 'Differs from the original',
      yLabel: 'share (%)',
      kind: 'line',
      width: 300,
      height: 200,
      format: (v) => v.toFixed(1),
      yDomain: [0, 100],
    });
    chart.root.classList.add('chart-edit-disagreement');
    top.node()!.append(chart.root);
    const pyramids = body.append('div').attr('class', 'section compare-pyramids');
    pyramids.append('div').attr('class', 'hint strip-label').text('The original’s bits, scale by scale');
    const originalStrip = pyramids.append('div').attr('class', 'pyramid-strip edit-original').attr('aria-label', 'The original’s bits');
    pyramids.append('div').attr('class', 'hint strip-label').text('The edited bits (outlined: tokens that differ from the original)');
    const editedStrip = pyramids.append('div').attr('class', 'pyramid-strip edit-edited').attr('aria-label', 'The edited bits');
    let grid: TokenGrid | null = null;

    /** The grid to choose tokens on: the chosen scale of the last result's original (neutral before one). */
    const drawGrid = (st: InspectorState): void => {
      const m = st.bitsModel!;
      const r = ofFamily(st.edit.result, 'infinity').value;
      const k = st.edit.scaleIndex;
      const schedule = m.schedules.find((s) => s.id === r?.schedule) ?? m.schedules[0];
      const [h, w] = schedule.scales[k] ?? schedule.scales[0];
      gridHost.selectAll('*').remove();
      grid = makeTokenGrid(
        doc,
        { h, w },
        EDIT,
        `Choose tokens of scale ${scaleLabel(k, { h, w })}`,
        () => undefined,
        (p) =>
          store.update((s) => ({
            edit: {
              ...s.edit,
              positions: s.edit.positions.includes(p) ? s.edit.positions.filter((q) => q !== p) : [...s.edit.positions, p],
            },
          })),
      );
      if (r) {
        const projection = bitProjection(r.bits);
        grid.fill((p) => rgbCss(bitColor(r.original.bits[k], p, r.bits, projection)));
      }
      gridHost.node()!.append(grid.root);
      gridHost.append('figcaption').text(`Choose tokens: ${scaleLabel(k, { h, w })}`);
    };

    const drawResult = (r: BitEditResult): void => {
      drawRgba(before.canvas, r.original.image, IMAGE);
      drawRgba(after.canvas, r.edited.image, IMAGE);
      const widest = Math.max(...r.scales.map(([, w]) => w));
      const grids = (bits: Uint8Array[]) => r.scales.map(([h, w], k) => ({ scaleIndex: k, h, w, bits: bits[k] }));
      drawBitGrids(doc, originalStrip, grids(r.original.bits), r.bits, STRIP, widest, () => undefined);
      const edited = drawBitGrids(doc, editedStrip, grids(r.edited.bits), r.bits, STRIP, widest, () => undefined);
      edited.grids.forEach((g, k) => g.markPositions('is-different', differingTokens(r.original.bits[k], r.edited.bits[k], r.bits)));
      chart.update(
        r.scales.map(([h, w]) => ({ h, w })),
        [
          { name: 'tokens', values: r.disagreement.map((x) => x.tokens * 100), cls: 'c0' },
          { name: 'bits', values: r.disagreement.map((x) => x.bits * 100), cls: 'c1' },
        ],
        r.scaleIndex,
      );
      const [h, w] = r.scales[r.scaleIndex];
      const last = r.disagreement[r.disagreement.length - 1];
      status
        .classed('is-error', false)
        .text(
          r.positions.length
            ? `Edited ${r.positions.length} token${r.positions.length > 1 ? 's' : ''} at ${scaleLabel(r.scaleIndex, { h, w })} (${changeLabel(r.change)}): at the finest scale ${(last.tokens * 100).toFixed(1)} % of tokens and ${(last.bits * 100).toFixed(1)} % of bits differ from the original.`
            : 'The original generation: choose tokens at a scale, then flip bits or resample.',
        );
    };

    return {
      controls: [{ on: (_m, st) => [st.panel.caption, st.bitsModel, st.captionBesideImage], draw: (_m, st) => caption.update(st) }],
      draws: [
        {
          // The scales of the schedule of Step-through's ratio.
          on: (m, st) => [m, st.generation.bitSettings?.hDivW],
          draw(m, st) {
            const s = m.schedules.find((x) => x.hDivW === st.generation.bitSettings?.hDivW) ?? m.schedules[0];
            select(scaleSel)
              .selectAll('option')
              .data(s.scales.map(([h, w], k) => ({ h, w, k })))
              .join('option')
              .attr('value', (d) => d.k)
              .text((d) => scaleLabel(d.k, d));
            scaleSel.value = String(Math.min(st.edit.scaleIndex, s.scales.length - 1));
          },
        },
        { on: (_m, st) => [st.edit.scaleIndex, st.edit.result.value], draw: (_m, st) => drawGrid(st) },
        {
          on: (_m, st) => [st.edit.positions, grid],
          draw(_m, st) {
            grid?.markPositions('is-chosen', st.edit.positions);
            const busy = st.edit.result.status === 'loading';
            flipBtn.disabled = resampleBtn.disabled = busy || st.edit.positions.length === 0;
          },
        },
        {
          on: (_m, st) => [st.edit.result],
          draw(_m, st) {
            const l = ofFamily(st.edit.result, 'infinity');
            generate.disabled = l.status === 'loading';
            flipBtn.disabled = resampleBtn.disabled = l.status === 'loading' || st.edit.positions.length === 0;
            pyramids.attr('hidden', l.value ? null : '');
            select(after.root).attr('hidden', l.value ? null : '');
            select(before.root).attr('hidden', l.value ? null : '');
            select(chart.root).attr('hidden', l.value ? null : '');
            if (l.status === 'loading') status.classed('is-error', false).text('Generating…');
            else if (l.status === 'error') fail(l.error?.message ?? 'the edit failed');
            else if (l.value) drawResult(l.value);
            else status.classed('is-error', false).text('Press Generate original.');
          },
        },
      ],
    };
  },
  exportData(st) {
    const r = ofFamily(st.edit.result, 'infinity').value;
    if (!r) return { view: 'whatIf', result: null };
    const d = r.bits;
    const tokens = (b: Uint8Array) => Array.from({ length: b.length / d }, (_, t) => b.subarray(t * d, (t + 1) * d).join(''));
    return {
      view: 'whatIf',
      family: 'infinity',
      schedule: r.schedule,
      scaleIndex: r.scaleIndex,
      positions: r.positions,
      change: r.change,
      disagreement: r.disagreement,
      original: r.original.bits.map(tokens),
      edited: r.edited.bits.map(tokens),
    };
  },
});
