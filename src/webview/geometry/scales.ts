/** Pure geometry of VAR's token pyramid: scales, token indices and the image regions they cover. */

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

/** The image region a token of a pn×pn scale covers. */
export function regionOf(pn: number, position: number): Region {
  const row = Math.floor(position / pn);
  const col = position % pn;
  return { x0: col / pn, y0: row / pn, x1: (col + 1) / pn, y1: (row + 1) / pn };
}

/** Positions of a pn×pn scale whose cells overlap a region (open overlap: touching edges do not count). */
export function positionsOverlapping(pn: number, r: Region): number[] {
  const eps = 1e-9;
  const c0 = Math.max(0, Math.floor(r.x0 * pn + eps));
  const c1 = Math.min(pn, Math.ceil(r.x1 * pn - eps));
  const r0 = Math.max(0, Math.floor(r.y0 * pn + eps));
  const r1 = Math.min(pn, Math.ceil(r.y1 * pn - eps));
  const out: number[] = [];
  for (let row = r0; row < r1; row++) for (let col = c0; col < c1; col++) out.push(row * pn + col);
  return out;
}

/** Cell rectangle of a position in a grid drawn `size` pixels wide. */
export function cellRect(pn: number, position: number, size: number): { x: number; y: number; w: number; h: number } {
  const cell = size / pn;
  return { x: (position % pn) * cell, y: Math.floor(position / pn) * cell, w: cell, h: cell };
}

/** The cell under a point of a grid drawn `size` pixels wide, or -1 outside. */
export function positionAt(pn: number, size: number, x: number, y: number): number {
  if (x < 0 || y < 0 || x >= size || y >= size) return -1;
  return Math.floor((y / size) * pn) * pn + Math.floor((x / size) * pn);
}

/** Label of a scale for axes and captions ("k=3 · 4×4"). */
export function scaleLabel(scaleIndex: number, pn: number): string {
  return `k=${scaleIndex + 1} · ${pn}×${pn}`;
}
