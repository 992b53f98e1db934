/** Pure geometry of the codebook histograms: rank-frequency curves, dead codes, perplexity. */

/** Counts sorted descending with their code ids (ties by id): the rank-frequency curve. */
export function rankFrequency(counts: ArrayLike<number>): { ids: Int32Array; counts: Float64Array } {
  const n = counts.length;
  const ids = new Int32Array(n);
  let max = 0;
  let integral = true;
  for (let i = 0; i < n; i++) {
    if (counts[i] > max) max = counts[i];
    if (!Number.isInteger(counts[i]) || counts[i] < 0) integral = false;
  }
  const idBits = Math.ceil(Math.log2(n + 1));
  if (integral && max * 2 ** idBits < 2 ** 52) {
    // Integer counts: pack (max − count, id) into one exact float and use the native numeric sort (no comparator).
    const keys = new Float64Array(n);
    const m = 2 ** idBits;
    for (let i = 0; i < n; i++) keys[i] = (max - counts[i]) * m + i;
    keys.sort();
    for (let i = 0; i < n; i++) ids[i] = keys[i] % m;
  } else {
    for (let i = 0; i < n; i++) ids[i] = i;
    ids.sort((a, b) => counts[b] - counts[a] || a - b);
  }
  const sorted = new Float64Array(n);
  for (let i = 0; i < n; i++) sorted[i] = counts[ids[i]];
  return { ids, counts: sorted };
}

/** Number of codes with no hit. */
export function deadCodes(counts: ArrayLike<number>): number {
  let dead = 0;
  for (let i = 0; i < counts.length; i++) if (!(counts[i] > 0)) dead++;
  return dead;
}

/** exp(entropy) of a count vector (1 = one code used, V = uniform). */
export function perplexityOf(counts: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (total <= 0) return 0;
  let h = 0;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] > 0) {
      const p = counts[i] / total;
      h -= p * Math.log(p);
    }
  }
  return Math.exp(h);
}

/** Bar rectangles of a rank-frequency histogram on a log count axis: x spans bins, y = log10(count+1). */
export function logBars(
  sorted: ArrayLike<number>,
  width: number,
  height: number,
  maxCount: number,
): Array<{ x: number; w: number; h: number }> {
  const n = sorted.length;
  const w = width / n;
  const top = Math.log10(maxCount + 1) || 1;
  const out: Array<{ x: number; w: number; h: number }> = new Array(n);
  for (let i = 0; i < n; i++) out[i] = { x: i * w, w, h: (Math.log10(sorted[i] + 1) / top) * height };
  return out;
}

/** Sum of per-scale count rows (Int32Array or Float64Array) into one Float64Array. */
export function sumRows(rows: ReadonlyArray<ArrayLike<number>>, v: number): Float64Array {
  const out = new Float64Array(v);
  for (const row of rows) for (let i = 0; i < v; i++) out[i] += row[i];
  return out;
}
