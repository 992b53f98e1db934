/** Pure keyboard logic of a pn×pn cell grid: cursor moves, toggled cells, rectangular selections, what the cursor says. */
import { cellRect } from './scales';

/** Keys that move the cursor. */
export type CursorKey = 'ArrowUp' | 'ArrowDown' | 'ArrowLeft' | 'ArrowRight' | 'Home' | 'End';

const KEYS: readonly string[] = ['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'Home', 'End'];

/** Whether a KeyboardEvent.key moves the cursor. */
export function isCursorKey(key: string): key is CursorKey {
  return KEYS.includes(key);
}

/** The cursor after a key: arrows move one cell and stop at the edges; Home / End go to the first / last cell of the row. */
export function moveCursor(pn: number, position: number, key: CursorKey): number {
  const row = Math.floor(position / pn);
  const col = position % pn;
  switch (key) {
    case 'ArrowUp':
      return Math.max(0, row - 1) * pn + col;
    case 'ArrowDown':
      return Math.min(pn - 1, row + 1) * pn + col;
    case 'ArrowLeft':
      return row * pn + Math.max(0, col - 1);
    case 'ArrowRight':
      return row * pn + Math.min(pn - 1, col + 1);
    case 'Home':
      return row * pn;
    case 'End':
      return row * pn + pn - 1;
  }
}

/** Cells of the rectangle spanned by two positions of a pn×pn grid, row-major. */
export function rectPositions(pn: number, a: number, b: number): number[] {
  const r0 = Math.min(Math.floor(a / pn), Math.floor(b / pn));
  const r1 = Math.max(Math.floor(a / pn), Math.floor(b / pn));
  const c0 = Math.min(a % pn, b % pn);
  const c1 = Math.max(a % pn, b % pn);
  const out: number[] = [];
  for (let r = r0; r <= r1; r++) for (let c = c0; c <= c1; c++) out.push(r * pn + c);
  return out;
}

/** A sorted selection with `position` added, or removed when it was there. */
export function toggled(positions: readonly number[], position: number): number[] {
  const s = new Set(positions);
  if (s.has(position)) s.delete(position);
  else s.add(position);
  return [...s].sort((a, b) => a - b);
}

/** A sorted selection: `base` plus the rectangle from `anchor` to `cursor` (so the rectangle can grow and shrink). */
export function withRect(pn: number, base: readonly number[], anchor: number, cursor: number): number[] {
  return [...new Set([...base, ...rectPositions(pn, anchor, cursor)])].sort((a, b) => a - b);
}

/** Whether two selections hold the same cells in the same order. */
export function sameCells(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** The cursor outline of a cell in a grid `size` px wide: the cell rectangle inset so it sits inside the cell's own stroke. */
export function cursorRect(pn: number, position: number, size: number, inset: number): { x: number; y: number; w: number; h: number } {
  const r = cellRect(pn, position, size);
  return { x: r.x + inset, y: r.y + inset, w: Math.max(0, r.w - 2 * inset), h: Math.max(0, r.h - 2 * inset) };
}

/** What a screen reader says about a cell: row, column (from 1), token id and whether it is chosen. */
export function cellLabel(pn: number, position: number, token: number, chosen: boolean): string {
  return `Row ${Math.floor(position / pn) + 1}, column ${(position % pn) + 1}, token ${token}${chosen ? ', chosen' : ''}`;
}
