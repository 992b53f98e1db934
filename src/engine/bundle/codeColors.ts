/**
 * A stable colour per code: the codebook [V, C] projected on its first three principal axes, one axis per RGB channel.
 * The PCA is weighted by how often the checkpoint used each code in training (quantize.ema_vocab_hit_SV), so the axes
 * describe the codes that actually occur rather than the many rarely used ones around them; each channel is then
 * the code's rank in the hit-weighted distribution along its axis (a weighted CDF), so the used codes spread over
 * the whole 0-255 range instead of sharing the middle of it. Without hit counts every code weighs the same.
 * "Stable": an exact Jacobi eigensolver (no random start), each axis signed so its largest loading is positive,
 * ties broken by index: the same bundle always gives the same colours.
 */

/** Share of the mean hit count every code gets on top of its own hits: keeps unused codes ordered along each axis
 *  (a zero weight would give all of them one rank) without letting them pull the fit. */
const FLOOR = 0.01;

/** RGB bytes per code (V*3) from a hit-weighted PCA of the codebook [V, C]; `hits` is [SN, V] or [V] (absent: unweighted). */
export function codeColors(codebook: Float32Array, V: number, C: number, hits?: Float32Array): Uint8Array {
  const w = codeWeights(V, hits);
  const { mean, axes } = weightedPca(codebook, V, C, w, 3);
  const out = new Uint8Array(V * 3).fill(128);
  axes.forEach((u, k) => {
    const proj = new Float64Array(V); // [V] coordinate along axis k
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += (codebook[v * C + c] - mean[c]) * u[c];
      proj[v] = s;
    }
    const cdf = weightedRanks(proj, w);
    for (let v = 0; v < V; v++) out[v * 3 + k] = Math.round(255 * cdf[v]);
  });
  return out;
}

/** Weight of each code [V]: its training hits summed over scales plus a small floor; all ones without usable hits. */
export function codeWeights(V: number, hits?: Float32Array): Float64Array {
  const w = new Float64Array(V);
  if (!hits || hits.length === 0 || hits.length % V !== 0) return w.fill(1);
  for (let i = 0; i < hits.length; i++) {
    const h = hits[i];
    if (h > 0 && Number.isFinite(h)) w[i % V] += h; // [SN, V] row-major: i % V is the code
  }
  let total = 0;
  for (let v = 0; v < V; v++) total += w[v];
  if (!(total > 0)) return w.fill(1);
  const floor = (FLOOR * total) / V;
  for (let v = 0; v < V; v++) w[v] += floor;
  return w;
}

/** Weighted mean [C] and the first `count` principal axes (unit [C] each, by decreasing variance, largest loading positive). */
export function weightedPca(
  codebook: Float32Array,
  V: number,
  C: number,
  w: Float64Array,
  count: number,
): { mean: Float64Array; axes: Float64Array[]; variances: number[] } {
  let total = 0;
  for (let v = 0; v < V; v++) total += w[v];
  const mean = new Float64Array(C);
  for (let v = 0; v < V; v++) for (let c = 0; c < C; c++) mean[c] += (w[v] * codebook[v * C + c]) / total;
  const cov = new Float64Array(C * C); // [C, C]
  const d = new Float64Array(C);
  for (let v = 0; v < V; v++) {
    for (let c = 0; c < C; c++) d[c] = codebook[v * C + c] - mean[c];
    for (let a = 0; a < C; a++) for (let b = a; b < C; b++) cov[a * C + b] += (w[v] * d[a] * d[b]) / total;
  }
  for (let a = 0; a < C; a++) for (let b = 0; b < a; b++) cov[a * C + b] = cov[b * C + a];
  const { values, vectors } = symmetricEigen(cov, C);
  const axes = vectors.slice(0, Math.min(count, C)).map((u) => {
    let big = 0;
    for (let a = 1; a < C; a++) if (Math.abs(u[a]) > Math.abs(u[big]) + 1e-12) big = a;
    return u[big] < 0 ? u.map((e) => -e) : u;
  });
  return { mean, axes, variances: values.slice(0, axes.length) };
}

/** Eigen-decomposition of a symmetric [n, n] matrix by cyclic Jacobi rotations: eigenvalues descending, unit eigenvectors. */
export function symmetricEigen(matrix: Float64Array, n: number): { values: number[]; vectors: Float64Array[] } {
  const a = Float64Array.from(matrix);
  const q = new Float64Array(n * n); // columns are the eigenvectors
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += a[i] * a[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let r = p + 1; r < n; r++) off += a[p * n + r] * a[p * n + r];
    if (off <= 1e-30 * scale || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let r = p + 1; r < n; r++) {
        const apr = a[p * n + r];
        if (apr === 0) continue;
        // Rotation in the (p, r) plane that zeroes a[p, r] (Numerical Recipes' stable form of tan).
        const theta = (a[r * n + r] - a[p * n + p]) / (2 * apr);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const kp = a[k * n + p],
            kr = a[k * n + r];
          a[k * n + p] = c * kp - s * kr;
          a[k * n + r] = s * kp + c * kr;
        }
        for (let k = 0; k < n; k++) {
          const pk = a[p * n + k],
            rk = a[r * n + k];
          a[p * n + k] = c * pk - s * rk;
          a[r * n + k] = s * pk + c * rk;
        }
        for (let k = 0; k < n; k++) {
          const kp = q[k * n + p],
            kr = q[k * n + r];
          q[k * n + p] = c * kp - s * kr;
          q[k * n + r] = s * kp + c * kr;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j * n + j] - a[i * n + i] || i - j);
  return {
    values: order.map((i) => a[i * n + i]),
    vectors: order.map((i) => Float64Array.from({ length: n }, (_, k) => q[k * n + i])),
  };
}

/** Each value's position in the weighted distribution of `values`, in (0, 1): the weight below it plus half its own
 *  group's (equal values share one position). */
export function weightedRanks(values: Float64Array, w: Float64Array): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => values[i] - values[j] || i - j);
  let total = 0;
  for (let i = 0; i < n; i++) total += w[i];
  const out = new Float64Array(n);
  let below = 0;
  for (let g = 0; g < n;) {
    // A group holds at least its first value, so g always advances (NaN !== NaN would otherwise end no group).
    let e = g + 1;
    let groupW = w[order[g]];
    while (e < n && values[order[e]] === values[order[g]]) groupW += w[order[e++]];
    const at = (below + groupW / 2) / total;
    for (let i = g; i < e; i++) out[order[i]] = at;
    below += groupW;
    g = e;
  }
  return out;
}
