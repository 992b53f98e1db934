/** Codebook usage: rank-frequency histograms overall and per scale (log axis), dead codes, perplexity; image, folder or training counts. */
import { select } from 'd3';
import type { CodebookUsage } from '../../shared/results';
import { deadCodes } from '../geometry/histogram';
import { scaleLabel } from '../geometry/scales';
import type { InspectorState, Loadable } from '../store';
import { button, segmented } from '../ui/controls';
import { makeHistogram, type HistogramCanvas } from '../ui/histogramCanvas';
import { makeScaleChart } from '../ui/scaleChart';
import { renderStats } from '../ui/stats';
import { defineView } from './view';

type Source = InspectorState['codebookSource'];

/** The usage a source shows, or null while it is not available. */
export function usageFor(st: InspectorState, source: Source): CodebookUsage | null {
  if (source === 'image') return st.inspect.value?.codebook ?? null;
  if (source === 'folder') {
    const u = st.folderUsage?.usage;
    return u && !('kind' in u) ? u : null; // an Infinity model's bit usage is the bits Codebook view's
  }
  return st.trainingUsage.value ?? null;
}

/** The status of the chosen source's counts: ready with the usage, else how far its request got. */
function usageSource(st: InspectorState): Loadable<CodebookUsage> {
  const usage = usageFor(st, st.codebookSource);
  if (usage && st.model) return { status: 'ready', value: usage };
  const l =
    st.codebookSource === 'image'
      ? st.inspect
      : st.codebookSource === 'training'
        ? st.trainingUsage
        : { status: st.folderUsage ? ('ready' as const) : ('idle' as const) };
  return { status: l.status, error: l.error };
}

/** The codebook view. */
export const createCodebookView = defineView<CodebookUsage>({
  className: 'view view-codebook',
  source: (st) => ({
    data: usageSource(st),
    loading: 'Counting…',
    idle:
      st.codebookSource === 'folder'
        ? 'No folder counted yet: use “Count a folder…”.'
        : st.codebookSource === 'training'
          ? 'This checkpoint carries no training hit counts.'
          : '',
  }),
  build({ doc, store, host, theme }, parts) {
    const toolbar = select(parts.head).append('div').attr('class', 'toolbar');
    const source = segmented(
      doc,
      'Counts from',
      [
        { value: 'image', label: 'This image' },
        { value: 'folder', label: 'Folder' },
        { value: 'training', label: 'Training (checkpoint)' },
      ],
      (v) => store.update({ codebookSource: v as Source }),
    );
    toolbar.node()!.append(source.root);
    toolbar
      .node()!
      .append(
        button(
          doc,
          'Count a folder…',
          () => void host.call('runCommand', { command: 'varscope.evaluateFolder' }).catch((e) => store.pushError('evaluateFolder', e)),
          'Count codebook usage over a folder of images',
        ),
      );
    const folderStatus = toolbar.append('span').attr('class', 'hint folder-status');
    const hoverLine = toolbar.append('span').attr('class', 'hint hover-code').attr('aria-live', 'polite');
    const body = select(parts.body);
    const stats = body.append('div').attr('class', 'stats');
    const top = body.append('div').attr('class', 'row');
    const onHover = (code: number | null, count: number): void => {
      hoverLine.text(code === null ? '' : `code ${code}: ${count} hit${count === 1 ? '' : 's'}`);
    };
    const onClick = (code: number): void => store.update((s) => ({ selectedCode: s.selectedCode === code ? null : code }));
    const overall = makeHistogram(doc, 'Rank-frequency of all codes, all scales', 640, 190, onHover, onClick);
    overall.root.classList.add('overall-histogram');
    top.node()!.append(overall.root);
    const perp = makeScaleChart(doc, {
      title: 'Perplexity per scale',
      yLabel: 'exp(entropy) (codes)',
      kind: 'bar',
      width: 320,
      format: (v) => v.toFixed(0),
    });
    top.node()!.append(perp.root);
    body.append('h4').text('Per scale');
    const grid = body.append('div').attr('class', 'hist-grid');
    let perScale: Array<{ h: HistogramCanvas; label: HTMLElement }> = [];
    // Counted once per counts (a click that selects a code changes none of them): dead codes overall, ranks drawn per scale.
    let dead = 0;
    let bins: number[] = [];

    return {
      controls: [
        {
          on: (_u, st) => [st.codebookSource, st.folderUsage],
          draw(_u, st) {
            source.set(st.codebookSource);
            const f = st.folderUsage;
            folderStatus.text(f ? `folder: ${f.done}/${f.total} images${f.finished ? '' : ' (counting…)'}` : '');
          },
        },
      ],
      draws: [
        {
          // New counts: perplexity chart, one small histogram per scale and its label.
          on: (usage, st) => [usage, st.model, st.themeVersion],
          draw(usage, st) {
            const m = st.model!;
            const V = m.vocabSize;
            perp.update(m.patchNums, [{ name: 'perplexity', values: usage.perplexityPerScale }], st.focusScale);
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
            dead = deadCodes(usage.overall);
            // One image uses at most pn² codes at a scale: show those ranks, not V mostly empty bins.
            bins = usage.perScale.map((counts, k) => {
              const used = V - deadCodes(counts);
              perScale[k].label.textContent =
                `${scaleLabel(k, m.patchNums[k])} · ${used} used · perplexity ${usage.perplexityPerScale[k].toFixed(1)}`;
              return Math.max(m.patchNums[k] ** 2, used);
            });
          },
        },
        {
          // Counts or the selected code: the headline numbers and every histogram (the selected code's bar marked).
          on: (usage, st) => [usage, st.model, st.themeVersion, st.selectedCode, st.codebookSource],
          draw(usage, st) {
            const m = st.model!;
            const V = m.vocabSize;
            const t = theme();
            // one image has at most L tokens: a code it does not use is not dead, only unused here
            const deadLabel =
              st.codebookSource === 'image'
                ? 'codes unused in this image'
                : st.codebookSource === 'folder'
                  ? 'codes unused in this folder'
                  : 'dead codes';
            renderStats(stats.node()!, [
              { label: 'codes used', value: `${V - dead} / ${V}`, cls: 'stat-used' },
              { label: deadLabel, value: `${dead} (${((dead / V) * 100).toFixed(1)}%)`, cls: 'stat-dead' },
              { label: 'perplexity', value: usage.perplexity.toFixed(1), cls: 'stat-perplexity' },
              ...(usage.images !== undefined ? [{ label: 'images', value: String(usage.images), cls: 'stat-images' }] : []),
              ...(st.selectedCode !== null
                ? [{ label: `hits of code ${st.selectedCode}`, value: String(usage.overall[st.selectedCode]), cls: 'stat-code' }]
                : []),
            ]);
            overall.update(usage.overall, t, st.selectedCode);
            overall.canvas.dataset.bins = String(usage.overall.length);
            usage.perScale.forEach((counts, k) => perScale[k].h.update(counts, t, st.selectedCode, bins[k]));
          },
        },
      ],
    };
  },
  exportData(st) {
    const u = usageFor(st, st.codebookSource);
    return (
      u && {
        view: 'codebook',
        source: st.codebookSource,
        overall: u.overall,
        perScale: u.perScale,
        used: u.used,
        perplexity: u.perplexity,
        perplexityPerScale: u.perplexityPerScale,
        images: u.images,
      }
    );
  },
});
