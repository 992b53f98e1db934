/** Export of a view: PNG and SVG composed from its canvases, SVGs and captions; JSON of its data. The host asks where to save. */
import type { ExportFormat, ViewId } from '../shared/protocol';
import type { HostChannel } from './hostBridge';
import { readTheme } from './theme';
import type { View } from './views/view';

const SVGNS = 'http://www.w3.org/2000/svg';

interface Piece {
  kind: 'canvas' | 'svg' | 'text';
  el: Element;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The visible drawable pieces of a view, positioned relative to its root. */
function pieces(root: HTMLElement): { pieces: Piece[]; width: number; height: number } {
  const box = root.getBoundingClientRect();
  const out: Piece[] = [];
  const add = (kind: Piece['kind'], el: Element): void => {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) out.push({ kind, el, x: r.left - box.left, y: r.top - box.top, w: r.width, h: r.height });
  };
  root.querySelectorAll('canvas').forEach((c) => add('canvas', c));
  // Only outermost SVGs: nested ones come along with their parent.
  root.querySelectorAll('svg').forEach((s) => {
    if (!s.parentElement?.closest('svg')) add('svg', s);
  });
  // headings, captions, legends, stats and detail tables (dt / dd: e.g. the hovered token's facts)
  root.querySelectorAll('figcaption, h3, h4, .legend-title, .stat, dt, dd').forEach((t) => add('text', t));
  return { pieces: out, width: Math.ceil(box.width), height: Math.ceil(box.height) };
}

/** Copy the computed paint of every SVG element onto a clone so the file renders without our CSS. */
function inlineSvg(src: SVGSVGElement): SVGSVGElement {
  const clone = src.cloneNode(true) as SVGSVGElement;
  const a = src.querySelectorAll('*');
  const b = clone.querySelectorAll('*');
  const win = src.ownerDocument.defaultView!;
  a.forEach((el, i) => {
    const cs = win.getComputedStyle(el);
    const t = b[i] as SVGElement;
    for (const p of ['fill', 'stroke', 'stroke-width', 'opacity', 'font-size', 'font-family', 'text-anchor', 'dominant-baseline']) {
      const v = cs.getPropertyValue(p);
      if (v) t.setAttribute(p, v);
    }
  });
  clone.setAttribute('xmlns', SVGNS);
  return clone;
}

/** The view as a standalone SVG document. */
export function viewToSvg(doc: Document, root: HTMLElement): string {
  const { pieces: ps, width, height } = pieces(root);
  const theme = readTheme(doc);
  const svg = doc.createElementNS(SVGNS, 'svg');
  svg.setAttribute('xmlns', SVGNS);
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const bg = doc.createElementNS(SVGNS, 'rect');
  bg.setAttribute('width', '100%');
  bg.setAttribute('height', '100%');
  bg.setAttribute('fill', theme.background);
  svg.append(bg);
  for (const p of ps) {
    if (p.kind === 'canvas') {
      const img = doc.createElementNS(SVGNS, 'image');
      img.setAttribute('href', (p.el as HTMLCanvasElement).toDataURL('image/png'));
      for (const [k, v] of Object.entries({ x: p.x, y: p.y, width: p.w, height: p.h })) img.setAttribute(k, String(v));
      svg.append(img);
    } else if (p.kind === 'svg') {
      const c = inlineSvg(p.el as SVGSVGElement);
      c.setAttribute('x', String(p.x));
      c.setAttribute('y', String(p.y));
      svg.append(c);
    } else {
      const t = doc.createElementNS(SVGNS, 'text');
      t.setAttribute('x', String(p.x));
      t.setAttribute('y', String(p.y + p.h * 0.8));
      t.setAttribute('fill', theme.foreground);
      t.setAttribute('font-family', 'sans-serif');
      t.setAttribute('font-size', '12');
      t.textContent = p.el.textContent ?? '';
      svg.append(t);
    }
  }
  return new XMLSerializer().serializeToString(svg);
}

/** The view as PNG bytes, drawn at the device pixel ratio. */
export async function viewToPng(doc: Document, root: HTMLElement): Promise<Uint8Array> {
  const { pieces: ps, width, height } = pieces(root);
  const theme = readTheme(doc);
  const dpr = doc.defaultView?.devicePixelRatio || 1;
  const canvas = doc.createElement('canvas');
  canvas.width = Math.max(1, Math.round(width * dpr));
  canvas.height = Math.max(1, Math.round(height * dpr));
  const ctx = canvas.getContext('2d')!;
  ctx.scale(dpr, dpr);
  ctx.fillStyle = theme.background;
  ctx.fillRect(0, 0, width, height);
  for (const p of ps) {
    if (p.kind === 'canvas') ctx.drawImage(p.el as HTMLCanvasElement, p.x, p.y, p.w, p.h);
    else if (p.kind === 'svg') {
      const text = new XMLSerializer().serializeToString(inlineSvg(p.el as SVGSVGElement));
      const img = new Image();
      img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(text)}`;
      await img.decode();
      ctx.drawImage(img, p.x, p.y, p.w, p.h);
    } else {
      ctx.fillStyle = theme.foreground;
      ctx.font = '12px sans-serif';
      ctx.fillText(p.el.textContent ?? '', p.x, p.y + p.h * 0.8);
    }
  }
  const blob = await new Promise<Blob>((res, rej) =>
    canvas.toBlob((b) => (b ? res(b) : rej(new Error('PNG encoding failed'))), 'image/png'),
  );
  return new Uint8Array(await blob.arrayBuffer());
}

/** JSON text of a view's data; typed arrays become plain arrays. */
export function viewToJson(data: unknown): string {
  return JSON.stringify(
    data,
    (_k, v) => (ArrayBuffer.isView(v) && !(v instanceof DataView) ? Array.from(v as unknown as ArrayLike<number>) : v),
    1,
  );
}

/** Export the active view in a format through the host's save dialog. */
export async function exportView(doc: Document, host: HostChannel, id: ViewId, view: View, format: ExportFormat): Promise<string | null> {
  const name = `varscope-${id}`;
  if (format === 'json')
    return host.call('saveExport', { suggestedName: `${name}.json`, mime: 'application/json', data: viewToJson(view.exportData()) });
  if (format === 'svg')
    return host.call('saveExport', { suggestedName: `${name}.svg`, mime: 'image/svg+xml', data: viewToSvg(doc, view.root) });
  return host.call('saveExport', { suggestedName: `${name}.png`, mime: 'image/png', data: await viewToPng(doc, view.root) });
}
