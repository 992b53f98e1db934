/**
 * Token edits with VAR's zero-shot in/out-painting semantics: scales before the edited one keep the source
 * tokens; the edited scale gets the new tokens (or fresh samples) at the chosen positions; at finer scales a
 * keep mask (finest-scale grid, 1 = keep the source token) is resized bilinearly (align_corners=False) to
 * each scale and > 0.5 keeps the source token, as in the official demo (scales with pn² <= 3 keep all).
 */
import type { BundleManifest } from '../../shared/manifest';
import { VarScopeError } from '../../shared/errors';

/** What to change. */
export interface TokenEdit {
  scaleIndex: number;
  positions: number[];
  tokens: number[] | 'resample';
  keepMask?: Uint8Array;
}

/** Per scale, the tokens to force (-1 = let the model sample). */
export function editForcing(m: BundleManifest, source: Int32Array[], edit: TokenEdit): Int32Array[] {
  const SN = m.patchNums.length;
  const V = m.vae.vocabSize;
  const { scaleIndex: s, positions } = edit;
  if (source.length !== SN || source.some((t, k) => t.length !== m.patchNums[k] ** 2))
    throw new VarScopeError('BadRequest', `source tokens must have ${SN} scales of pn² tokens`);
  if (!Number.isInteger(s) || s < 0 || s >= SN) throw new VarScopeError('BadRequest', `scale ${s} outside 0..${SN - 1}`);
  const pn = m.patchNums[s];
  for (const p of positions)
    if (!Number.isInteger(p) || p < 0 || p >= pn * pn)
      throw new VarScopeError('BadRequest', `position ${p} outside scale ${s} (${pn}x${pn})`);
  if (edit.tokens !== 'resample') {
    if (edit.tokens.length !== positions.length) throw new VarScopeError('BadRequest', 'tokens and positions differ in length');
    for (const t of edit.tokens)
      if (!Number.isInteger(t) || t < 0 || t >= V) throw new VarScopeError('BadRequest', `token ${t} outside 0..${V - 1}`);
  }
  const last = m.patchNums[SN - 1];
  const keep = edit.keepMask ?? footprintKeepMask(pn, positions, last);
  if (keep.length !== last * last) throw new VarScopeError('BadRequest', `keepMask must have ${last * last} values`);
  return m.patchNums.map((pk, k) => {
    if (k < s) return Int32Array.from(source[k]);
    if (k === s) {
      const f = Int32Array.from(source[k]);
      positions.forEach((p, i) => (f[p] = edit.tokens === 'resample' ? -1 : edit.tokens[i]));
      return f;
    }
    const kept = resizeMask(keep, last, pk);
    return Int32Array.from(source[k], (t, i) => (pk * pk <= 3 || kept[i] ? t : -1));
  });
}

/** Keep mask (last×last) that is 0 over the cells of `positions` at a scale of side pn. */
export function footprintKeepMask(pn: number, positions: number[], last: number): Uint8Array {
  const chosen = new Set(positions);
  const keep = new Uint8Array(last * last);
  for (let y = 0; y < last; y++) {
    for (let x = 0; x < last; x++) {
      const cell = Math.floor(((y + 0.5) * pn) / last) * pn + Math.floor(((x + 0.5) * pn) / last);
      keep[y * last + x] = chosen.has(cell) ? 0 : 1;
    }
  }
  return keep;
}

/**
 * Bilinear (align_corners=False, no antialias) resize of a 0/1 mask from n×n to pn×pn, thresholded at > 0.5.
 * NOTE: rounded like PyTorch's CPU kernel (scale in float32, source index in double, weights and sums in
 * float32): many cells land on 0.5 up to rounding, so any other rounding flips some of them.
 */
export function resizeMask(mask: Uint8Array, n: number, pn: number): Uint8Array {
  const f = Math.fround;
  const out = new Uint8Array(pn * pn);
  const scale = f(n / pn);
  const src = (d: number) => {
    let s = scale * (d + 0.5) - 0.5;
    if (s < 0) s = 0;
    const i0 = Math.floor(s);
    const i1 = i0 < n - 1 ? i0 + 1 : i0;
    const l1 = f(s - i0);
    return [i0, i1, f(1 - l1), l1] as const;
  };
  for (let y = 0; y < pn; y++) {
    const [y0, y1, h0, h1] = src(y);
    for (let x = 0; x < pn; x++) {
      const [x0, x1, w0, w1] = src(x);
      const top = f(f(w0 * mask[y0 * n + x0]) + f(w1 * mask[y0 * n + x1]));
      const bottom = f(f(w0 * mask[y1 * n + x0]) + f(w1 * mask[y1 * n + x1]));
      const v = f(f(h0 * top) + f(h1 * bottom));
      out[y * pn + x] = v > 0.5 ? 1 : 0;
    }
  }
  return out;
}
