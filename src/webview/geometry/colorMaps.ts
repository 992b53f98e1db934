/** Colour maps for data (pure): token colours by embedding or id, and a perceptual sequential map for heatmaps. */

/** RGB of a token coloured by its code embedding (ModelInfo.codeColors, V*3 bytes). */
export function embeddingColor(codeColors: Uint8Array, id: number): [number, number, number] {
  return [codeColors[id * 3], codeColors[id * 3 + 1], codeColors[id * 3 + 2]];
}

/** A categorical RGB per token id: golden-ratio hue steps so neighbouring ids differ. */
export function idColor(id: number): [number, number, number] {
  const h = ((id * 0.618033988749895) % 1) * 6;
  const s = 0.65;
  const l = 0.55;
  const c = (1 - Math.abs(2 * l - 1)) * s;
  const x = c * (1 - Math.abs((h % 2) - 1));
  const m = l - c / 2;
  const [r, g, b] = h < 1 ? [c, x, 0] : h < 2 ? [x, c, 0] : h < 3 ? [0, c, x] : h < 4 ? [0, x, c] : h < 5 ? [x, 0, c] : [c, 0, x];
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)];
}

/** CSS rgb() of a triple. */
export function rgbCss([r, g, b]: readonly [number, number, number]): string {
  return `rgb(${r}, ${g}, ${b})`;
}

// Viridis control points (matplotlib), interpolated linearly: perceptually even and readable in every theme.
const VIRIDIS: Array<[number, number, number]> = [
  [68, 1, 84],
  [72, 35, 116],
  [64, 67, 135],
  [52, 94, 141],
  [41, 120, 142],
  [32, 144, 140],
  [34, 167, 132],
  [68, 190, 112],
  [121, 209, 81],
  [189, 222, 38],
  [253, 231, 37],
];

/** Sequential colour for t in [0,1] (clamped). */
export function sequential(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i];
  const b = VIRIDIS[i + 1];
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

/** 256-entry RGB lookup table of the sequential map, for filling canvases fast. */
export function sequentialLut(): Uint8Array {
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) lut.set(sequential(i / 255), i * 3);
  return lut;
}

/** Parse a CSS colour of the forms #rgb, #rrggbb, #rrggbbaa, rgb(), rgba() into RGB; null when unknown. */
export function parseCssColor(s: string): [number, number, number] | null {
  const t = s.trim();
  let m = /^#([0-9a-f]{3})$/i.exec(t);
  if (m) return [0, 1, 2].map((i) => parseInt(m![1][i] + m![1][i], 16)) as [number, number, number];
  m = /^#([0-9a-f]{6})([0-9a-f]{2})?$/i.exec(t);
  if (m) return [0, 2, 4].map((i) => parseInt(m![1].slice(i, i + 2), 16)) as [number, number, number];
  m = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)/i.exec(t);
  if (m) return [Math.round(+m[1]), Math.round(+m[2]), Math.round(+m[3])];
  return null;
}
