/** Step-through generation, the "Generate" half of the step-through view: settings, step / back / play / jump, and per step the sampled grid, top-1 probability and entropy maps, the image so far. */
import { select } from 'd3';
import type { GenerationSettings, GenerationStep, ModelInfo } from '../../shared/results';
import { startGeneration, stepGeneration } from '../actions';
import { regionOf, scaleLabel } from '../geometry/scales';
import { SAMPLING_BOUNDS, type SamplingField } from '../../shared/samplingBounds';
import { drawRgba, heatmapImage, mapRange } from '../ui/canvas';
import { button, field, numberInput } from '../ui/controls';
import { makeGenerationTransport } from '../ui/generationTransport';
import { makeFigure, type Figure } from '../ui/figure';
import { makeLegend } from '../ui/legend';
import { makeTokenGrid, type TokenGrid } from '../ui/tokenGrid';
import { defineView } from './view';

const MAP = 168;

/** The generate half of the step-through view (shown while the store's stepMode is 'generate'). */
export const createGenerateView = defineView<ModelInfo>({
  className: 'section generate',
  source: (st) => ({ data: st.model ? { status: 'ready', value: st.model } : { status: 'idle' }, loading: '', idle: '' }),
  build({ doc, store, host }, parts) {
    const gen = select(parts.body);
    const controls = gen.append('div').attr('class', 'controls');
    const classSel = doc.createElement('select');
    classSel.className = 'class-select';
    const bounded = (name: SamplingField, value: number, step: number) =>
      numberInput(doc, value, SAMPLING_BOUNDS[name].min, SAMPLING_BOUNDS[name].max, step);
    const seed = bounded('seed', 0, 1);
    const cfg = bounded('cfg', 4, 0.5);
    const topK = bounded('topK', 900, 1);
    const topP = bounded('topP', 0.96, 0.01);
    // An emptied field is NaN (refused by startGeneration), not 0.
    const read = (i: HTMLInputElement | HTMLSelectElement) => (i.value.trim() === '' ? NaN : Number(i.value));
    const settings = (): GenerationSettings => ({
      classId: read(classSel),
      seed: read(seed),
      cfg: read(cfg),
      topK: read(topK),
      topP: read(topP),
    });
    const start = button(doc, 'Start', () => void startGeneration(store, host, settings()), 'Start a new generation');
    start.classList.add('primary', 'start');
    controls
      .node()!
      .append(
        field(doc, 'Class', classSel),
        field(doc, 'Seed', seed),
        field(doc, 'CFG', cfg),
        field(doc, 'Top-k', topK),
        field(doc, 'Top-p', topP),
        start,
      );
    const { back, step, play, jumps } = makeGenerationTransport({ doc, store, host }, gen);
    const status = gen.append('div').attr('class', 'hint gen-status').attr('aria-live', 'polite');
    const stepRow = gen.append('div').attr('class', 'row step-row');
    const gridHost = stepRow.append('figure').attr('class', 'figure sampled');
    const gridCaption = doc.createElement('figcaption');
    const top1 = makeFigure(doc, 'top1-figure', 'Top-1 probability', MAP);
    const entropy = makeFigure(doc, 'entropy-figure', 'Entropy', MAP);
    const image = makeFigure(doc, 'image-figure', 'Image so far: decode(f̂ₖ)', 224);
    const probLegend = makeLegend(doc, 'top-1 probability (this step’s range)', MAP - 16, (v) => v.toPrecision(2));
    const entLegend = makeLegend(doc, 'entropy, nats (this step’s range)', MAP - 16, (v) => v.toPrecision(3));
    top1.root.append(probLegend.root);
    entropy.root.append(entLegend.root);
    stepRow.node()!.append(top1.root, entropy.root, image.root);
    const history = gen.append('div').attr('class', 'history heatmap-row');
    let grid: TokenGrid | null = null;
    let gridPn = 0;
    let historyFigs: Figure[] = [];
    const shown = (): GenerationStep | undefined => {
      const g = store.state.generation;
      const s = g.cursor >= 0 ? g.steps[g.cursor] : undefined;
      return s?.family === 'infinity' ? undefined : s; // VAR's view: an Infinity run's steps are never its own
    };

    return {
      draws: [
        {
          // A new model: its classes, a jump button per scale, a history slot per scale, and the sampler's settings.
          on: (m) => [m],
          draw(m, st) {
            const opts = m.classes.map((name, id) => ({ id, name }));
            select(classSel)
              .selectAll('option')
              .data(opts, (d) => String((d as { id: number }).id))
              .join('option')
              .attr('value', (d) => d.id)
              .text((d) => `${d.id} · ${d.name}`);
            jumps
              .selectAll('button')
              .data(
                m.patchNums.map((pn, k) => ({ pn, k })),
                (d) => String((d as { k: number }).k),
              )
              .join('button')
              .attr('type', 'button')
              .attr('class', 'jump')
              .attr('aria-label', (d) => `Jump to scale ${d.k + 1} (${d.pn}×${d.pn})`)
              .text((d) => String(d.pn))
              .on('click', (_e, d) => void stepGeneration(store, host, d.k));
            history.selectAll('*').remove();
            historyFigs = m.patchNums.map((pn, k) => {
              const f = makeFigure(doc, 'history-figure', `${pn}×${pn}`, 64);
              f.root.dataset.scale = String(k);
              history.node()!.append(f.root);
              return f;
            });
            const s = st.generation.settings;
            classSel.value = String(s.classId);
            seed.value = String(s.seed);
            cfg.value = String(s.cfg);
            topK.value = String(s.topK);
            topP.value = String(s.topP);
          },
        },
        {
          on: (m, st) => [m, st.generation],
          draw(m, st) {
            const g = st.generation;
            const n = m.patchNums.length;
            back.disabled = g.cursor <= 0;
            step.disabled = !g.runId || g.cursor >= n - 1 || g.status === 'loading';
            play.disabled = !g.runId || (g.cursor >= n - 1 && !g.playing);
            play.textContent = g.playing ? 'Pause' : 'Play';
            play.setAttribute('aria-pressed', String(g.playing));
            jumps
              .selectAll<HTMLButtonElement, { k: number }>('button')
              .property('disabled', !g.runId)
              .attr('aria-pressed', (d) => String(d.k === g.cursor));
            const s = g.settings;
            status.text(
              g.status === 'error'
                ? `${g.error?.code}: ${g.error?.message}`
                : g.runId
                  ? `Scale ${g.cursor + 1} of ${n}${g.status === 'loading' ? ' · computing…' : ''} · class ${s.classId} (${m.classes[s.classId] ?? ''}), seed ${s.seed}, CFG ${s.cfg}, top-k ${s.topK}, top-p ${s.topP}`
                  : g.status === 'loading'
                    ? 'Starting…'
                    : 'Choose settings and press Start.',
            );
            status.classed('is-error', g.status === 'error');
            stepRow.attr('hidden', shown() ? null : '');
          },
        },
        {
          // The step on screen: its sampled grid, top-1 probability and entropy maps, and the image so far.
          on: (m, st) => [m, shown(), st.colorBy, st.themeVersion],
          draw(m, st) {
            const s = shown();
            if (!s) return;
            if (!grid || gridPn !== s.pn) {
              gridHost.selectAll('*').remove();
              const k = s.scaleIndex; // one grid per pn, and each scale has its own pn
              grid = makeTokenGrid(
                doc,
                s.pn,
                224,
                `Sampled tokens at ${scaleLabel(k, s.pn)}`,
                (p) => store.update({ hover: p === null ? null : { scaleIndex: k, position: p } }),
                (p) => store.update((x) => ({ selectedCode: x.selectedCode === shown()?.tokens[p] ? null : (shown()?.tokens[p] ?? null) })),
              );
              gridPn = s.pn;
              gridHost.node()!.append(grid.root, gridCaption);
            }
            grid.setTokens(s.tokens, m.codeColors, st.colorBy);
            gridCaption.textContent = `Sampled tokens · ${scaleLabel(s.scaleIndex, s.pn)}`;
            // Each map spans its own range (shown on its legend): an untrained or very confident model would otherwise
            // paint one flat colour. The captions give the means, the legends the absolute values.
            const [pLo, pHi] = mapRange(s.top1Prob);
            const [eLo, eHi] = mapRange(s.entropy);
            drawRgba(top1.canvas, heatmapImage(s.top1Prob, s.pn, pLo, pHi), MAP);
            drawRgba(entropy.canvas, heatmapImage(s.entropy, s.pn, eLo, eHi), MAP);
            probLegend.update(pLo, pHi);
            entLegend.update(eLo, eHi);
            drawRgba(image.canvas, s.image, 224);
            const mean = (a: Float32Array): number => a.reduce((x, y) => x + y, 0) / a.length;
            top1.caption.textContent = `Top-1 probability · mean ${mean(s.top1Prob).toFixed(3)}`;
            entropy.caption.textContent = `Entropy · mean ${mean(s.entropy).toFixed(2)} nats`;
          },
        },
        {
          // Every computed scale's image, small; the one on screen marked.
          on: (m, st) => [m, st.generation.steps, st.generation.cursor],
          draw(_m, st) {
            const g = st.generation;
            historyFigs.forEach((f, k) => {
              const h = g.steps[k];
              f.root.hidden = !h;
              f.root.classList.toggle('is-focused', k === g.cursor);
              if (h && f.canvas.dataset.run !== `${g.runId}/${k}`) {
                drawRgba(f.canvas, h.image, 64);
                f.canvas.dataset.run = `${g.runId}/${k}`;
              }
            });
          },
        },
        {
          on: (m, st) => [m, shown(), st.hover, st.selectedCode],
          draw(m, st) {
            const s = shown();
            if (!s || !grid) return;
            const h = st.hover;
            const region = h && m.patchNums[h.scaleIndex] ? regionOf(m.patchNums[h.scaleIndex], h.position) : null;
            grid.markHover(h && h.scaleIndex === s.scaleIndex ? h.position : null, region);
            grid.markCode(st.selectedCode);
            image.mark(region);
            top1.mark(region);
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
      settings: st.generation.settings,
      runId: st.generation.runId,
      steps: st.generation.steps.flatMap((s) =>
        s.family === 'infinity'
          ? []
          : [
              {
                scaleIndex: s.scaleIndex,
                pn: s.pn,
                tokens: s.tokens,
                sampledProb: s.sampledProb,
                top1Prob: s.top1Prob,
                entropy: s.entropy,
              },
            ],
      ),
    };
  },
});
