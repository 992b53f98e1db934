/** Attention: VAR's L×L block-causal mask with scale boundaries beside a raster-order mask, and real weights by layer / head. */
import { select } from 'd3';
import type { ModelInfo } from '../../shared/results';
import { load } from '../actions';
import { boundaryFractions, scaleIndexArray, stepCounts, visibleKeyEnd } from '../geometry/mask';
import { indexOfToken, scaleLabel, tokenOfIndex } from '../geometry/scales';
import type { InspectorState } from '../store';
import { makeCanvas, sizeCanvas } from '../ui/canvas';
import { drawWeights, makeLayerHeadPickers, makeWeightsLegend } from '../ui/attentionWeights';
import { button, placeholder } from '../ui/controls';
import { makeMaskCanvas, type MaskCanvas } from '../ui/maskCanvas';
import { makeScaleChart } from '../ui/scaleChart';
import { makeSwatchKey } from '../ui/swatchKey';
import { defineView } from './view';

const SIZE = 440;

/** The attention view. */
export const createAttentionView = defineView<ModelInfo>({
  className: 'view view-attention',
  source: (st) => ({ data: st.model ? { status: 'ready', value: st.model } : { status: 'idle' }, loading: '', idle: 'No model loaded.' }),
  build(ctx, parts) {
    const { doc, store, host } = ctx;
    const body = select(parts.body);
    body
      .append('p')
      .attr('class', 'hint')
      .text(
        'Each row is a query token, each column a key. Hover a row: the keys it may attend to are marked, and its place in the pyramid is shown.',
      );
    const layout = body.append('div').attr('class', 'attention-layout');
    const info = layout.append('div').attr('class', 'query-info').attr('aria-live', 'polite');
    const mini = makeCanvas(doc, 'mini-pyramid', 'Place of the hovered query in the pyramid');
    const weightsBox = body.append('div').attr('class', 'section weights');
    weightsBox.append('h4').text('Attention weights (teacher-forced on this image)');
    const controls = weightsBox.append('div').attr('class', 'controls');
    const pickers = makeLayerHeadPickers(doc);
    controls.node()!.append(
      ...pickers.fields,
      button(
        doc,
        'Load weights',
        () => {
          const { layer, head } = pickers.value();
          loadWeights(layer, head);
        },
        'Load attention weights of the chosen layer and head',
      ),
    );
    // Teacher-forced on the class last evaluated (else the sampler's); the choice is kept in the panel state.
    const loadWeights = (layer: number, head: number | 'mean'): void => {
      const classId = store.state.panel.evalClass ?? store.state.generation.settings.classId;
      void load(store, host, 'attention', { classId, layer, head }, (s) => ({ panel: { ...s.panel, attention: { layer, head } } }));
    };
    const wEmpty = placeholder(doc);
    weightsBox.node()!.append(wEmpty.root);
    const wRow = weightsBox.append('div').attr('class', 'row');
    const legend = makeWeightsLegend(doc);
    const massChart = makeScaleChart(doc, {
      title: 'Attention mass of the hovered query by key scale',
      yLabel: 'Σ weight (fraction)',
      kind: 'bar',
      yDomain: [0, 1],
      format: (v) => v.toFixed(2),
    });

    let model: ModelInfo | null = null;
    let block: MaskCanvas | null = null;
    let raster: MaskCanvas | null = null;
    let weights: MaskCanvas | null = null;
    let scaleOf: Uint8Array = new Uint8Array(0);

    const onRow = (q: number | null): void => {
      if (!model) return;
      const t = q === null ? null : tokenOfIndex(model.beginEnds, q);
      store.update(t ? { hover: t, focusScale: t.scaleIndex } : { hover: null });
    };

    const build = (m: ModelInfo): void => {
      model = m;
      scaleOf = scaleIndexArray(m.beginEnds);
      layout.selectAll('.mask-figure').remove();
      const L = m.tokenCount;
      const steps = stepCounts(m.patchNums);
      block = makeMaskCanvas(doc, L, SIZE, `VAR block-causal attention mask, ${L}×${L}`, onRow);
      block.canvas.classList.add('block-mask');
      block.setBoundaries(
        boundaryFractions(m.beginEnds).map((b) => ({ start: b.start, end: b.end, label: String(m.patchNums[b.scaleIndex]) })),
      );
      block.root.append(
        makeSwatchKey(doc, 'Mask key', [
          { swatch: 'swatch-accent', text: 'query may attend to key' },
          { swatch: 'swatch-bg', text: 'masked (−∞)' },
          { swatch: 'swatch-select', text: 'visible keys of the hovered query' },
        ]),
      );
      select(block.root)
        .append('figcaption')
        .text(`VAR, next-scale: ${steps.var} steps, L = ${L} (rows: queries, columns: keys; labels: pn)`);
      const R = steps.raster;
      raster = makeMaskCanvas(doc, R, SIZE / 2, `Raster-order causal mask, ${R}×${R}`, () => undefined);
      raster.canvas.classList.add('raster-mask');
      select(raster.root)
        .append('figcaption')
        .text(`Raster order, next-token: ${R} steps for a ${Math.sqrt(R)}×${Math.sqrt(R)} grid`);
      layout.node()!.prepend(block.root, raster.root);
      layout.node()!.append(info.node()!);
      info.node()!.append(mini);
      weightsBox.selectAll('.weights-figure').remove();
      weights = makeMaskCanvas(doc, L, SIZE, 'Attention weights', onRow);
      weights.root.classList.add('weights-figure');
      weights.canvas.classList.add('weights-canvas');
      weights.setBoundaries(
        boundaryFractions(m.beginEnds).map((b) => ({ start: b.start, end: b.end, label: String(m.patchNums[b.scaleIndex]) })),
      );
      wRow.node()!.append(weights.root, legend.root, massChart.root);
      pickers.setModel(m.depth, m.numHeads);
    };

    const drawMasks = (): void => {
      const t = ctx.theme();
      const m = model!;
      // Both masks are causal: each row is a visible prefix. Block-causal: keys up to the end of the query's scale
      // (same as scaleOf[key] <= scaleOf[query], since scales are contiguous and ordered).
      block!.drawPrefix((q) => m.beginEnds[scaleOf[q]][1], t.accentRgb, t.backgroundRgb);
      raster!.drawPrefix((q) => q + 1, t.accentRgb, t.backgroundRgb);
    };

    const renderQuery = (st: InspectorState): void => {
      const m = model!;
      const q = st.hover ? indexOfToken(m.beginEnds, st.hover) : null;
      const end = q === null ? 0 : visibleKeyEnd(m.beginEnds, q);
      block!.markRow(q, end);
      weights!.markRow(q, end);
      info.selectAll('p, dl, h3').remove();
      const miniCtx = sizeCanvas(mini, 300, 150);
      miniCtx.clearRect(0, 0, 300, 150);
      const t = ctx.theme();
      if (q === null || !st.hover) {
        info.insert('p', 'canvas').attr('class', 'muted').text('Hover a row of the mask (or a token in any view).');
      } else {
        const pn = m.patchNums[st.hover.scaleIndex];
        info.insert('h3', 'canvas').text(`Query ${q}`);
        const dl = info.insert('dl', 'canvas');
        const add = (k: string, v: string): void => {
          dl.append('dt').text(k);
          dl.append('dd').text(v);
        };
        add('Scale', scaleLabel(st.hover.scaleIndex, pn));
        add('Position', `row ${Math.floor(st.hover.position / pn)}, col ${st.hover.position % pn}`);
        add('Visible keys', `${end} of ${m.tokenCount} (tokens 0–${end - 1})`);
        add('Raster order would see', `${Math.min(q + 1, m.tokenCount)} keys`);
      }
      // Mini pyramid: visible scales filled, the query's cell in the selection colour, each scale labelled pn×pn.
      const cell = 26;
      const half = Math.ceil(m.patchNums.length / 2);
      miniCtx.font = '10px sans-serif';
      miniCtx.textAlign = 'center';
      m.patchNums.forEach((pn, k) => {
        const w = k < half ? cell : cell * 1.8;
        const visible = q !== null && st.hover !== null && k <= st.hover.scaleIndex;
        miniCtx.fillStyle = visible ? t.accent : t.background;
        miniCtx.strokeStyle = t.muted;
        const y = k < half ? 4 : 4 + cell + 22;
        const xx = (k < half ? k : k - half) * (cell * 1.8 + 10);
        miniCtx.fillRect(xx, y, w, w);
        miniCtx.strokeRect(xx + 0.5, y + 0.5, w - 1, w - 1);
        miniCtx.fillStyle = t.muted;
        miniCtx.fillText(`${pn}×${pn}`, xx + w / 2, y + w + 11);
        if (st.hover && k === st.hover.scaleIndex) {
          const c = w / pn;
          miniCtx.fillStyle = t.warn;
          // At least 4 px so a token of the finest scale stays visible.
          const d = Math.max(4, c);
          const cx = Math.min(xx + w - d, xx + (st.hover.position % pn) * c);
          const cy = Math.min(y + w - d, y + Math.floor(st.hover.position / pn) * c);
          miniCtx.fillRect(cx, cy, d, d);
        }
      });
      const a = st.attention.value;
      if (!a) return; // the mass chart is hidden without weights
      if (q !== null) {
        const mass = m.beginEnds.map(([b, e]) => {
          let s = 0;
          for (let k = b; k < e; k++) s += a.weights[q * a.tokenCount + k];
          return s;
        });
        massChart.update(m.patchNums, [{ name: 'attention mass', values: mass }], st.hover?.scaleIndex ?? null);
      } else massChart.update(m.patchNums, [{ name: 'attention mass', values: m.patchNums.map(() => NaN) }], null);
    };

    return {
      draws: [
        { on: (m) => [m], draw: (m) => build(m) },
        { on: (m, st) => [m, st.themeVersion], draw: () => drawMasks() },
        {
          on: (m, st) => [m, st.attention],
          draw(_m, st) {
            wEmpty.show(st.attention, 'Computing attention weights…', 'Choose a layer and head, then “Load weights”.');
            wRow.attr('hidden', st.attention.value ? null : '');
          },
        },
        {
          on: (m, st) => [m, st.themeVersion, st.attention.value],
          draw(_m, st) {
            const a = st.attention.value;
            if (a) drawWeights(weights!, a.weights, a.tokenCount, ctx.theme().backgroundRgb, legend);
          },
        },
        {
          // The loaded weights' layer and head (the selects may have moved on without loading).
          on: (m, st) => [m, st.attention.value],
          draw(_m, st) {
            const a = st.attention.value;
            if (!a) return;
            pickers.show(a.layer, a.head);
          },
        },
        { on: (m, st) => [m, st.hover, st.attention, st.themeVersion], draw: (_m, st) => renderQuery(st) },
      ],
    };
  },
  exportData(st) {
    const m = st.model;
    return (
      m && {
        view: 'attention',
        patchNums: m.patchNums,
        beginEnds: m.beginEnds,
        tokenCount: m.tokenCount,
        attention: st.attention.value ?? null,
      }
    );
  },
});
