/** A categorical key: coloured swatches (theme classes, no inline colours) with labels, for masks and outlines. */

/** Build a key; each item's `swatch` names a CSS class of styles/main.css (swatch-accent, swatch-good, …). */
export function makeSwatchKey(doc: Document, label: string, items: Array<{ swatch: string; text: string }>): HTMLElement {
  const root = doc.createElement('div');
  root.className = 'swatch-key';
  root.setAttribute('role', 'list');
  root.setAttribute('aria-label', label);
  for (const it of items) {
    const item = doc.createElement('span');
    item.className = 'swatch-item';
    item.setAttribute('role', 'listitem');
    const sw = doc.createElement('span');
    sw.className = `swatch ${it.swatch}`;
    const t = doc.createElement('span');
    t.textContent = it.text;
    item.append(sw, t);
    root.append(item);
  }
  return root;
}
