/** Colours of the current VS Code theme, read from its --vscode-* CSS variables for canvas drawing. */
import { parseCssColor } from './geometry/colorMaps';

/** Theme colours as CSS strings (canvas fillStyle) and RGB triples (ImageData). */
export interface ThemeColors {
  kind: 'light' | 'dark' | 'high-contrast' | 'high-contrast-light';
  foreground: string;
  background: string;
  muted: string;
  border: string;
  focus: string;
  accent: string;
  accentRgb: [number, number, number];
  backgroundRgb: [number, number, number];
  mutedRgb: [number, number, number];
  warn: string;
  error: string;
  good: string;
}

function v(style: CSSStyleDeclaration, name: string, fallback: string): string {
  const s = style.getPropertyValue(name).trim();
  return s || fallback;
}

/** Read the theme from the body's computed style and class. */
export function readTheme(doc: Document): ThemeColors {
  const body = doc.body;
  const cls = body.classList;
  const kind: ThemeColors['kind'] = cls.contains('vscode-high-contrast-light')
    ? 'high-contrast-light'
    : cls.contains('vscode-high-contrast')
      ? 'high-contrast'
      : cls.contains('vscode-light')
        ? 'light'
        : 'dark';
  const light = kind === 'light' || kind === 'high-contrast-light';
  const style = (doc.defaultView ?? window).getComputedStyle(body);
  const foreground = v(style, '--vscode-editor-foreground', v(style, '--vscode-foreground', light ? '#333333' : '#cccccc'));
  const background = v(style, '--vscode-editor-background', light ? '#ffffff' : '#1e1e1e');
  const muted = v(style, '--vscode-descriptionForeground', light ? '#717171' : '#9d9d9d');
  const accent = v(style, '--vscode-charts-blue', light ? '#1a85ff' : '#3794ff');
  return {
    kind,
    foreground,
    background,
    muted,
    border: v(style, '--vscode-panel-border', light ? '#e5e5e5' : '#2b2b2b'),
    focus: v(style, '--vscode-focusBorder', light ? '#0090f1' : '#007fd4'),
    accent,
    accentRgb: parseCssColor(accent) ?? [55, 148, 255],
    backgroundRgb: parseCssColor(background) ?? (light ? [255, 255, 255] : [30, 30, 30]),
    mutedRgb: parseCssColor(muted) ?? [128, 128, 128],
    warn: v(style, '--vscode-charts-orange', '#d18616'),
    error: v(style, '--vscode-errorForeground', '#f48771'),
    good: v(style, '--vscode-charts-green', '#89d185'),
  };
}

/** Call `onChange` when the host switches theme (it rewrites the body's class and style attributes). */
export function watchTheme(doc: Document, onChange: () => void): () => void {
  const obs = new MutationObserver(() => onChange());
  // NOTE: VS Code puts the --vscode-* variables on <html style> and the theme kind on <body class>.
  obs.observe(doc.body, { attributes: true, attributeFilter: ['class', 'style', 'data-vscode-theme-kind'] });
  obs.observe(doc.documentElement, { attributes: true, attributeFilter: ['class', 'style'] });
  return () => obs.disconnect();
}
