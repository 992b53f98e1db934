/** What-if: choose cells (or drag a region) at one scale, set or resample their tokens, regenerate finer scales, compare before / after. */
import { select } from 'd3';
import type { EditResult } from '../../shared/protocol';
import type { InspectResult } from '../../shared/results';
import { load } from '../actions';
import { ofFamily } from '../store';
import { cellLabel, cursorRect, isCursorKey, moveCursor, sameCells, toggled, withRect } from '../geometry/gridCursor';
import { positionAt, scaleLabel } from '../geometry/scales';
import { drawRgba } from '../ui/canvas';
import { button, field, numberInput, placeholder } from '../ui/controls';
import { makeFigure } from '../ui/figure';
import { makeSwatchKey } from '../ui/swatchKey';
import { makeTokenGrid, type TokenGrid } from '../ui/tokenGrid';
import { defineView } from './view';

const EDIT = 256;
const SMALL = 72;
const SVG = 'http://www.w3.org/2000/svg';

/** The what-if view. */
export const createWhatIfView = defineView<InspectResult>({
  className: 'view view-whatif',
  source: (st) => ({
    data: st.inspect,
    loading: 'Tokenizing the image…',
    idle: st.initialised ? 'No image is open in this panel: Step-through generates one.' : '',
  }),
  build({ doc, store, host }, parts) {
    const body = select(parts.body);
    body
      .append('p')
      .attr('class', 'hint')
      .text(
        'Click cells or drag a rectangle at one scale (or focus the grid: arrow keys move, Space toggles, Shift+arrows choose a rectangle, Esc clears), then set them to a code or resample them; coarser scales stay, finer scales are regenerated (VAR zero-shot in-painting).',
      );
    const controls = body.append('div').attr('class', 'controls');
    const scaleSel = doc.createElement('select');
    scaleSel.className = 'edit-scale';
    const tokenIn = numberInput(doc, 0, 0, 4095, 1);
    tokenIn.className = 'edit-token';
    // The edit applies to the chosen cells with the sampler's settings (for the regenerated finer scales).
    const applyEdit = (tokens: number[] | 'resample'): void => {
      const { edit: e, generation: g } = store.state;
      void load(store, host, 'edit', { scaleIndex: e.scaleIndex, positions: e.positions, tokens, settings: g.settings });
    };
    const setBtn = button(
      doc,
      'Set tokens',
      () => applyEdit(store.state.edit.positions.map(() => +tokenIn.value)),
      'Set the chosen cells to the token id',
    );
    const resampleBtn = button(doc, 'Resample', () => applyEdit('resample'), 'Resample the chosen cells from the model');
    const clearBtn = button(
      doc,
      'Clear selection',
      () => store.update((s) => ({ edit: { ...s.edit, positions: [] } })),
      'Clear the chosen cells',
    );
    setBtn.classList.add('primary', 'set-tokens');
    resampleBtn.classList.add('resample');
    controls.node()!.append(field(doc, 'Scale', scaleSel), field(doc, 'Token id', tokenIn), setBtn, resampleBtn, clearBtn);
    scaleSel.addEventListener('change', () => store.update((s) => ({ edit: { ...s.edit, scaleIndex: +scaleSel.value, positions: [] } })));
    body.node()!.append(
      makeSwatchKey(doc, 'Edit key', [
        { swatch: 'swatch-chosen-outline', text: 'chosen cells' },
        { swatch: 'swatch-diff-outline', text: 'token differs from the original' },
      ]),
    );
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
    let dragFrom = -1;
    // Keyboard: the cursor cell, and while Shift+arrows extend a rectangle, its anchor, the cells chosen before it
    // began and the selection it last made (any other change of the selection ends the rectangle).
    let cursor = 0;
    let extend: { anchor: number; base: number[]; made: number[] } | null = null;
    let cells: SVGRectElement[] = [];
    let cursorBox: SVGRectElement | null = null;
    const cursorLine = doc.createElement('div');
    cursorLine.className = 'hint edit-cursor';

    const setPositions = (positions: number[]): void => store.update((st) => ({ edit: { ...st.edit, positions } }));

    /** Cursor outline, aria-activedescendant, every cell's chosen state and the cursor line, from `cursor` and the store. */
    const showCursor = (r: InspectResult, k: number): void => {
      const s = r.scales[k];
      const chosen = new Set(store.state.edit.positions);
      cells.forEach((c, p) => {
        c.setAttribute('aria-selected', String(chosen.has(p)));
        c.setAttribute('aria-label', cellLabel(s.pn, p, s.tokens[p], chosen.has(p)));
      });
      const box = cursorRect(s.pn, cursor, EDIT, 2);
      cursorBox?.setAttribute('x', String(box.x));
      cursorBox?.setAttribute('y', String(box.y));
      cursorBox?.setAttribute('width', String(box.w));
      cursorBox?.setAttribute('height', String(box.h));
      grid?.root.setAttribute('aria-activedescendant', cells[cursor].id);
      cursorLine.textContent = `Cursor: ${scaleLabel(k, s.pn)} · ${cellLabel(s.pn, cursor, s.tokens[cursor], chosen.has(cursor)).toLowerCase()}`;
    };

    const onKey = (ev: KeyboardEvent, pn: number): void => {
      if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
      const positions = store.state.edit.positions;
      if (extend && !sameCells(extend.made, positions)) extend = null;
      if (isCursorKey(ev.key)) {
        const next = moveCursor(pn, cursor, ev.key);
        if (ev.shiftKey) {
          extend ??= { anchor: cursor, base: positions, made: positions };
          cursor = next;
          extend.made = withRect(pn, extend.base, extend.anchor, cursor);
          setPositions(extend.made);
        } else {
          extend = null;
          cursor = next;
          if (built) showCursor(built.r, built.k);
        }
      } else if (ev.key === ' ' || ev.key === 'Enter') {
        extend = null;
        setPositions(toggled(positions, cursor));
      } else if (ev.key === 'Escape' && positions.length > 0) {
        extend = null;
        setPositions([]);
      } else return; // Escape with nothing chosen goes on to the panel (it clears the linked hover there)
      // The panel's own arrow keys step scales: not while the cursor moves here.
      ev.preventDefault();
      ev.stopPropagation();
    };

    const buildGrid = (r: InspectResult, k: number): void => {
      gridHost.selectAll('*').remove();
      const s = r.scales[k];
      const label = `Tokens to edit at ${scaleLabel(k, s.pn)}: arrow keys move, Space toggles a cell, Shift+arrows choose a rectangle, Escape clears`;
      grid = makeTokenGrid(
        doc,
        s.pn,
        EDIT,
        label,
        (p) => store.update({ hover: p === null ? null : { scaleIndex: k, position: p } }),
        () => undefined,
      );
      grid.setTokens(s.tokens, r.model.codeColors, store.state.colorBy);
      cells = asAriaGrid(doc, grid.root, s.pn, `edit-cell-${k}-`);
      cursorBox = doc.createElementNS(SVG, 'rect') as SVGRectElement;
      cursorBox.setAttribute('class', 'cursor-box');
      grid.root.append(cursorBox);
      if (!built || built.k !== k || cursor >= s.pn * s.pn) cursor = 0;
      extend = null;
      const at = (ev: MouseEvent): number => {
        const b = grid!.root.getBoundingClientRect();
        return positionAt(s.pn, b.width, ev.clientX - b.left, ev.clientY - b.top);
      };
      grid.root.addEventListener('mousedown', (ev) => {
        dragFrom = at(ev);
        ev.preventDefault(); // no text selection while dragging; so focus by hand, and the keys go on from the clicked cell
        grid!.root.focus({ preventScroll: true });
        if (dragFrom >= 0) cursor = dragFrom;
      });
      grid.root.addEventListener('mouseup', (ev) => {
        const to = at(ev);
        if (dragFrom < 0 || to < 0) return;
        const positions = store.state.edit.positions;
        const next = dragFrom === to ? toggled(positions, to) : withRect(s.pn, positions, dragFrom, to);
        dragFrom = -1;
        cursor = to;
        setPositions(next);
      });
      grid.root.addEventListener('keydown', (ev) => onKey(ev, s.pn));
      gridHost.node()!.append(grid.root);
      gridHost.append('figcaption').text(`${scaleLabel(k, s.pn)} · click or drag to choose cells, or use the keys`);
      gridHost.node()!.append(cursorLine);
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
      const rows = [
        { name: 'Before', tokens: r.scales.map((s) => s.tokens) },
        { name: 'After', tokens: res.tokens },
      ];
      for (const row of rows) {
        pyr.append('h4').text(row.name === 'After' ? 'After (changed cells outlined)' : 'Before');
        const line = pyr.append('div').attr('class', `heatmap-row pyramid-${row.name.toLowerCase()}`);
        r.scales.forEach((s, k) => {
          if (k < from) return;
          const g = makeTokenGrid(
            doc,
            s.pn,
            SMALL,
            `${row.name} tokens at ${scaleLabel(k, s.pn)}`,
            () => undefined,
            () => undefined,
          );
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
    };

    return {
      draws: [
        {
          on: (r) => [r],
          draw(r) {
            select(scaleSel)
              .selectAll('option')
              .data(r.scales.map((s) => s.scaleIndex))
              .join('option')
              .attr('value', (d) => d)
              .text((d) => scaleLabel(d, r.scales[d].pn));
            tokenIn.max = String(r.model.vocabSize - 1);
          },
        },
        {
          on: (r, st) => [r, st.edit.scaleIndex],
          draw(_r, st) {
            scaleSel.value = String(st.edit.scaleIndex);
          },
        },
        { on: (r, st) => [r, st.edit.scaleIndex, st.colorBy], draw: (r, st) => buildGrid(r, st.edit.scaleIndex) },
        {
          on: (r, st) => [r, st.edit.scaleIndex, st.colorBy, st.edit.positions],
          draw: (_r, st) => grid!.markPositions('is-chosen', st.edit.positions),
        },
        // Relabelling every cell is cheap but not free: not on hover-only updates.
        {
          on: (r, st) => [r, st.edit.scaleIndex, st.colorBy, st.edit.positions, st.view],
          draw: (r, st) => showCursor(r, st.edit.scaleIndex),
        },
        {
          on: (r, st) => [r, st.edit],
          draw(r, st) {
            const e = { ...st.edit, result: ofFamily(st.edit.result, 'var') };
            setBtn.disabled = resampleBtn.disabled = e.positions.length === 0 || e.result.status === 'loading';
            if (e.result.status !== 'ready')
              status.text(
                e.positions.length
                  ? `${e.positions.length} cell${e.positions.length === 1 ? '' : 's'} chosen at ${scaleLabel(e.scaleIndex, r.scales[e.scaleIndex].pn)}.`
                  : 'No cells chosen.',
              );
            rEmpty.show(e.result, 'Regenerating finer scales…', '');
            const res = e.result.value;
            select(after.root).attr('hidden', res ? null : '');
            pyr.attr('hidden', res ? null : '');
          },
        },
        {
          on: (r, st) => [r, st.edit.result.value],
          draw(r, st) {
            const res = ofFamily(st.edit.result, 'var').value;
            if (res) drawResult(r, res, res.steps[0]?.scaleIndex ?? st.edit.scaleIndex);
          },
        },
      ],
    };
  },
  exportData(st) {
    const e = { ...st.edit, result: ofFamily(st.edit.result, 'var') };
    return {
      view: 'whatIf',
      scaleIndex: e.scaleIndex,
      positions: e.positions,
      result: e.result.value ? { tokens: e.result.value.tokens } : null,
    };
  },
});

/** Give a token grid the grid role: rows of gridcells (the cells regrouped per row, in place) with ids for
 *  aria-activedescendant, focusable. Returns the cells by position. */
function asAriaGrid(doc: Document, svg: SVGSVGElement, pn: number, idPrefix: string): SVGRectElement[] {
  const cells: SVGRectElement[] = [];
  for (const el of svg.querySelectorAll<SVGRectElement>('g.cells rect.cell')) cells[Number(el.getAttribute('data-pos'))] = el;
  const parent = cells[0].parentNode!;
  for (let r = 0; r < pn; r++) {
    const row = doc.createElementNS(SVG, 'g');
    row.setAttribute('role', 'row');
    for (let c = 0; c < pn; c++) {
      const cell = cells[r * pn + c];
      cell.setAttribute('role', 'gridcell');
      cell.id = `${idPrefix}${r * pn + c}`;
      row.append(cell);
    }
    parent.append(row);
  }
  svg.setAttribute('role', 'grid');
  svg.setAttribute('aria-rowcount', String(pn));
  svg.setAttribute('aria-colcount', String(pn));
  svg.setAttribute('aria-multiselectable', 'true');
  svg.setAttribute('tabindex', '0');
  return cells;
}
