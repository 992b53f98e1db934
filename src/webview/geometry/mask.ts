/** Pure geometry of the attention masks: VAR's block-causal mask and the raster-order causal mask for contrast. */
import { scaleOfIndex } from './scales';

/** Scale of every flat index, [L]. */
export function scaleIndexArray(beginEnds: ReadonlyArray<readonly [number, number]>): Uint8Array {
  const L = beginEnds[beginEnds.length - 1][1];
  const out = new Uint8Array(L);
  beginEnds.forEach(([b, e], k) => out.fill(k, b, e));
  return out;
}

/** Block-causal visibility: a query sees a key iff the key's scale is not finer than the query's. */
export function blockCausalVisible(scaleOf: Uint8Array, query: number, key: number): boolean {
  return scaleOf[key] <= scaleOf[query];
}

/** Keys visible to a query in VAR's mask: [0, end of the query's scale). */
export function visibleKeyEnd(beginEnds: ReadonlyArray<readonly [number, number]>, query: number): number {
  return beginEnds[scaleOfIndex(beginEnds, query)][1];
}

/** Raster-order (token-by-token) causal visibility. */
export function rasterVisible(query: number, key: number): boolean {
  return key <= query;
}

/** Generation steps: one per scale for VAR, one per token of the last scale for a raster-order model of the same image grid. */
export function stepCounts(patchNums: readonly number[]): { var: number; raster: number } {
  const last = patchNums[patchNums.length - 1];
  return { var: patchNums.length, raster: last * last };
}

/** Scale boundaries as fractions of L, for drawing grid lines and labels. */
export function boundaryFractions(
  beginEnds: ReadonlyArray<readonly [number, number]>,
): Array<{ scaleIndex: number; start: number; end: number }> {
  const L = beginEnds[beginEnds.length - 1][1];
  return beginEnds.map(([b, e], scaleIndex) => ({ scaleIndex, start: b / L, end: e / L }));
}
