/**
 * Attention of an Infinity model on the open image for the caption: the block-causal mask of the image's schedule,
 * the loaded block's self-attention weights (VAR's drawing) and its cross-attention to the caption's tokens: per scale
 * the mean weight of the scale's queries on each caption token, and the hovered query's own row.
 */
import { select } from 'd3';
import type { AttentionResult, BitsModelInfo, CaptionAttention } from '../../shared/results';
import { hoverToken, load } from '../actions';
import { boundaryFractions, scaleIndexArray, visibleKeyEnd } from '../geometry/mask';
import { indexOfToken, scaleLabel, tokenOfIndex } from '../geometry/scales';
import type { InspectorState } from '../store';
import { drawWeights, makeLayerHeadPickers, makeWeightsLegend, sequentialRgb } from '../ui/attentionWeights';
import { makeCaptionInput } from '../ui/captionInput';
import { button, placeholder } from '../ui/controls';
import { makeMaskCanvas, type MaskCanvas } from '../ui/maskCanvas';
import { makeSwatchKey } from '../ui/swatchKey';
import { defineView } from './view';

const SIZE = 320;

/** A schedule of the model as the view draws it: scale shapes and token ranges. */
interface ScheduleLayout {
  id: string;
  scales: Array<[number, number]>;
  beginEnds: Array<[number, number]>;
  tokenCount: number;
}

/** The schedule the panel's image runs at: the loaded weights', else the inspection's, else the model's first. */
function layoutOf(m: BitsModelInfo, st: InspectorState): ScheduleLayout {
  const id = st.attention.value?.infinity?.schedule ?? st.bitsInspect.value?.schedule;
  const s = m.schedules.find((x) => x.id === id) ?? m.schedules[0];
  let b = 0;
  const beginEnds = s.scales.map(([h, w]): [number, number] => [b, (b += h * w)]);
  return { id: s.id, scales: s.scales, beginEnds, tokenCount: s.tokenCount };
}

/** Per scale, the mean cross-attention of its queries on each caption token: [K][N]. */
export function crossByScale(cross: CaptionAttention, beginEnds: ReadonlyArray<readonly [number, number]>): number[][] {
  const n = cross.captionTokens;
  return beginEnds.map(([b, e]) => {
    const mean = new Array<number>(n).fill(0);
    for (let q = b; q < e; q++) for (let t = 0; t < n; t++) mean[t] += cross.weights[q * n + t] / (e - b);
    return mean;
  });
}

/** Column labels of the caption tokens: the prompt's pieces (`▁` as a visible space), else the token indices. */
export function captionTokenLabels(cross: CaptionAttention): string[] {
  return cross.tokens ? cross.tokens.map((p) => p.replace(/▁/g, '·')) : Array.from({ length: cross.captionTokens }, (_, i) => `#${i}`);
}

/** What the idle view asks for. */
function idleText(st: InspectorState): string {
  if (!st.panel.imageUri) return 'No image is open in this panel.';
  if (!st.panel.caption) return 'Choose the caption above, then a layer and head, and press Load weights.';
  return 'Choose a layer and head, then press Load weights.';
}

/** The Attention view of an Infinity model. */
export const createBitsAttentionView = defineView<BitsModelInfo>({
  className: 'view view-attention view-bits-attention',
  source: (st) => ({
    data: st.bitsModel ? { status: 'ready', value: st.bitsModel } : { status: 'idle' },
    loading: '',
    idle: 'No model loaded.',
  }),
  build(ctx, parts) {
    const { doc, store, host } = ctx;
    const caption = makeCaptionInput(ctx);
    const pickers = makeLayerHeadPickers(doc);
    const loadButton = button(
      doc,
      'Load weights',
      () => {
        const text = store.state.panel.caption;
        const { layer, head } = pickers.value();
        if (text)
          void load(store, host, 'attention', { text, layer, head }, (s) => ({ panel: { ...s.panel, attention: { layer, head } } }));
      },
      'Self- and cross-attention weights of the chosen layer and head, teacher-forced on this image for the caption',
    );
    loadButton.classList.add('load-attention');
    caption.controls.append(...pickers.fields, loadButton);
    parts.head.append(caption.root);
    const stale = select(parts.head).append('p').attr('class', 'hint attention-missing');
    const body = select(parts.body);
    body
      .append('p')
      .attr('class', 'hint')
      .text(
        'Rows are query tokens. Self-attention: a token sees its own scale and every coarser one (block-causal). Cross-attention: every token attends to the caption’s T5 tokens. Hover a row to see its place and its own cross-attention.',
      );
    const empty = placeholder(doc);
    body.node()!.append(empty.root);
    // the two matrices, then beside them (below on a narrow panel) the legend, the hovered query and the cross-attention
    const row = body.append('div').attr('class', 'row attention-layout');
    const side = row.append('div').attr('class', 'attention-side');
    const legend = makeWeightsLegend(doc);
    side.node()!.append(legend.root);
    const info = side.append('div').attr('class', 'query-info').attr('aria-live', 'polite');
    const crossBox = side.append('div').attr('class', 'section cross-attention');
    crossBox.append('h4').text('Cross-attention to the caption');
    crossBox
      .append('p')
      .attr('class', 'hint')
      .text(
        'Per scale, the mean weight of its queries on each caption token (each row sums to 1); colour: from the smallest cell (dark) to the largest (bright).',
      );
    const crossTable = crossBox.append('table').attr('class', 'cross-table');
    crossTable.append('thead').append('tr');
    crossTable.append('tbody');

    let layout: ScheduleLayout | null = null;
    let mask: MaskCanvas | null = null;
    let weights: MaskCanvas | null = null;
    let scaleOf: Uint8Array = new Uint8Array(0);

    const onRow = (q: number | null): void => {
      if (!layout) return;
      if (q === null) store.update({ hover: null });
      else hoverToken(store, tokenOfIndex(layout.beginEnds, q));
    };

    const build = (m: BitsModelInfo, st: InspectorState): void => {
      layout = layoutOf(m, st);
      const L = layout.tokenCount;
      scaleOf = scaleIndexArray(layout.beginEnds);
      const bounds = boundaryFractions(layout.beginEnds).map((b) => ({
        start: b.start,
        end: b.end,
        label: `${layout!.scales[b.scaleIndex][0]}×${layout!.scales[b.scaleIndex][1]}`,
      }));
      row.selectAll('.mask-figure').remove();
      mask = makeMaskCanvas(doc, L, SIZE, `Infinity block-causal self-attention mask, ${L}×${L}`, onRow);
      mask.canvas.classList.add('block-mask');
      mask.setBoundaries(bounds);
      mask.root.append(
        makeSwatchKey(doc, 'Mask key', [
          { swatch: 'swatch-accent', text: 'query may attend to key' },
          { swatch: 'swatch-bg', text: 'masked (−∞)' },
          { swatch: 'swatch-select', text: 'visible keys of the hovered query' },
        ]),
      );
      select(mask.root)
        .append('figcaption')
        .text(`Block-causal mask, ${layout.id}: ${layout.scales.length} scales, L = ${L} (labels: h×w)`);
      weights = makeMaskCanvas(doc, L, SIZE, 'Self-attention weights', onRow);
      weights.canvas.classList.add('weights-canvas');
      weights.setBoundaries(bounds);
      select(weights.root).append('figcaption').attr('class', 'weights-caption');
      row.node()!.prepend(mask.root, weights.root);
      pickers.setModel(m.depth, m.numHeads);
    };

    const drawCross = (a: AttentionResult | undefined, st: InspectorState): void => {
      const lay = layout!;
      const cross = a?.infinity?.cross;
      const labels = cross ? captionTokenLabels(cross) : [];
      crossBox.attr('hidden', cross ? null : '');
      if (!cross) return;
      const q = st.hover ? indexOfToken(lay.beginEnds, st.hover) : null;
      const rows: Array<{ key: string; label: string; values: number[]; hovered: boolean }> = crossByScale(cross, lay.beginEnds).map(
        (values, k) => ({
          key: `scale-${k}`,
          label: scaleLabel(k, { h: lay.scales[k][0], w: lay.scales[k][1] }),
          values,
          hovered: st.hover?.scaleIndex === k,
        }),
      );
      if (q !== null && q < lay.tokenCount) {
        const n = cross.captionTokens;
        rows.push({ key: 'query', label: `query ${q}`, values: Array.from(cross.weights.subarray(q * n, (q + 1) * n)), hovered: true });
      }
      // a linear colour scale from the smallest cell to the largest: a caption's weights are often near uniform (1 / N),
      // and the numbers in the cells say how far apart they are
      let lo = Infinity;
      let hi = -Infinity;
      for (const r of rows)
        for (const v of r.values) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
      const fraction = (v: number): number => (hi > lo ? (v - lo) / (hi - lo) : 0.5);
      crossTable
        .select('thead tr')
        .selectAll('th')
        .data(['', ...labels])
        .join('th')
        .attr('class', (_d, i) => (i ? 'token' : null))
        .text((d) => d);
      crossTable
        .select('tbody')
        .selectAll<HTMLTableRowElement, (typeof rows)[number]>('tr')
        .data(rows, (r) => r.key)
        .join('tr')
        .classed('is-hovered', (r) => r.hovered)
        .classed('query-row', (r) => r.key === 'query')
        .each(function (r) {
          select(this)
            .selectAll('th')
            .data([r.label])
            .join('th')
            .text((d) => d);
          select(this)
            .selectAll<HTMLTableCellElement, number>('td')
            .data(r.values)
            .join('td')
            .attr('data-value', (v) => v.toFixed(6))
            .attr('title', (v, i) => `${labels[i]}: ${v.toFixed(4)}`)
            .style('background-color', (v) => `rgb(${sequentialRgb(fraction(v)).join(',')})`)
            .classed('is-bright', (v) => fraction(v) > 0.6)
            .text((v) => v.toFixed(2));
        });
    };

    const renderQuery = (st: InspectorState): void => {
      const lay = layout!;
      const q = st.hover ? indexOfToken(lay.beginEnds, st.hover) : null;
      const end = q === null ? 0 : visibleKeyEnd(lay.beginEnds, q);
      mask!.markRow(q, end);
      weights!.markRow(q, end);
      info.selectAll('*').remove();
      if (q === null || !st.hover) {
        info.append('p').attr('class', 'muted').text('Hover a row of the mask (or a token in any view).');
        return;
      }
      const [h, w] = lay.scales[st.hover.scaleIndex];
      info
        .append('p')
        .text(
          `Query ${q}: ${scaleLabel(st.hover.scaleIndex, { h, w })}, row ${Math.floor(st.hover.position / w)}, col ${st.hover.position % w}; sees keys 0–${end - 1} (${end} of ${lay.tokenCount}).`,
        );
    };

    return {
      controls: [
        {
          on: (m, st) => [m, st.panel.caption, st.bitsModel, st.captionBesideImage, st.panel.imageUri, st.attention.status],
          draw(m, st) {
            caption.update(st);
            const missing = m !== undefined && !m.attentionGraph;
            stale.text(
              missing
                ? 'This bundle predates the attention graph: re-export it (python -m varscope.infinity.export, or Open Checkpoint on its .pth files) to see attention.'
                : '',
            );
            stale.attr('hidden', missing ? null : '');
            loadButton.disabled = missing || !st.panel.caption || !st.panel.imageUri || st.attention.status === 'loading';
          },
        },
      ],
      draws: [
        { on: (m, st) => [m, layoutOf(m, st).id], draw: (m, st) => build(m, st) },
        {
          on: (m, st) => [m, layoutOf(m, st).id, st.themeVersion],
          draw() {
            const t = ctx.theme();
            mask!.drawPrefix((q) => layout!.beginEnds[scaleOf[q]][1], t.accentRgb, t.backgroundRgb);
          },
        },
        {
          on: (m, st) => [m, st.attention, st.panel.caption],
          draw(_m, st) {
            empty.show(st.attention, 'Computing attention weights…', idleText(st));
            select(weights!.root).attr('hidden', st.attention.value ? null : '');
            select(legend.root).attr('hidden', st.attention.value ? null : '');
          },
        },
        {
          on: (m, st) => [m, layoutOf(m, st).id, st.themeVersion, st.attention.value],
          draw(_m, st) {
            const a = st.attention.value;
            if (!a || a.tokenCount !== layout!.tokenCount) return;
            drawWeights(weights!, a.weights, a.tokenCount, ctx.theme().backgroundRgb, legend);
            pickers.show(a.layer, a.head);
            select(weights!.root)
              .select('.weights-caption')
              .text(`Self-attention weights, block ${a.layer}, ${a.head === 'mean' ? 'mean of heads' : `head ${a.head}`}`);
          },
        },
        {
          on: (m, st) => [m, layoutOf(m, st).id, st.hover, st.attention.value, st.themeVersion],
          draw(_m, st) {
            renderQuery(st);
            drawCross(st.attention.value, st);
          },
        },
      ],
    };
  },
  exportData(st) {
    const m = st.bitsModel;
    if (!m) return null;
    const lay = layoutOf(m, st);
    const a = st.attention.value;
    return {
      view: 'attention',
      family: 'infinity',
      schedule: lay.id,
      beginEnds: lay.beginEnds,
      tokenCount: lay.tokenCount,
      attention: a ?? null,
      crossByScale: a?.infinity ? crossByScale(a.infinity.cross, lay.beginEnds) : null,
    };
  },
});
