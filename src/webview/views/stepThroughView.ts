/** Step-through generation (class, seed, CFG, top-k, top-p; step / back / play / jump) and the teacher-forced mode on the open image. */
import { select } from 'd3';
import type { EvalResult, GenerationSettings, GenerationStep, ModelInfo } from '../../shared/results';
import { loadEvaluation, playGeneration, startGeneration, stepGeneration } from '../actions';
import { parseCssColor } from '../geometry/colorMaps';
import { regionOf, scaleLabel } from '../geometry/scales';
import { SAMPLING_BOUNDS } from '../../shared/samplingBounds';
import type { InspectorState } from '../store';
import { drawRgba, heatmapImage } from '../ui/canvas';
import { button, field, numberInput, placeholder, segmented } from '../ui/controls';
import { makeFigure, type Figure } from '../ui/figure';
import { makeLegend } from '../ui/legend';
import { makeScaleChart } from '../ui/scaleChart';
import { makeSwatchKey } from '../ui/swatchKey';
import { makeScaleFigures, type ScaleFigures } from '../ui/scaleFigures';
import { makeTokenGrid, type TokenGrid } from '../ui/tokenGrid';
import type { View, ViewContext } from './view';

const MAP = 168;

/** Create the step-through view. */
export function createStepThroughView(ctx: ViewContext): View {
  const { doc, store, host } = ctx;
  const root = doc.createElement('section');
  root.className = 'view view-step';
  let mode: 'generate' | 'teacher' = 'generate';
  const modeSel = segmented(doc, 'Mode', [
    { value: 'generate', label: 'Generate' },
    { value: 'teacher', label: 'Teacher-forced on this image' },
  ], (v) => {
    mode = v as typeof mode;
    render(store.state, null);
  });
  root.append(modeSel.root);

  // Generation controls.
  const gen = select(root).append('div').attr('class', 'section generate');
  const controls = gen.append('div').attr('class', 'controls');
  const classSel = doc.createElement('select');
  classSel.className = 'class-select';
  const bounded = (name: keyof GenerationSettings, value: number, step: number) => numberInput(doc, value, SAMPLING_BOUNDS[name].min, SAMPLING_BOUNDS[name].max, step);
  const seed = bounded('seed', 0, 1);
  const cfg = bounded('cfg', 4, 0.5);
  const topK = bounded('topK', 900, 1);
  const topP = bounded('topP', 0.96, 0.01);
  // An emptied field is NaN (refused by startGeneration), not 0.
  const read = (i: HTMLInputElement | HTMLSelectElement) => (i.value.trim() === '' ? NaN : Number(i.value));
  const settings = (): GenerationSettings => ({ classId: read(classSel), seed: read(seed), cfg: read(cfg), topK: read(topK), topP: read(topP) });
  const start = button(doc, 'Start', () => void startGeneration(store, host, settings()), 'Start a new generation');
  start.classList.add('primary', 'start');
  controls.node()!.append(field(doc, 'Class', classSel), field(doc, 'Seed', seed), field(doc, 'CFG', cfg), field(doc, 'Top-k', topK), field(doc, 'Top-p', topP), start);
  const transport = gen.append('div').attr('class', 'controls transport').attr('role', 'group').attr('aria-label', 'Step through scales');
  const back = button(doc, '◀ Back', () => store.update((s) => {
    const cursor = Math.max(0, s.generation.cursor - 1);
    return { generation: { ...s.generation, cursor, playing: false }, focusScale: cursor };
  }), 'Previous scale');
  const step = button(doc, 'Step ▶', () => void stepGeneration(store, host), 'Next scale');
  const play = button(doc, 'Play', () => {
    if (store.state.generation.playing) store.update((s) => ({ generation: { ...s.generation, playing: false } }));
    else void playGeneration(store, host);
  }, 'Play all scales');
  back.classList.add('back');
  step.classList.add('step');
  play.classList.add('play');
  transport.node()!.append(back, step, play);
  const jumps = transport.append('span').attr('class', 'jumps');
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

  // Teacher-forced mode.
  const tf = select(root).append('div').attr('class', 'section teacher');
  const tfControls = tf.append('div').attr('class', 'controls');
  const evalClass = doc.createElement('select');
  evalClass.className = 'eval-class';
  tfControls.node()!.append(field(doc, 'Class', evalClass), button(doc, 'Evaluate', () => {
    store.update((s) => ({ panel: { ...s.panel, evalClass: +evalClass.value } }));
    void loadEvaluation(store, host, +evalClass.value);
  }, 'Teacher-forced evaluation of this image'));
  const tfEmpty = placeholder(doc);
  tf.node()!.append(tfEmpty.root);
  const tfBody = tf.append('div').attr('class', 'section');
  const tfCharts = tfBody.append('div').attr('class', 'row');
  const acc = makeScaleChart(doc, { title: 'Top-1 accuracy given the true coarser scales', yLabel: 'accuracy (%)', kind: 'bar', format: (v) => v.toFixed(1) });
  const nll = makeScaleChart(doc, { title: 'NLL of the true token, mean entropy', yLabel: 'nats', kind: 'bar', width: 400, height: 190, format: (v) => v.toFixed(1) });
  tfCharts.node()!.append(acc.root, nll.root);
  tfBody.append('h4').text('Correct (argmax = true token) per position');
  tfBody.node()!.append(makeSwatchKey(doc, 'Correctness key', [
    { swatch: 'swatch-good', text: 'argmax = true token' },
    { swatch: 'swatch-bad', text: 'wrong' },
  ]));
  const tfMapHost = tfBody.append('div');
  let tfMaps: ScaleFigures | null = null;
  // Per-position maps of one quantity, on one colour scale shared by all scales.
  type TfKind = 'nll' | 'entropy' | 'top1';
  let tfKind: TfKind = 'nll';
  const tfKindSel = segmented(doc, 'Per-position map', [
    { value: 'nll', label: '−log p(true token)' },
    { value: 'entropy', label: 'Entropy' },
    { value: 'top1', label: 'Top-1 probability' },
  ], (v) => {
    tfKind = v as TfKind;
    tfValuesFor = null;
    render(store.state, null);
  });
  tfBody.node()!.append(tfKindSel.root);
  const tfLegend = makeLegend(doc, '', 220, (v) => v.toPrecision(3));
  tfBody.node()!.append(tfLegend.root);
  const tfValueHost = tfBody.append('div');
  let tfValues: ScaleFigures | null = null;
  let tfValuesFor: EvalResult | null = null;
  let tfBuilt: EvalResult | null = null;

  let model: ModelInfo | null = null;
  let grid: TokenGrid | null = null;
  let gridPn = 0;
  let historyFigs: Figure[] = [];
  let shownStep: GenerationStep | null = null;

  const buildModel = (m: ModelInfo): void => {
    model = m;
    const opts = m.classes.map((name, id) => ({ id, name }));
    for (const sel of [classSel, evalClass]) {
      select(sel).selectAll('option').data(opts, (d) => String((d as { id: number }).id)).join('option').attr('value', (d) => d.id).text((d) => `${d.id} · ${d.name}`);
    }
    jumps.selectAll('button').data(m.patchNums.map((pn, k) => ({ pn, k })), (d) => String((d as { k: number }).k)).join('button')
      .attr('type', 'button').attr('class', 'jump').attr('aria-label', (d) => `Jump to scale ${d.k + 1} (${d.pn}×${d.pn})`).text((d) => String(d.pn))
      .on('click', (_e, d) => void stepGeneration(store, host, d.k));
    history.selectAll('*').remove();
    historyFigs = m.patchNums.map((pn, k) => {
      const f = makeFigure(doc, 'history-figure', `${pn}×${pn}`, 64);
      f.root.dataset.scale = String(k);
      history.node()!.append(f.root);
      return f;
    });
  };

  const drawStep = (st: InspectorState, s: GenerationStep): void => {
    const m = model!;
    if (!grid || gridPn !== s.pn) {
      gridHost.selectAll('*').remove();
      grid = makeTokenGrid(doc, s.pn, 224, `Sampled tokens at ${scaleLabel(s.scaleIndex, s.pn)}`,
        (p) => store.update({ hover: p === null ? null : { scaleIndex: s.scaleIndex, position: p } }),
        (p) => store.update((x) => ({ selectedCode: x.selectedCode === shownStep?.tokens[p] ? null : shownStep?.tokens[p] ?? null })));
      gridPn = s.pn;
      gridHost.node()!.append(grid.root, gridCaption);
    }
    grid.setTokens(s.tokens, m.codeColors, st.colorBy);
    gridCaption.textContent = `Sampled tokens · ${scaleLabel(s.scaleIndex, s.pn)}`;
    // Each map spans its own range (shown on its legend): an untrained or very confident model would otherwise
    // paint one flat colour. The captions give the means, the legends the absolute values.
    const [pLo, pHi] = range(s.top1Prob);
    const [eLo, eHi] = range(s.entropy);
    drawRgba(top1.canvas, heatmapImage(s.top1Prob, s.pn, pLo, pHi), MAP);
    drawRgba(entropy.canvas, heatmapImage(s.entropy, s.pn, eLo, eHi), MAP);
    probLegend.update(pLo, pHi);
    entLegend.update(eLo, eHi);
    drawRgba(image.canvas, s.image, 224);
    const mean = (a: Float32Array): number => a.reduce((x, y) => x + y, 0) / a.length;
    top1.caption.textContent = `Top-1 probability · mean ${mean(s.top1Prob).toFixed(3)}`;
    entropy.caption.textContent = `Entropy · mean ${mean(s.entropy).toFixed(2)} nats`;
    shownStep = s;
  };

  const renderGenerate = (st: InspectorState, prev: InspectorState | null): void => {
    const g = st.generation;
    const n = model!.patchNums.length;
    back.disabled = g.cursor <= 0;
    step.disabled = !g.runId || g.cursor >= n - 1 || g.status === 'loading';
    play.disabled = !g.runId || (g.cursor >= n - 1 && !g.playing);
    play.textContent = g.playing ? 'Pause' : 'Play';
    play.setAttribute('aria-pressed', String(g.playing));
    jumps.selectAll<HTMLButtonElement, { k: number }>('button').property('disabled', !g.runId).attr('aria-pressed', (d) => String(d.k === g.cursor));
    status.text(g.status === 'error' ? `${g.error?.code}: ${g.error?.message}` : g.runId ? `Scale ${g.cursor + 1} of ${n}${g.status === 'loading' ? ' · computing…' : ''} · class ${g.settings.classId} (${model!.classes[g.settings.classId] ?? ''}), seed ${g.settings.seed}, CFG ${g.settings.cfg}, top-k ${g.settings.topK}, top-p ${g.settings.topP}` : g.status === 'loading' ? 'Starting…' : 'Choose settings and press Start.');
    status.classed('is-error', g.status === 'error');
    const s = g.cursor >= 0 ? g.steps[g.cursor] : undefined;
    stepRow.attr('hidden', s ? null : '');
    if (s && (s !== shownStep || !prev || st.colorBy !== prev.colorBy || st.themeVersion !== prev.themeVersion)) drawStep(st, s);
    if (!prev || g.steps !== prev.generation.steps || g.cursor !== prev.generation.cursor) {
      historyFigs.forEach((f, k) => {
        const h = g.steps[k];
        f.root.hidden = !h;
        f.root.classList.toggle('is-focused', k === g.cursor);
        if (h && f.canvas.dataset.run !== `${g.runId}/${k}`) {
          drawRgba(f.canvas, h.image, 64);
          f.canvas.dataset.run = `${g.runId}/${k}`;
        }
      });
    }
    if (s && grid) {
      const h = st.hover;
      const region = h && model!.patchNums[h.scaleIndex] ? regionOf(model!.patchNums[h.scaleIndex], h.position) : null;
      grid.markHover(h && h.scaleIndex === s.scaleIndex ? h.position : null, region);
      grid.markCode(st.selectedCode);
      image.mark(region);
      top1.mark(region);
      entropy.mark(region);
    }
  };

  const renderTeacher = (st: InspectorState, prev: InspectorState | null): void => {
    tfEmpty.show(st.evaluation, 'Evaluating every scale…', 'Choose the class and press Evaluate.');
    const e = st.evaluation.value;
    tfBody.attr('hidden', e ? null : '');
    if (!e) return;
    const m = model!;
    if (e !== tfBuilt) {
      tfMapHost.selectAll('*').remove();
      tfMaps = makeScaleFigures(doc, store, m.patchNums, 96, 'correct-row', (k) => `${scaleLabel(k, m.patchNums[k])} · ${(e.scales[k].accuracy * 100).toFixed(1)}%`);
      tfMapHost.node()!.append(tfMaps.root);
      tfBuilt = e;
      evalClass.value = String(e.classId);
    }
    if (e !== tfBuilt || !prev || prev.evaluation !== st.evaluation || st.themeVersion !== prev.themeVersion || st.focusScale !== prev.focusScale) {
      const t = ctx.theme();
      const good = parseCssColor(t.good) ?? [0, 160, 0];
      const bad = parseCssColor(t.error) ?? [200, 0, 0];
      e.scales.forEach((s, k) => {
        const data = new Uint8ClampedArray(s.pn * s.pn * 4);
        for (let p = 0; p < s.pn * s.pn; p++) data.set([...(s.correct[p] ? good : bad), 255], p * 4);
        drawRgba(tfMaps!.figures[k].canvas, { width: s.pn, height: s.pn, data }, 96);
      });
      acc.update(m.patchNums, [{ name: 'accuracy', values: e.scales.map((s) => s.accuracy * 100) }], st.focusScale);
      nll.update(m.patchNums, [{ name: 'NLL', values: e.scales.map((s) => s.nll) }, { name: 'mean entropy', values: e.scales.map((s) => s.meanEntropy), cls: 'alt' }], st.focusScale);
      tfMaps!.focus(st.focusScale);
    }
    if (e !== tfValuesFor || !prev || st.themeVersion !== prev.themeVersion) {
      tfKindSel.set(tfKind);
      tfValueHost.selectAll('*').remove();
      tfValues = makeScaleFigures(doc, store, m.patchNums, 96, 'tf-value-row');
      tfValueHost.node()!.append(tfValues.root);
      const pick = (sc: EvalResult['scales'][number]): Float32Array =>
        tfKind === 'nll' ? sc.trueProb.map((q) => -Math.log(Math.max(q, 1e-30))) : tfKind === 'entropy' ? sc.entropy : sc.top1Prob;
      const maps = e.scales.map(pick);
      let lo = Infinity;
      let hi = -Infinity;
      for (const a of maps) for (const v of a) { if (v < lo) lo = v; if (v > hi) hi = v; }
      if (!(hi > lo)) hi = lo + 1e-6;
      maps.forEach((a, k) => drawRgba(tfValues!.figures[k].canvas, heatmapImage(a, e.scales[k].pn, lo, hi), 96));
      const title = tfKind === 'nll' ? '−log p(true token), nats' : tfKind === 'entropy' ? 'entropy of the prediction, nats' : 'top-1 probability';
      tfLegend.root.querySelector('.legend-title')!.textContent = `${title} (shared by all scales)`;
      tfLegend.update(lo, hi);
      tfValuesFor = e;
    }
    const h = st.hover;
    const region = h ? regionOf(m.patchNums[h.scaleIndex], h.position) : null;
    tfMaps!.mark(region);
    tfValues!.mark(region);
    tfValues!.focus(st.focusScale);
  };

  const render = (st: InspectorState, prev: InspectorState | null): void => {
    modeSel.set(mode);
    gen.attr('hidden', mode === 'generate' ? null : '');
    tf.attr('hidden', mode === 'teacher' ? null : '');
    if (!st.model) return;
    if (st.model !== model) {
      buildModel(st.model);
      const s = st.generation.settings;
      classSel.value = String(s.classId);
      seed.value = String(s.seed);
      cfg.value = String(s.cfg);
      topK.value = String(s.topK);
      topP.value = String(s.topP);
      evalClass.value = String(st.panel.evalClass ?? s.classId);
      prev = null;
    }
    if (mode === 'generate') renderGenerate(st, prev);
    else renderTeacher(st, prev);
  };

  return {
    root,
    update: render,
    resize() {},
    dispose() {
      store.update((s) => ({ generation: { ...s.generation, playing: false } }));
      root.remove();
    },
    exportData() {
      const st = store.state;
      return mode === 'generate'
        ? { view: 'stepThrough', settings: st.generation.settings, runId: st.generation.runId, steps: st.generation.steps.map((s) => ({ scaleIndex: s.scaleIndex, pn: s.pn, tokens: s.tokens, sampledProb: s.sampledProb, top1Prob: s.top1Prob, entropy: s.entropy })) }
        : { view: 'teacherForced', evaluation: st.evaluation.value ?? null };
    },
  };
}

/** [min, max] of a map, widened when flat so the colour scale stays defined. */
function range(a: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of a) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(hi > lo)) return [lo - 1e-6, hi + 1e-6];
  return [lo, hi];
}
