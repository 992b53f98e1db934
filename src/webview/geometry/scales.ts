/**
 * Pure geometry of a token pyramid: scales, token indices and the image regions they cover. A scale's grid is pn×pn
 * (VAR) or h×w (Infinity's non-square schedules): functions taking a GridShape accept either.
 */

/** A token of the pyramid: its scale and its row-major position within that scale. */
export interface TokenRef {
  scaleIndex: number;
  position: number;
}

/** A rectangle in normalised image coordinates ([0,1]², y down). */
export interface Region {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** A scale's token grid: pn (pn×pn) or h rows × w columns. */
export type GridShape = number | { h: number; w: number };

/** Rows and columns of a grid. */
export function gridSize(shape: GridShape): { h: number; w: number } {
  return typeof shape === 'number' ? { h: shape, w: shape } : shape;
}

/** The token grid of every scale of an inspection: pn (VAR) or h×w (Infinity's bits). */
export function scaleShapes(scales: ReadonlyArray<{ pn: number } | { h: number; w: number }>): GridShape[] {
  return scales.map((s) => ('pn' in s ? s.pn : { h: s.h, w: s.w }));
}

/** [begin, end) of every scale in the flattened sequence of L tokens. */
export function beginEndsOf(patchNums: readonly number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let b = 0;
  for (const pn of patchNums) {
    out.push([b, b + pn * pn]);
    b += pn * pn;
  }
  return out;
}

/** Scale of a flat sequence index (binary search over the scale starts). */
export function scaleOfIndex(beginEnds: ReadonlyArray<readonly [number, number]>, index: number): number {
  let lo = 0;
  let hi = beginEnds.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (beginEnds[mid][0] <= index) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The token at a flat index. */
export function tokenOfIndex(beginEnds: ReadonlyArray<readonly [number, number]>, index: number): TokenRef {
  const scaleIndex = scaleOfIndex(beginEnds, index);
  return { scaleIndex, position: index - beginEnds[scaleIndex][0] };
}

/** Flat sequence index of a token. */
export function indexOfToken(beginEnds: ReadonlyArray<readonly [number, number]>, t: TokenRef): number {
  return beginEnds[t.scaleIndex][0] + t.position;
}

/** The image region a token of a scale covers. */
export function regionOf(shape: GridShape, position: number): Region {
  const { h, w } = gridSize(shape);
  const row = Math.floor(position / w);
  const col = position % w;
  return { x0: col / w, y0: row / h, x1: (col + 1) / w, y1: (row + 1) / h };
}

/** Positions of a scale whose cells overlap a region (open overlap: touching edges do not count). */
export function positionsOverlapping(shape: GridShape, r: Region): number[] {
  const { h, w } = gridSize(shape);
  const eps = 1e-9;
  const c0 = Math.max(0, Math.floor(r.x0 * w + eps));
  const c1 = Math.min(w, Math.ceil(r.x1 * w - eps));
  const r0 = Math.max(0, Math.floor(r.y0 * h + eps));
  const r1 = Math.min(h, Math.ceil(r.y1 * h - eps));
  const out: number[] = [];
  for (let row = r0; row < r1; row++) for (let col = c0; col < c1; col++) out.push(row * w + col);
  return out;
}

/** Cell rectangle of a position in a grid drawn `size` pixels wide (cells are square: the grid is size·h/w high). */
export function cellRect(shape: GridShape, position: number, size: number): { x: number; y: number; w: number; h: number } {
  const { w } = gridSize(shape);
  const cell = size / w;
  return { x: (position % w) * cell, y: Math.floor(position / w) * cell, w: cell, h: cell };
}

/** The cell under a point of a grid drawn `size` pixels wide (size·h/w high), or -1 outside. */
export function positionAt(shape: GridShape, size: number, x: number, y: number): number {
  const { h, w } = gridSize(shape);
  const height = (size * h) / w;
  if (x < 0 || y < 0 || x >= size || y >= height) return -1;
  return Math.floor((y / height) * h) * w + Math.floor((x / size) * w);
}

/** A scale's grid as text, rows × columns ("4×4", "15×20"). */
export function shapeText(shape: GridShape): string {
  const { h, w } = gridSize(shape);
  return `${h}×${w}`;
}

/** Label of a scale for axes and captions ("k=3 · 4×4"; rows × columns). */
export function scaleLabel(scaleIndex: number, shape: GridShape): string {
  return `k=${scaleIndex + 1} · ${shapeText(shape)}`;
}
