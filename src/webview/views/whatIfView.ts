/** What-if: choose cells (or drag a region) at one scale, set or resample their tokens, regenerate finer scales, compare before / after. */
import { select } from 'd3';
import type { EditResult } from '../../shared/protocol';
import type { InspectResult } from '../../shared/results';
import { applyEdit } from '../actions';
import { positionAt, scaleLabel } from '../geometry/scales';
import type { InspectorState } from '../store';
import { drawRgba } from '../ui/canvas';
import { button, field, numberInput, placeholder } from '../ui/controls';
import { makeFigure } from '../ui/figure';
import { makeSwatchKey } from '../ui/swatchKey';
import { makeTokenGrid, type TokenGrid } from '../ui/tokenGrid';
import type { View, ViewContext } from './view';

const EDIT = 256;
const SMALL = 72;

/** Cells of the rectangle spanned by two positions of a pn×pn grid. */
export function rectPositions(pn: number, a: number, b: number): number[] {
  const r0 = Math.min(Math.floor(a / pn), Math.floor(b / pn));
  const r1 = Math.max(Math.floor(a / pn), Math.floor(b / pn));
  const c0 = Math.min(a % pn, b % pn);
  const c1 = Math.max(a % pn, b % pn);
  const out: number[] = [];
  for (let r = r0; r <= r1; r++) for (let c = c0; c <= c1; c++) out.push(r * pn + c);
  return out;
}

/** Create the what-if view. */
export function createWhatIfView(ctx: ViewContext): View {
  const { doc, store, host } = ctx;
  const root = doc.createElement('section');
  root.className = 'view view-whatif';
  const empty = placeholder(doc);
  root.append(empty.root);
  const body = select(root).append('div').attr('class', 'section');
  body.append('p').attr('class', 'hint').text('Click cells or drag a rectangle at one scale, then set them to a code or resample them; coarser scales stay, finer scales are regenerated (VAR zero-shot in-painting).');
  const controls = body.append('div').attr('class', 'controls');
  const scaleSel = doc.createElement('select');
  scaleSel.className = 'edit-scale';
  const tokenIn = numberInput(doc, 0, 0, 4095, 1);
  tokenIn.className = 'edit-token';
  const setBtn = button(doc, 'Set tokens', () => void applyEdit(store, host, store.state.edit.positions.map(() => +tokenIn.value)), 'Set the chosen cells to the token id');
  const resampleBtn = button(doc, 'Resample', () => void applyEdit(store, host, 'resample'), 'Resample the chosen cells from the model');
  const clearBtn = button(doc, 'Clear selection', () => store.update((s) => ({ edit: { ...s.edit, positions: [] } })), 'Clear the chosen cells');
  setBtn.classList.add('primary', 'set-tokens');
  resampleBtn.classList.add('resample');
  controls.node()!.append(field(doc, 'Scale', scaleSel), field(doc, 'Token id', tokenIn), setBtn, resampleBtn, clearBtn);
  scaleSel.addEventListener('change', () => store.update((s) => ({ edit: { ...s.edit, scaleIndex: +scaleSel.value, positions: [] } })));
  body.node()!.append(makeSwatchKey(doc, 'Edit key', [
    { swatch: 'swatch-chosen-outline', text: 'chosen cells' },
    { swatch: 'swatch-diff-outline', text: 'token differs from the original' },
  ]));
  const status = body.append('div').attr('class', 'hint edit-status').attr('aria-live', 'polite');
  const top = body.append('div').attr('class', 'row');
  const gridHost = top.append('figure').attr('class', 'figure edit-grid');
  const before = makeFigure(doc, 'before-figure', 'Before', EDIT);
  const after = makeFigure(doc, 'after-figure', 'After', EDIT);
  top.node()!.append(before.root, after.root);
  const rEmpty = placeholder(doc);
  body.node()!.append(rEmpty.root);
  const pyr = body.append('div').attr('class', 'section compare-pyramids');
  let grid: TokenGrid | null = null;
  let built: { r: InspectResult; k: number } | null = null;
  let shownResult: EditResult | null = null;
  let dragFrom = -1;

  const buildGrid = (r: InspectResult, k: number): void => {
    gridHost.selectAll('*').remove();
    const s = r.scales[k];
    grid = makeTokenGrid(doc, s.pn, EDIT, `Tokens to edit at ${scaleLabel(k, s.pn)}`,
      (p) => store.update({ hover: p === null ? null : { scaleIndex: k, position: p } }), () => undefined);
    grid.setTokens(s.tokens, r.model.codeColors, store.state.colorBy);
    const at = (ev: MouseEvent): number => {
      const b = grid!.root.getBoundingClientRect();
      return positionAt(s.pn, b.width, ev.clientX - b.left, ev.clientY - b.top);
    };
    grid.root.addEventListener('mousedown', (ev) => {
      dragFrom = at(ev);
      ev.preventDefault();
    });
    grid.root.addEventListener('mouseup', (ev) => {
      const to = at(ev);
      if (dragFrom < 0 || to < 0) return;
      const cur = new Set(store.state.edit.positions);
      if (dragFrom === to) {
        if (cur.has(to)) cur.delete(to);
        else cur.add(to);
      } else for (const p of rectPositions(s.pn, dragFrom, to)) cur.add(p);
      dragFrom = -1;
      store.update((st) => ({ edit: { ...st.edit, positions: [...cur].sort((a, b) => a - b) } }));
    });
    gridHost.node()!.append(grid.root);
    gridHost.append('figcaption').text(`${scaleLabel(k, s.pn)} · click or drag to choose cells`);
    drawRgba(before.canvas, r.scales[r.scales.length - 1].decoded, EDIT);
    before.caption.textContent = 'Before: decode of the image’s tokens';
    built = { r, k };
  };

  const drawResult = (r: InspectResult, res: EditResult, from: number): void => {
    pyr.selectAll('*').remove();
    const last = res.steps[res.steps.length - 1];
    if (last) drawRgba(after.canvas, last.image, EDIT);
    after.caption.textContent = 'After: finer scales regenerated';
    let changed = 0;
    const rows = [{ name: 'Before', tokens: r.scales.map((s) => s.tokens) }, { name: 'After', tokens: res.tokens }];
    for (const row of rows) {
      pyr.append('h4').text(row.name === 'After' ? 'After (changed cells outlined)' : 'Before');
      const line = pyr.append('div').attr('class', `heatmap-row pyramid-${row.name.toLowerCase()}`);
      r.scales.forEach((s, k) => {
        if (k < from) return;
        const g = makeTokenGrid(doc, s.pn, SMALL, `${row.name} tokens at ${scaleLabel(k, s.pn)}`, () => undefined, () => undefined);
        g.setTokens(row.tokens[k], r.model.codeColors, store.state.colorBy);
        const diff: number[] = [];
        for (let p = 0; p < s.pn * s.pn; p++) if (res.tokens[k][p] !== s.tokens[p]) diff.push(p);
        if (row.name === 'After') {
          g.markPositions('is-different', diff);
          changed += diff.length;
        }
        const fig = line.append('figure').attr('class', 'grid-figure').attr('data-scale', k);
        fig.node()!.append(g.root);
        fig.append('figcaption').text(`${s.pn}×${s.pn}${row.name === 'After' ? ` · ${diff.length} changed` : ''}`);
      });
    }
    status.text(`${changed} tokens differ from the original across scales ${from + 1}–${r.scales.length}.`);
    shownResult = res;
  };

  return {
    root,
    update(st: InspectorState, prev: InspectorState | null) {
      const r = st.inspect.value;
      empty.show(st.inspect, 'Tokenizing the image…', st.initialised ? 'No image is open in this panel: Step-through generates one.' : '');
      body.attr('hidden', r ? null : '');
      if (!r) return;
      if (!built || built.r !== r) {
        select(scaleSel).selectAll('option').data(r.scales.map((s) => s.scaleIndex)).join('option').attr('value', (d) => d).text((d) => scaleLabel(d, r.scales[d].pn));
        tokenIn.max = String(r.model.vocabSize - 1);
      }
      const e = st.edit;
      scaleSel.value = String(e.scaleIndex);
      if (!built || built.r !== r || built.k !== e.scaleIndex || (prev && prev.colorBy !== st.colorBy)) buildGrid(r, e.scaleIndex);
      grid!.markPositions('is-chosen', e.positions);
      setBtn.disabled = resampleBtn.disabled = e.positions.length === 0 || e.result.status === 'loading';
      if (e.result.status !== 'ready') status.text(e.positions.length ? `${e.positions.length} cell${e.positions.length === 1 ? '' : 's'} chosen at ${scaleLabel(e.scaleIndex, r.scales[e.scaleIndex].pn)}.` : 'No cells chosen.');
      rEmpty.show(e.result, 'Regenerating finer scales…', '');
      const res = e.result.value;
      select(after.root).attr('hidden', res ? null : '');
      pyr.attr('hidden', res ? null : '');
      if (res && res !== shownResult) {
        const from = res.steps[0]?.scaleIndex ?? e.scaleIndex;
        drawResult(r, res, from);
      }
    },
    resize() {},
    dispose() {
      root.remove();
    },
    exportData() {
      const e = store.state.edit;
      return { view: 'whatIf', scaleIndex: e.scaleIndex, positions: e.positions, result: e.result.value ? { tokens: e.result.value.tokens } : null };
    },
  };
}
