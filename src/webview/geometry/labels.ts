/** Placement of text labels beside a chart. */

/**
 * Vertical positions for labels wanted at `ys` (any order) so that no two are closer than `gap`: in order from top
 * to bottom each label goes at least `gap` below the previous one, then the whole set moves up by half of what the
 * last one was pushed down, so the spread is centred on where the labels wanted to be. Returns positions in the
 * order of `ys`.
 */
export function spreadLabels(ys: number[], gap: number): number[] {
  const order = ys.map((_, i) => i).sort((a, b) => ys[a] - ys[b]);
  const placed = order.map((i) => ys[i]);
  for (let k = 1; k < placed.length; k++) placed[k] = Math.max(placed[k], placed[k - 1] + gap);
  const shift = placed.length ? (placed[placed.length - 1] - ys[order[order.length - 1]]) / 2 : 0;
  const out = new Array<number>(ys.length);
  order.forEach((i, k) => (out[i] = placed[k] - shift));
  return out;
}
