/**
 * Sampling for an Infinity model: sampler settings side by side for the panel's caption. A grid of CFG × tau × top-k ×
 * top-p (CFG and tau each one value for every scale, or a list per scale), N seeded samples each (sample j has seed
 * s + j under every setting); one row of images per setting and per scale one chart per metric (bit entropy, distinct
 * codes, token and bit diversity, token and bit agreement with the first setting). The official infer.sh and
 * run_infinity.py settings are one click each.
 */
import { select } from 'd3';
import { runSamplingGrid } from '../actions';
import {
  anySamplingGridError,
  BIT_SAMPLING_METRICS,
  BIT_SAMPLING_PRESETS,
  bitSettingLabel,
  cartesianBitSettings,
  parseScaleLists,
  type BitSamplingGridRequest,
  type BitSamplingGridResult,
  type BitSamplingPresetName,
} from '../../shared/bitSamplingGrid';
import { nearestSchedule } from '../../shared/modelFamily';
import { formatSamplingMetric } from '../../shared/samplingGrid';
import { SAMPLING_BOUNDS } from '../../shared/samplingBounds';
import { ofFamily } from '../store';
import { makeCaptionInput } from '../ui/captionInput';
import { drawRgba } from '../ui/canvas';
import { button, field, fillRatioOptions, numberInput } from '../ui/controls';
import { makeGridBody, makeGridProgress } from '../ui/gridProgress';
import { defineView } from './view';

const IMAGE = 96;

/** Numbers of a comma-separated field ("" or a non-number → NaN, refused by the grid check). */
const numbers = (text: string): number[] => text.split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));

/** The Sampling view of an Infinity model. */
export const createBitSamplingView = defineView<BitSamplingGridResult>({
  className: 'view view-sampling view-bit-sampling',
  source: (st) => ({
    data: ofFamily(st.samplingGrid, 'infinity'),
    loading: 'Sampling the grid: every sample is a whole generation for the caption…',
    idle: 'Choose a caption and settings, then Sample — or one click on the official infer.sh or run_infinity.py settings.',
  }),
  build({ doc, store, host }, parts) {
    const caption = makeCaptionInput({ doc, store, host });
    const text = (value: string, cls: string) => {
      const i = doc.createElement('input');
      i.type = 'text';
      i.value = value;
      i.className = cls;
      i.spellcheck = false;
      return i;
    };
    const ratio = doc.createElement('select');
    ratio.className = 'ratio-select grid-ratio';
    const cfg = text('', 'grid-cfg');
    cfg.title = 'Comma-separated settings; each one CFG for every scale, or one per scale separated by spaces';
    const tau = text('', 'grid-tau');
    tau.title = 'Comma-separated settings; each one tau for every scale, or one per scale separated by spaces';
    const topK = text('', 'grid-topk');
    const topP = text('', 'grid-topp');
    const samples = numberInput(doc, 4, 1, 32, 1);
    samples.classList.add('grid-samples');
    const seed = numberInput(doc, 0, SAMPLING_BOUNDS.seed.min, SAMPLING_BOUNDS.seed.max, 1);
    seed.classList.add('grid-seed');
    const status = doc.createElement('div');
    status.className = 'hint grid-status';
    status.setAttribute('aria-live', 'polite');
    const fail = (problem: string | null): boolean => {
      status.textContent = problem ?? '';
      status.classList.toggle('is-error', problem !== null);
      return problem !== null;
    };
    const run = (): void => {
      const m = store.state.bitsModel;
      if (!m) return;
      const textCondition = store.state.panel.caption;
      if (fail(textCondition ? null : 'choose a caption first (a prompt or a features file)')) return;
      const hDivW = Number(ratio.value);
      const K = nearestSchedule(m.schedules, hDivW).scales.length;
      const cfgLists = parseScaleLists(cfg.value, K, 'CFG');
      const tauLists = parseScaleLists(tau.value, K, 'Tau');
      if (fail(typeof cfgLists === 'string' ? cfgLists : typeof tauLists === 'string' ? tauLists : null)) return;
      const r: BitSamplingGridRequest = {
        family: 'infinity',
        text: textCondition!,
        hDivW,
        settings: cartesianBitSettings(cfgLists as number[][], tauLists as number[][], numbers(topK.value), numbers(topP.value)),
        samples: samples.value.trim() === '' ? NaN : Number(samples.value),
        seed: seed.value.trim() === '' ? NaN : Number(seed.value),
      };
      if (!fail(anySamplingGridError({ ...r }, K))) void runSamplingGrid(store, host, r);
    };
    const preset = (name: BitSamplingPresetName): void => {
      const s = BIT_SAMPLING_PRESETS[name];
      cfg.value = String(s.cfg);
      tau.value = String(s.tau);
      topK.value = String(s.topK);
      topP.value = String(s.topP);
      run();
    };
    const sample = button(doc, 'Sample', run, 'Sample the grid for the caption');
    sample.classList.add('primary', 'grid-run');
    const presets = (Object.keys(BIT_SAMPLING_PRESETS) as BitSamplingPresetName[]).map((name) => {
      const s = BIT_SAMPLING_PRESETS[name];
      const b = button(
        doc,
        `${s.label} settings`,
        () => preset(name),
        `Official ${s.label} settings: CFG ${s.cfg}, tau ${s.tau}, top-k ${s.topK}, top-p ${s.topP}`,
      );
      b.classList.add(`preset-${name}`);
      return b;
    });
    const controls = doc.createElement('div');
    controls.className = 'controls';
    controls.append(
      field(doc, 'Ratio h:w', ratio),
      field(doc, 'CFG', cfg),
      field(doc, 'Tau', tau),
      field(doc, 'Top-k', topK),
      field(doc, 'Top-p', topP),
      field(doc, 'Samples', samples),
      field(doc, 'Seed', seed),
      sample,
      ...presets,
    );
    const progress = makeGridProgress({ doc, store, host });
    parts.head.append(caption.root, controls, status, ...progress.rows);

    const { summary, blocks, metricCharts } = makeGridBody(doc, parts.body, BIT_SAMPLING_METRICS);
    const metric = (key: string) => BIT_SAMPLING_METRICS.find((d) => d.key === key)!;

    return {
      controls: [
        { on: (_r, st) => [st.panel.caption, st.bitsModel, st.captionBesideImage], draw: (_r, st) => caption.update(st) },
        {
          // A new model: its ratios, and its recommended sampling as the form's first setting.
          on: (_r, st) => [st.bitsModel],
          draw(_r, st) {
            const m = st.bitsModel;
            if (!m) return;
            fillRatioOptions(ratio, m.schedules);
            ratio.value = String(m.schedules[0].hDivW);
            cfg.value = String(m.sampling.cfg);
            tau.value = String(m.sampling.tau);
            topK.value = String(m.sampling.topK);
            topP.value = String(m.sampling.topP);
          },
        },
        {
          on: (_r, st) => [st.bitsModel, st.samplingRun],
          draw: (_r, st) => progress.update(st, [sample, ...presets], st.bitsModel !== null),
        },
      ],
      draws: [
        {
          on: (r) => [r],
          draw(r) {
            const shapes = r.scales.map(([h, w]) => ({ h, w }));
            summary.text(
              `${r.settings.length} setting${r.settings.length > 1 ? 's' : ''} (CFG × tau × top-k × top-p) × ${r.samples} sample${r.samples > 1 ? 's' : ''} for one caption at ${r.schedule}; sample j has seed ${r.seed} + j under every setting. A token is its ${r.bits} bits. Entropy: per bit, after CFG and tau, before top-k / top-p. Agreement: tokens (bits) equal to the first setting's with the same seed.`,
            );
            for (const { d, c } of metricCharts)
              c.update(
                shapes,
                r.settings.map((s, i) => ({
                  // only what differs between the settings: the rows beside the images name them in full
                  name: bitSettingLabel(
                    s.setting,
                    r.settings.map((o) => o.setting),
                  ),
                  values: s.scales.map((m) => {
                    const v = m[d.key];
                    return v === null ? NaN : d.percent ? v * 100 : v;
                  }),
                  cls: `c${i % 10}`,
                })),
                null,
              );
            const groupWidth = r.samples * (IMAGE + 4);
            const head = blocks.selectAll<HTMLElement, null>('div.grid-head').data([null]).join('div').attr('class', 'grid-head');
            head.selectAll('div.grid-corner').data([null]).join('div').attr('class', 'grid-corner');
            head
              .selectAll<HTMLElement, null>('div.grid-class-head')
              .data([null])
              .join('div')
              .attr('class', 'grid-class-head')
              .style('width', `${groupWidth}px`)
              .text(`The caption · seeds ${r.seed}…${r.seed + r.samples - 1}`);
            const rows = blocks
              .selectAll<HTMLElement, number>('div.grid-row')
              .data(r.settings.map((_, i) => i))
              .join((enter) => {
                const row = enter.append('div').attr('class', 'grid-row');
                row.append('div').attr('class', 'grid-row-label');
                row.append('div').attr('class', 'grid-images');
                return row;
              })
              .attr('data-setting', (i) => i);
            rows.each(function (i) {
              const s = r.settings[i];
              const row = select(this);
              const label = row.select('.grid-row-label');
              label.selectAll('*').remove();
              label.append('span').attr('class', `swatch c${i % 10}`);
              const asked = s.requestedTopK !== undefined ? ` (top-k asked ${s.requestedTopK})` : '';
              label
                .append('span')
                .attr('class', 'grid-setting-name')
                .text(bitSettingLabel(s.setting) + asked);
              const last = s.scales[s.scales.length - 1];
              const f = (key: string) => formatSamplingMetric(metric(key), last[key as keyof typeof last]);
              label
                .append('span')
                .attr('class', 'grid-row-stats')
                .text(
                  `finest scale: diversity ${f('diversity')} of tokens, ${f('bitDiversity')} of bits; agreement ${f('agreement')} of tokens, ${f('bitAgreement')} of bits`,
                );
              row
                .select('.grid-images')
                .style('width', `${groupWidth}px`)
                .selectAll<HTMLCanvasElement, (typeof s.samples)[number]>('canvas')
                .data(s.samples)
                .join('canvas')
                .attr('class', 'grid-image')
                .attr('role', 'img')
                .attr('aria-label', (x) => `seed ${x.seed}, ${bitSettingLabel(s.setting)}`)
                .attr('data-seed', (x) => x.seed)
                .each(function (x) {
                  drawRgba(this, x.image, IMAGE);
                });
            });
          },
        },
      ],
    };
  },
  exportData(st) {
    const r = ofFamily(st.samplingGrid, 'infinity').value;
    if (!r) return { view: 'sampling', grid: null };
    const d = r.bits;
    return {
      view: 'sampling',
      family: 'infinity',
      text: r.text,
      schedule: r.schedule,
      samples: r.samples,
      seed: r.seed,
      scales: r.scales,
      settings: r.settings.map((s) => ({
        ...s.setting,
        requestedTopK: s.requestedTopK,
        scales: s.scales,
        samples: s.samples.map((x) => ({
          seed: x.seed,
          bits: x.bits.map((b) => Array.from({ length: b.length / d }, (_, t) => b.subarray(t * d, (t + 1) * d).join(''))),
        })),
      })),
    };
  },
});
