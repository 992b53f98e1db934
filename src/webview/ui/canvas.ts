/** Canvas helpers: device-pixel-ratio aware sizing, RGBA images and heatmaps. */
import { select } from 'd3';
import type { RgbaImage } from '../../shared/results';
import { sequentialLut } from '../geometry/colorMaps';

const LUT = sequentialLut();

/** Size a canvas to `w`×`h` CSS pixels backed by w·dpr×h·dpr device pixels; returns a context in CSS pixel units. */
export function sizeCanvas(canvas: HTMLCanvasElement, w: number, h: number): CanvasRenderingContext2D {
  const dpr = (canvas.ownerDocument.defaultView ?? window).devicePixelRatio || 1;
  const W = Math.max(1, Math.round(w * dpr));
  const H = Math.max(1, Math.round(h * dpr));
  if (canvas.width !== W) canvas.width = W;
  if (canvas.height !== H) canvas.height = H;
  select(canvas).style('width', `${w}px`).style('height', `${h}px`);
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

/** A canvas element in `doc` with a class and an accessible label. */
export function makeCanvas(doc: Document, cls: string, label: string): HTMLCanvasElement {
  const c = doc.createElement('canvas');
  c.className = cls;
  c.setAttribute('role', 'img');
  c.setAttribute('aria-label', label);
  return c;
}

/**
 * Draw an RGBA image scaled to `size` CSS pixels wide and `height` high (default: its own aspect), nearest neighbour
 * so tokens stay crisp.
 */
export function drawRgba(
  canvas: HTMLCanvasElement,
  img: RgbaImage,
  size: number,
  height = Math.round((size * img.height) / img.width),
): CanvasRenderingContext2D {
  const ctx = sizeCanvas(canvas, size, height);
  const src = canvas.ownerDocument.createElement('canvas');
  src.width = img.width;
  src.height = img.height;
  src.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(img.data), img.width, img.height), 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, size, height);
  ctx.drawImage(src, 0, 0, size, height);
  return ctx;
}

/** A side×side (or side wide × height high) scalar map as an RGBA image through the sequential colour map over [lo, hi]. */
export function heatmapImage(values: ArrayLike<number>, side: number, lo: number, hi: number, height = side): RgbaImage {
  const data = new Uint8ClampedArray(side * height * 4);
  const span = hi - lo || 1;
  for (let i = 0; i < side * height; i++) {
    const t = Math.max(0, Math.min(255, Math.round(((values[i] - lo) / span) * 255)));
    data[i * 4] = LUT[t * 3];
    data[i * 4 + 1] = LUT[t * 3 + 1];
    data[i * 4 + 2] = LUT[t * 3 + 2];
    data[i * 4 + 3] = 255;
  }
  return { width: side, height, data };
}

/** Stroke a normalised region ([0,1]²) on a canvas drawn `size` CSS pixels wide. */
export function strokeRegion(
  ctx: CanvasRenderingContext2D,
  r: { x0: number; y0: number; x1: number; y1: number },
  size: number,
  color: string,
): void {
  ctx.save();
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.strokeRect(r.x0 * size + 1, r.y0 * size + 1, (r.x1 - r.x0) * size - 2, (r.y1 - r.y0) * size - 2);
  ctx.restore();
}
