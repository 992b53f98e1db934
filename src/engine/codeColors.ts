/**
 * A stable colour per code: the codebook [V, C] projected on its first three principal axes, mapped to RGB.
 * "Stable": power iteration from a fixed start, each axis signed so its largest loading is positive.
 */

/** RGB bytes per code (V*3) from a PCA of the codebook [V, C]. */
export function codeColors(codebook: Float32Array, V: number, C: number): Uint8Array {
  const mean = new Float64Array(C);
  for (let v = 0; v < V; v++) for (let c = 0; c < C; c++) mean[c] += codebook[v * C + c] / V;
  const cov = new Float64Array(C * C); // [C, C]
  for (let v = 0; v < V; v++) {
    for (let a = 0; a < C; a++) {
      const da = codebook[v * C + a] - mean[a];
      for (let b = a; b < C; b++) cov[a * C + b] += da * (codebook[v * C + b] - mean[b]);
    }
  }
  for (let a = 0; a < C; a++) for (let b = 0; b < a; b++) cov[a * C + b] = cov[b * C + a];
  const axes: Float64Array[] = [];
  for (let k = 0; k < Math.min(3, C); k++) {
    let x = new Float64Array(C).map((_, i) => 1 + 0.1 * i);
    let lambda = 0;
    for (let it = 0; it < 200; it++) {
      const y = new Float64Array(C);
      for (let a = 0; a < C; a++) for (let b = 0; b < C; b++) y[a] += cov[a * C + b] * x[b];
      for (const u of axes) {
        const d = dot(y, u); // deflate: keep the axis orthogonal to earlier ones
        for (let a = 0; a < C; a++) y[a] -= d * u[a];
      }
      lambda = Math.hypot(...y);
      if (lambda < 1e-20) break;
      x = y.map((e) => e / lambda);
    }
    let big = 0;
    for (let a = 0; a < C; a++) if (Math.abs(x[a]) > Math.abs(x[big])) big = a;
    if (x[big] < 0) x = x.map((e) => -e);
    axes.push(x);
  }
  const out = new Uint8Array(V * 3).fill(128);
  axes.forEach((u, k) => {
    const proj = new Float64Array(V);
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += (codebook[v * C + c] - mean[c]) * u[c];
      proj[v] = s;
    }
    const sorted = Float64Array.from(proj).sort();
    const lo = sorted[Math.floor(0.02 * (V - 1))];
    const hi = sorted[Math.ceil(0.98 * (V - 1))];
    const span = hi - lo || 1;
    for (let v = 0; v < V; v++) out[v * 3 + k] = Math.round(255 * Math.min(1, Math.max(0, (proj[v] - lo) / span)));
  });
  return out;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
