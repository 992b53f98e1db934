/**
 * Step-through generation of an Infinity model, the "Generate" half of its step-through view: the caption, the
 * schedule's ratio, CFG and tau per scale, top-k / top-p per bit and the seed; step / back / play / jump; per step the
 * bit pyramid so far, the entropy of each token's bits and the image decoded so far.
 */
import { select } from 'd3';
import type { BitGenerationStep, BitsModelInfo } from '../../shared/results';
import { nearestSchedule } from '../../shared/modelFamily';
import { SAMPLING_BOUNDS } from '../../shared/samplingBounds';
import { startGeneration, stepGeneration } from '../actions';
import { regionOf, scaleLabel } from '../geometry/scales';
import { bitSamplingOf, generationScales, type InspectorState } from '../store';
import { drawBitGrids } from '../ui/bitGrids';
import { makeCaptionInput } from '../ui/captionInput';
import { drawRgba, heatmapImage, mapRange } from '../ui/canvas';
import { button, field, fillRatioOptions, numberInput } from '../ui/controls';
import { makeGenerationTransport } from '../ui/generationTransport';
import { makeFigure } from '../ui/figure';
import { makeLegend } from '../ui/legend';
import type { TokenGrid } from '../ui/tokenGrid';
import { defineView } from './view';

/** Width of the widest bit grid, the entropy map and the image (CSS px). */
const GRID = 200;
const MAP = 150;
const IMAGE = 200;

/** The steps of an Infinity run (a VAR run's are never this view's). */
const bitSteps = (st: InspectorState): BitGenerationStep[] =>
  st.generation.steps.filter((s): s is BitGenerationStep => s?.family === 'infinity');

/** "1, 1.5, 2" → numbers; an empty or malformed entry is NaN (refused by startGeneration in one line). */
const parseList = (text: string): number[] => text.split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));

/** The generate half of an Infinity model's step-through view. */
export const createBitGenerateView = defineView<BitsModelInfo>({
  className: 'section generate generate-bits',
  source: (st) => ({ data: st.bitsModel ? { status: 'ready', value: st.bitsModel } : { status: 'idle' }, loading: '', idle: '' }),
  build({ doc, store, host }, parts) {
    const caption = makeCaptionInput({ doc, store, host });
    parts.head.append(caption.root);
    const gen = select(parts.body);
    const controls = gen.append('div').attr('class', 'controls');
    const ratio = doc.createElement('select');
    ratio.className = 'ratio-select';
    const seed = numberInput(doc, 0, SAMPLING_BOUNDS.seed.min, SAMPLING_BOUNDS.seed.max, 1);
    const list = (cls: string) => {
      const input = doc.createElement('input');
      input.type = 'text';
      input.className = cls;
      input.spellcheck = false;
      return input;
    };
    const cfgList = list('cfg-list');
    const tauList = list('tau-list');
    const topK = numberInput(doc, 0, SAMPLING_BOUNDS.topK.min, SAMPLING_BOUNDS.topK.max, 1);
    const topP = numberInput(doc, 0, SAMPLING_BOUNDS.topP.min, SAMPLING_BOUNDS.topP.max, 0.01);
    seed.classList.add('seed');
    topK.classList.add('top-k');
    topP.classList.add('top-p');
    const read = (i: HTMLInputElement | HTMLSelectElement) => (i.value.trim() === '' ? NaN : Number(i.value));
    // Another ratio is another schedule: its scale count sets the lists' lengths (the model's CFG and tau again).
    ratio.addEventListener('change', () => {
      const m = store.state.bitsModel;
      if (!m || store.state.generation.runId) return;
      store.update((s) => ({ generation: { ...s.generation, bitSettings: bitSamplingOf(m, read(ratio), read(seed)) } }));
    });
    const start = button(
      doc,
      'Start',
      () => {
        const text = store.state.panel.caption;
        if (!text) {
          store.update((s) => ({
            generation: { ...s.generation, status: 'error', error: { code: 'BadRequest', message: 'choose a caption first' } },
          }));
          return;
        }
        void startGeneration(store, host, {
          family: 'infinity',
          text,
          hDivW: read(ratio),
          seed: read(seed),
          cfgList: parseList(cfgList.value),
          tauList: parseList(tauList.value),
          topK: read(topK),
          topP: read(topP),
        });
      },
      'Start a new generation',
    );
    start.classList.add('primary', 'start');
    controls
      .node()!
      .append(
        field(doc, 'Ratio h:w', ratio),
        field(doc, 'Seed', seed),
        field(doc, 'CFG per scale', cfgList),
        field(doc, 'Tau per scale', tauList),
        field(doc, 'Top-k', topK),
        field(doc, 'Top-p', topP),
        start,
      );
    const { back, step, play, jumps } = makeGenerationTransport({ doc, store, host }, gen);
    const status = gen.append('div').attr('class', 'hint gen-status').attr('aria-live', 'polite');
    const strip = gen
      .append('div')
      .attr('class', 'pyramid-strip')
      .attr('role', 'group')
      .attr('aria-label', 'Bits sampled so far, one grid per scale');
    const stepRow = gen.append('div').attr('class', 'row step-row');
    const entropyLegend = makeLegend(doc, 'entropy of the token’s bits, nats (this step’s range)', MAP - 16, (v) => v.toPrecision(3));
    let entropy = makeFigure(doc, 'entropy-figure', 'Entropy', MAP);
    let image = makeFigure(doc, 'image-figure', 'Image so far: decode(f̂ₖ)', IMAGE);
    const entropyHost = stepRow.append('div');
    const imageHost = stepRow.append('div');
    let grids: TokenGrid[] = [];
    let figures: HTMLElement[] = [];
    const shown = (st: InspectorState): BitGenerationStep | undefined => {
      const g = st.generation;
      const s = g.cursor >= 0 ? g.steps[g.cursor] : undefined;
      return s?.family === 'infinity' ? s : undefined;
    };

    return {
      controls: [{ on: (_m, st) => [st.panel.caption, st.bitsModel, st.captionBesideImage], draw: (_m, st) => caption.update(st) }],
      draws: [
        {
          // A new model or schedule: the ratios, a jump button per scale, the form from the settings.
          on: (m, st) => [m, st.generation.bitSettings],
          draw(m, st) {
            const b = st.generation.bitSettings ?? bitSamplingOf(m, m.schedules[0].hDivW, 0);
            fillRatioOptions(ratio, m.schedules);
            const s = nearestSchedule(m.schedules, b.hDivW ?? m.schedules[0].hDivW);
            ratio.value = String(s.hDivW);
            seed.value = String(b.seed);
            cfgList.value = b.cfgList.join(', ');
            tauList.value = b.tauList.join(', ');
            topK.value = String(b.topK);
            topP.value = String(b.topP);
            jumps
              .selectAll('button')
              .data(
                s.scales.map(([h, w], k) => ({ h, w, k })),
                (d) => String((d as { k: number }).k),
              )
              .join('button')
              .attr('type', 'button')
              .attr('class', 'jump')
              .attr('aria-label', (d) => `Jump to scale ${d.k + 1} (${d.h}×${d.w})`)
              .text((d) => `${d.h}×${d.w}`)
              .on('click', (_e, d) => void stepGeneration(store, host, d.k));
          },
        },
        {
          on: (_m, st) => [st.generation, st.bitsModel],
          draw(_m, st) {
            const g = st.generation;
            const n = generationScales(st);
            back.disabled = g.cursor <= 0;
            step.disabled = !g.runId || g.cursor >= n - 1 || g.status === 'loading';
            play.disabled = !g.runId || (g.cursor >= n - 1 && !g.playing);
            play.textContent = g.playing ? 'Pause' : 'Play';
            play.setAttribute('aria-pressed', String(g.playing));
            ratio.disabled = g.status === 'loading';
            jumps
              .selectAll<HTMLButtonElement, { k: number }>('button')
              .property('disabled', !g.runId)
              .attr('aria-pressed', (d) => String(d.k === g.cursor));
            const b = g.bitSettings;
            status.text(
              g.status === 'error'
                ? `${g.error?.code}: ${g.error?.message}`
                : g.runId && b
                  ? `Scale ${g.cursor + 1} of ${n}${g.status === 'loading' ? ' · computing…' : ''} · seed ${b.seed}, CFG ${b.cfgList.join('/')}, tau ${b.tauList.join('/')}, top-k ${b.topK}, top-p ${b.topP}`
                  : g.status === 'loading'
                    ? 'Starting…'
                    : 'Choose the caption and the settings, then press Start.',
            );
            status.classed('is-error', g.status === 'error');
            stepRow.attr('hidden', shown(st) ? null : '');
          },
        },
        {
          // The pyramid so far: every scale up to the one on screen.
          on: (m, st) => [m, st.generation.steps, st.generation.cursor, st.themeVersion],
          draw(m, st) {
            const upTo = bitSteps(st).filter((s) => s.scaleIndex <= st.generation.cursor);
            const widest = Math.max(
              ...nearestSchedule(m.schedules, st.generation.bitSettings?.hDivW ?? m.schedules[0].hDivW).scales.map(([, w]) => w),
            );
            ({ grids, figures } = drawBitGrids(doc, strip, upTo, m.bits, GRID, widest, (k, p) =>
              store.update({ hover: p === null ? null : { scaleIndex: k, position: p }, focusScale: k }),
            ));
          },
        },
        {
          // The step on screen: its tokens' entropy and the image decoded so far, at the schedule's aspect.
          on: (_m, st) => [shown(st), st.themeVersion],
          draw(_m, st) {
            const s = shown(st);
            if (!s) return;
            const mapH = Math.round((MAP * s.h) / s.w);
            entropyHost.node()!.replaceChildren(); // the legend is kept: it moves to the new figure
            entropy = makeFigure(doc, 'entropy-figure', 'Entropy', MAP, mapH);
            entropy.root.append(entropyLegend.root);
            entropyHost.node()!.append(entropy.root);
            const [lo, hi] = mapRange(s.entropy);
            drawRgba(entropy.canvas, heatmapImage(s.entropy, s.w, lo, hi, s.h), MAP, mapH);
            entropyLegend.update(lo, hi);
            entropy.caption.textContent = `Entropy of each token’s bits · ${scaleLabel(s.scaleIndex, { h: s.h, w: s.w })}`;
            const imgH = Math.round((IMAGE * s.image.height) / s.image.width);
            imageHost.node()!.replaceChildren();
            image = makeFigure(doc, 'image-figure', 'Image so far: decode(f̂ₖ)', IMAGE, imgH);
            imageHost.node()!.append(image.root);
            drawRgba(image.canvas, s.image, IMAGE, imgH);
          },
        },
        {
          on: (_m, st) => [grids, shown(st), st.hover],
          draw(_m, st) {
            const h = st.hover;
            const at = h ? bitSteps(st).find((s) => s.scaleIndex === h.scaleIndex) : undefined;
            const region = h && at ? regionOf({ h: at.h, w: at.w }, h.position) : null;
            grids.forEach((g, k) => g.markHover(h?.scaleIndex === k ? h.position : null, region));
            figures.forEach((f, k) => f.classList.toggle('is-focused', k === st.generation.cursor));
            image.mark(region);
            entropy.mark(region);
          },
        },
      ],
      dispose() {
        store.update((s) => ({ generation: { ...s.generation, playing: false } }));
      },
    };
  },
  exportData(st) {
    return {
      view: 'stepThrough',
      family: 'infinity',
      settings: st.generation.bitSettings,
      caption: st.panel.caption ?? null,
      runId: st.generation.runId,
      steps: bitSteps(st).map((s) => ({
        scaleIndex: s.scaleIndex,
        h: s.h,
        w: s.w,
        bits: s.bits,
        sampledProb: s.sampledProb,
        entropy: s.entropy,
      })),
    };
  },
});
