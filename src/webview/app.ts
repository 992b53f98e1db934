/** The panel shell: header (image, model, provider), tabs, in-place errors, and the active view. */
import { select } from 'd3';
import type { ModelFamily } from '../shared/manifest';
import { EXPORT_MIMES, type ExportFormat, type ViewId } from '../shared/protocol';
import type { InspectorState } from './store';
import { stepGeneration } from './actions';
import { exportView } from './export';
import type { View, ViewContext, ViewFactory } from './views/view';

/**
 * A tab: its id, label and a factory per model family it supports. A family without one does not show the tab (a
 * tab that could only say "not available" is a dead click; the README lists what each family shows).
 */
export interface TabSpec {
  id: ViewId;
  label: string;
  create: Partial<Record<ModelFamily, ViewFactory>>;
}

/** The tabs a family shows, in order. */
export function tabsOf(tabs: readonly TabSpec[], family: ModelFamily): TabSpec[] {
  return tabs.filter((t) => t.create[family]);
}

/** The mounted shell. */
export interface App {
  root: HTMLElement;
  /** The view of a tab (created on first use). */
  view(id: ViewId): View;
  dispose(): void;
}

/** Build the shell into a detached element. */
export function createApp(ctx: ViewContext, tabs: TabSpec[]): App {
  const { doc, store, host } = ctx;
  const root = doc.createElement('div');
  root.className = 'app';
  const header = select(root).append('header').attr('class', 'app-header');
  const thumb = header.append('img').attr('class', 'thumb').attr('alt', '').attr('hidden', '');
  const titles = header.append('div').attr('class', 'titles');
  const imageName = titles.append('h1').attr('class', 'image-name');
  const meta = titles.append('div').attr('class', 'meta');
  const modelName = meta.append('span').attr('class', 'model-name');
  const provider = meta.append('span').attr('class', 'provider badge');
  const modelShape = meta.append('span').attr('class', 'model-shape muted');
  const gpuNote = meta.append('span').attr('class', 'gpu-note').attr('hidden', '');
  const progress = meta.append('span').attr('class', 'progress muted').attr('role', 'status');
  const actions = header.append('div').attr('class', 'header-actions');
  actions
    .append('button')
    .attr('type', 'button')
    .attr('class', 'choose-model')
    .attr('aria-label', 'Choose model')
    .text('Model…')
    .on('click', () => void host.call('runCommand', { command: 'varscope.chooseModel' }).catch((e) => store.pushError('chooseModel', e)));
  // Offered while the model cannot be opened: the log holds the whole story (every problem, the file, the command).
  const showLog = actions
    .append('button')
    .attr('type', 'button')
    .attr('class', 'show-log')
    .attr('hidden', '')
    .text('Show Log')
    .on('click', () => void host.call('runCommand', { command: 'varscope.showLog' }).catch((e) => store.pushError('showLog', e)));
  for (const fmt of Object.keys(EXPORT_MIMES) as ExportFormat[]) {
    actions
      .append('button')
      .attr('type', 'button')
      .attr('class', `export-${fmt}`)
      .attr('aria-label', `Export this view as ${fmt.toUpperCase()}`)
      .text(fmt.toUpperCase())
      .on('click', () => void runExport(fmt));
  }
  const errors = select(root).append('div').attr('class', 'errors').attr('role', 'alert');
  const tablist = select(root).append('div').attr('class', 'tabs').attr('role', 'tablist').attr('aria-label', 'Views');
  const main = select(root).append('main').attr('class', 'view-host');

  const views = new Map<ViewId, View>();
  // Views are built for the family they were created under: a new family rebuilds them.
  let family = store.state.family;
  const getView = (id: ViewId): View => {
    let v = views.get(id);
    if (!v) {
      const create = tabs.find((t) => t.id === id)!.create;
      v = (create[family] ?? create.var!)(ctx);
      v.root.id = `panel-${id}`;
      v.root.setAttribute('role', 'tabpanel');
      v.root.setAttribute('aria-labelledby', `tab-${id}`);
      main.node()!.append(v.root);
      views.set(id, v);
      v.update(store.state, null);
      v.resize(main.node()!.clientWidth);
    }
    return v;
  };

  tablist
    .selectAll('button')
    .data(tabs, (d) => (d as TabSpec).id)
    .join('button')
    .attr('type', 'button')
    .attr('role', 'tab')
    .attr('id', (d) => `tab-${d.id}`)
    .attr('aria-controls', (d) => `panel-${d.id}`)
    .attr('class', 'tab')
    .text((d) => d.label)
    .on('click', (_ev, d) => store.update((s) => ({ view: d.id, panel: { ...s.panel, view: d.id } })));
  const showTabsOf = (f: ModelFamily): void => {
    tablist.selectAll<HTMLButtonElement, TabSpec>('button').attr('hidden', (d) => (d.create[f] ? null : ''));
  };
  showTabsOf(family);

  const runExport = async (format: ExportFormat): Promise<void> => {
    try {
      await exportView(doc, host, store.state.view, getView(store.state.view), format);
    } catch (e) {
      store.pushError('export', e);
    }
  };
  const offExport = host.on('exportView', (p) => void runExport(p.format));

  const render = (s: InspectorState, prev: InspectorState | null): void => {
    if (s.family !== family) {
      family = s.family;
      for (const v of views.values()) v.dispose();
      views.clear();
      showTabsOf(family);
      const shown = tabsOf(tabs, family);
      if (!shown.some((t) => t.id === s.view)) {
        store.update((st) => ({ view: shown[0].id, panel: { ...st.panel, view: shown[0].id } }));
        return; // that update renders again
      }
      prev = null;
    }
    if (
      !prev ||
      s.imageName !== prev.imageName ||
      s.model !== prev.model ||
      s.bitsModel !== prev.bitsModel ||
      s.bitsInspect !== prev.bitsInspect ||
      s.modelError !== prev.modelError
    ) {
      const m = s.model ?? s.bitsModel;
      imageName.text(s.imageName ?? (s.initialised ? 'Generation' : 'Waiting for the extension…'));
      modelName.text(m ? m.name : s.modelError ? `No model: ${s.modelError.message}` : '');
      modelName.classed('is-error', !m && !!s.modelError);
      showLog.attr('hidden', !m && s.modelError ? null : '');
      provider
        .text(m ? m.provider.toUpperCase() : '')
        .attr('hidden', m ? null : '')
        .attr('title', m?.providerFallbacks.map((f) => `${f.provider}: ${f.reason}`).join('\n') ?? '');
      modelShape.text(modelShapeText(s));
      const note = gpuNoteText(s);
      gpuNote.text(note).attr('hidden', note ? null : '');
    }
    if (!prev || s.imageSrc !== prev.imageSrc) {
      // The host's preview of the image shows at once, before the engine has tokenized it.
      if (s.imageSrc) thumb.attr('src', s.imageSrc).attr('hidden', null);
      else thumb.attr('hidden', '');
    }
    if (!prev || s.progress !== prev.progress) {
      const pr = s.progress;
      progress.text(pr && pr.done < pr.total ? `${pr.message ?? 'Working'} ${pr.done}/${pr.total}` : '');
    }
    if (!prev || s.errors !== prev.errors) {
      errors
        .selectAll<HTMLDivElement, InspectorState['errors'][number]>('div.error')
        .data(s.errors, (d) => String(d.id))
        .join((enter) => {
          const div = enter.append('div').attr('class', 'error');
          div.append('span').attr('class', 'error-text');
          div
            .append('button')
            .attr('type', 'button')
            .attr('class', 'dismiss')
            .attr('aria-label', 'Dismiss error')
            .text('×')
            .on('click', (_e, d) => store.update((st) => ({ errors: st.errors.filter((x) => x.id !== d.id) })));
          return div;
        })
        .select('.error-text')
        .text((d) => `${d.code} (${d.source}): ${d.message}`);
    }
    if (!prev || s.view !== prev.view) {
      tablist
        .selectAll<HTMLButtonElement, TabSpec>('button')
        .attr('aria-selected', (d) => String(d.id === s.view))
        .attr('tabindex', (d) => (d.id === s.view ? 0 : -1))
        .classed('is-active', (d) => d.id === s.view);
      const active = getView(s.view);
      for (const [id, v] of views) v.root.hidden = id !== s.view;
      active.update(s, null);
      return;
    }
    getView(s.view).update(s, prev);
  };

  // Tabs: ←/→ inside the tab list move between tabs (WAI-ARIA pattern); elsewhere they step scales.
  tablist.on('keydown', (ev: KeyboardEvent) => {
    if (ev.key !== 'ArrowLeft' && ev.key !== 'ArrowRight') return;
    ev.preventDefault();
    ev.stopPropagation();
    const shown = tabsOf(tabs, family);
    const i = shown.findIndex((t) => t.id === store.state.view);
    const next = shown[(i + (ev.key === 'ArrowRight' ? 1 : shown.length - 1)) % shown.length];
    store.update((s) => ({ view: next.id, panel: { ...s.panel, view: next.id } }));
    (doc.getElementById(`tab-${next.id}`) as HTMLElement | null)?.focus();
  });
  const onKey = (ev: KeyboardEvent): void => {
    const t = ev.target as HTMLElement | null;
    if (t && (t.closest('input, select, textarea, [role=tablist]') || ev.altKey || ev.ctrlKey || ev.metaKey)) return;
    // The last hovered token stays linked across tabs until Escape clears it (and the code selection).
    if (ev.key === 'Escape') {
      store.update({ hover: null, selectedCode: null });
      return;
    }
    const n = store.state.model?.patchNums.length ?? store.state.bitsInspect.value?.scales.length ?? 0;
    if (!n) return;
    let k = store.state.focusScale;
    if (ev.key === 'ArrowRight' || ev.key === 'ArrowDown') k = Math.min(n - 1, k + 1);
    else if (ev.key === 'ArrowLeft' || ev.key === 'ArrowUp') k = Math.max(0, k - 1);
    else if (ev.key === 'Home') k = 0;
    else if (ev.key === 'End') k = n - 1;
    else return;
    ev.preventDefault();
    store.update({ focusScale: k });
    // In the step-through view the arrows also move through the generation's scales.
    if (store.state.view === 'stepThrough' && store.state.generation.runId && k !== store.state.generation.cursor)
      void stepGeneration(store, host, k);
  };
  doc.addEventListener('keydown', onKey);

  const unsubscribe = store.subscribe((s, prev) => render(s, prev));
  const ro = new ResizeObserver(() => views.get(store.state.view)?.resize(main.node()!.clientWidth));
  ro.observe(main.node()!);
  render(store.state, null);

  return {
    root,
    view: getView,
    dispose() {
      unsubscribe();
      offExport();
      ro.disconnect();
      doc.removeEventListener('keydown', onKey);
      for (const v of views.values()) v.dispose();
      root.remove();
    },
  };
}

/** The pixel budgets an Infinity schedule may have on the CPU without the header advising a GPU. */
const CPU_BUDGETS = ['0.06M', '0.25M'];

/**
 * An Infinity schedule past 0.25M on the CPU (the official 0.60M and 1M: 6.4k and 10.5k tokens at 1:1, where 0.25M
 * has 2.4k): a line saying it is meant for a GPU, and where to pick one; '' otherwise.
 */
export function gpuNoteText(s: InspectorState): string {
  const b = s.bitsModel;
  if (!b || b.provider !== 'cpu') return '';
  const big = b.schedules.filter((x) => !CPU_BUDGETS.includes(x.pn));
  if (!big.length) return '';
  const largest = big.reduce((a, x) => (x.tokenCount > a.tokenCount ? x : a));
  return (
    `${largest.pn} (${largest.tokenCount.toLocaleString('en-US')} tokens at ${largest.id.split('-')[0]}) is made for a GPU: ` +
    'on the CPU each scale of it takes minutes (setting varscope.executionProvider)'
  );
}

/** The header's model facts: scales and sizes (an Infinity model: bits, the schedule of the image once tokenized). */
function modelShapeText(s: InspectorState): string {
  const m = s.model;
  if (m) return `${m.patchNums.length} scales · L=${m.tokenCount} · V=${m.vocabSize} · d${m.depth}`;
  const b = s.bitsModel;
  if (!b) return '';
  const scheduleId = s.bitsInspect.value?.schedule;
  const schedule = b.schedules.find((x) => x.id === scheduleId);
  const where = schedule
    ? ` · ${schedule.scales.length} scales · L=${schedule.tokenCount} · ${schedule.id}`
    : ` · ${b.schedules.length} schedules`;
  return `Infinity · ${b.bits} bits${where} · d${b.depth}`;
}
