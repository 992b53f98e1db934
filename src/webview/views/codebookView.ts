/** Codebook usage: rank-frequency histograms overall and per scale (log axis), dead codes, perplexity; image, folder or training counts. */
import { select } from 'd3';
import type { CodebookUsage } from '../../shared/results';
import { deadCodes } from '../geometry/histogram';
import { scaleLabel } from '../geometry/scales';
import type { InspectorState } from '../store';
import { button, placeholder, segmented } from '../ui/controls';
import { makeHistogram, type HistogramCanvas } from '../ui/histogramCanvas';
import { makeScaleChart } from '../ui/scaleChart';
import type { View, ViewContext } from './view';

type Source = InspectorState['codebookSource'];

/** The usage a source shows, or null while it is not available. */
export function usageFor(st: InspectorState, source: Source): CodebookUsage | null {
  if (source === 'image') return st.inspect.value?.codebook ?? null;
  if (source === 'folder') return st.folderUsage?.usage ?? null;
  return st.trainingUsage.value ?? null;
}

/** Create the codebook view. */
export function createCodebookView(ctx: ViewContext): View {
  const { doc, store, host } = ctx;
  const root = doc.createElement('section');
  root.className = 'view view-codebook';
  const toolbar = select(root).append('div').attr('class', 'toolbar');
  const source = segmented(doc, 'Counts from', [
    { value: 'image', label: 'This image' },
    { value: 'folder', label: 'Folder' },
    { value: 'training', label: 'Training (checkpoint)' },
  ], (v) => store.update({ codebookSource: v as Source }));
  toolbar.node()!.append(source.root);
  toolbar.node()!.append(button(doc, 'Count a folder…', () => void host.call('runCommand', { command: 'varscope.evaluateFolder' }).catch((e) => store.pushError('evaluateFolder', e)), 'Count codebook usage over a folder of images'));
  const folderStatus = toolbar.append('span').attr('class', 'hint folder-status');
  const hoverLine = toolbar.append('span').attr('class', 'hint hover-code').attr('aria-live', 'polite');
  const empty = placeholder(doc);
  root.append(empty.root);
  const body = select(root).append('div').attr('class', 'section');
  const stats = body.append('div').attr('class', 'stats');
  const top = body.append('div').attr('class', 'row');
  const onHover = (code: number | null, count: number): void => {
    hoverLine.text(code === null ? '' : `code ${code}: ${count} hit${count === 1 ? '' : 's'}`);
  };
  const onClick = (code: number): void => store.update((s) => ({ selectedCode: s.selectedCode === code ? null : code }));
  const overall = makeHistogram(doc, 'Rank-frequency of all codes, all scales', 640, 190, onHover, onClick);
  overall.root.classList.add('overall-histogram');
  top.node()!.append(overall.root);
  const perp = makeScaleChart(doc, { title: 'Perplexity per scale', yLabel: 'exp(entropy) (codes)', kind: 'bar', width: 320, format: (v) => v.toFixed(0) });
  top.node()!.append(perp.root);
  body.append('h4').text('Per scale');
  const grid = body.append('div').attr('class', 'hist-grid');
  let perScale: Array<{ h: HistogramCanvas; label: HTMLElement }> = [];
  let drawn: { usage: CodebookUsage | null; code: number | null; theme: number } = { usage: null, code: null, theme: -1 };

  const render = (st: InspectorState): void => {
    source.set(st.codebookSource);
    const f = st.folderUsage;
    folderStatus.text(f ? `folder: ${f.done}/${f.total} images${f.finished ? '' : ' (counting…)'}` : '');
    const usage = usageFor(st, st.codebookSource);
    const loading = st.codebookSource === 'image' ? st.inspect : st.codebookSource === 'training' ? st.trainingUsage : { status: f ? 'ready' as const : 'idle' as const };
    empty.show(usage ? { status: 'ready' } : loading, 'Counting…',
      st.codebookSource === 'folder' ? 'No folder counted yet: use “Count a folder…”.' : st.codebookSource === 'training' ? 'This checkpoint carries no training hit counts.' : '');
    body.attr('hidden', usage ? null : '');
    if (!usage || !st.model) return;
    if (drawn.usage === usage && drawn.code === st.selectedCode && drawn.theme === st.themeVersion) return;
    const theme = ctx.theme();
    const V = st.model.vocabSize;
    const usageChanged = drawn.usage !== usage || drawn.theme !== st.themeVersion;
    stats.selectAll('*').remove();
    const stat = (label: string, value: string, cls: string): void => {
      const d = stats.append('div').attr('class', `stat ${cls}`);
      d.append('span').attr('class', 'stat-value').text(value);
      d.append('span').attr('class', 'stat-label').text(label);
    };
    const dead = deadCodes(usage.overall);
    stat('codes used', `${V - dead} / ${V}`, 'stat-used');
    // one image has at most L tokens: a code it does not use is not dead, only unused here
    const deadLabel = st.codebookSource === 'image' ? 'codes unused in this image' : st.codebookSource === 'folder' ? 'codes unused in this folder' : 'dead codes';
    stat(deadLabel, `${dead} (${((dead / V) * 100).toFixed(1)}%)`, 'stat-dead');
    stat('perplexity', usage.perplexity.toFixed(1), 'stat-perplexity');
    if (usage.images !== undefined) stat('images', String(usage.images), 'stat-images');
    if (st.selectedCode !== null) stat(`hits of code ${st.selectedCode}`, String(usage.overall[st.selectedCode]), 'stat-code');
    overall.update(usage.overall, theme, st.selectedCode);
    overall.canvas.dataset.bins = String(usage.overall.length);
    if (usageChanged) perp.update(st.model.patchNums, [{ name: 'perplexity', values: usage.perplexityPerScale }], st.focusScale);
    if (perScale.length !== usage.perScale.length) {
      grid.selectAll('*').remove();
      perScale = usage.perScale.map((_, k) => {
        const cell = grid.append('div').attr('class', 'hist-cell').attr('data-scale', k);
        const h = makeHistogram(doc, `Rank-frequency at scale ${k + 1}`, 180, 64, onHover, onClick, true);
        cell.node()!.append(h.root);
        const label = cell.append('span').attr('class', 'stat-label').node()!;
        return { h, label };
      });
    }
    usage.perScale.forEach((counts, k) => {
      const pn = st.model!.patchNums[k];
      const deadK = usageChanged ? deadCodes(counts) : 0;
      // One image uses at most pn² codes at a scale: show those ranks, not V mostly empty bins.
      perScale[k].h.update(counts, theme, st.selectedCode, Math.max(pn * pn, V - (usageChanged ? deadK : deadCodes(counts))));
      if (usageChanged) perScale[k].label.textContent = `${scaleLabel(k, pn)} · ${V - deadK} used · perplexity ${usage.perplexityPerScale[k].toFixed(1)}`;
    });
    drawn = { usage, code: st.selectedCode, theme: st.themeVersion };
  };

  return {
    root,
    update: (st) => render(st),
    resize() {},
    dispose() {
      root.remove();
    },
    exportData() {
      const st = store.state;
      const u = usageFor(st, st.codebookSource);
      return u && { view: 'codebook', source: st.codebookSource, overall: u.overall, perScale: u.perScale, used: u.used, perplexity: u.perplexity, perplexityPerScale: u.perplexityPerScale, images: u.images };
    },
  };
}
