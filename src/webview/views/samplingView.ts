/**
 * Sampling: sampler settings side by side. A grid of CFG × top-k × top-p for chosen classes, N seeded samples each
 * (sample j has the same seed under every setting, so a column differs only by the sampler); per class a block of
 * images (rows: settings, columns: samples) and per scale one chart per metric with a line per setting. The official
 * FID and "looks" settings are one click each. A grid is a run of the panel: "k of N samples" with a bar and a Cancel
 * while it runs; cancelled, the previous result stays.
 */
import { select } from 'd3';
import { runSamplingGrid } from '../actions';
import {
  cartesianSettings,
  formatSamplingMetric,
  SAMPLING_METRICS,
  SAMPLING_PRESETS,
  samplingGridError,
  type SamplerSetting,
  type SamplingGridRequest,
  type SamplingGridResult,
  type SamplingPreset,
} from '../../shared/samplingGrid';
import { ofFamily } from '../store';
import { drawRgba } from '../ui/canvas';
import { button, field, numberInput } from '../ui/controls';
import { makeGridBody, makeGridProgress } from '../ui/gridProgress';
import { defineView } from './view';

const IMAGE = 80;

/** "CFG 1.5 · top-k 512 · top-p 0.96" (the asked top-k beside a clamped one). */
export function settingLabel(s: SamplerSetting, requestedTopK?: number): string {
  const k = requestedTopK !== undefined ? `${s.topK} (asked ${requestedTopK})` : String(s.topK);
  return `CFG ${s.cfg} · top-k ${k} · top-p ${s.topP}`;
}

/** Numbers of a comma-separated field ("" or a non-number → NaN, refused by the grid check). */
function numbers(text: string): number[] {
  return text.split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));
}

/** The Sampling view. */
export const createSamplingView = defineView<SamplingGridResult>({
  className: 'view view-sampling',
  source: (st) => ({
    data: ofFamily(st.samplingGrid, 'var'),
    loading: 'Sampling the grid: every sample is a whole generation…',
    idle: 'Choose classes and settings, then Sample — or one click on the official FID or looks settings.',
  }),
  build({ doc, store, host }, parts) {
    const text = (value: string, cls: string) => {
      const i = doc.createElement('input');
      i.type = 'text';
      i.value = value;
      i.className = cls;
      return i;
    };
    const classes = text('0, 1', 'grid-classes');
    const cfg = text('1.5, 5', 'grid-cfg');
    const topK = text('900', 'grid-topk');
    const topP = text('0.96', 'grid-topp');
    const samples = numberInput(doc, 4, 1, 32, 1);
    samples.classList.add('grid-samples');
    const seed = numberInput(doc, 0, 0, 2 ** 32 - 1, 1);
    seed.classList.add('grid-seed');
    const status = doc.createElement('div');
    status.className = 'hint grid-status';
    status.setAttribute('aria-live', 'polite');
    const request = (): SamplingGridRequest => ({
      classes: numbers(classes.value),
      settings: cartesianSettings(numbers(cfg.value), numbers(topK.value), numbers(topP.value)),
      samples: samples.value.trim() === '' ? NaN : Number(samples.value),
      seed: seed.value.trim() === '' ? NaN : Number(seed.value),
    });
    const run = (): void => {
      const r = request();
      const problem = samplingGridError({ ...r }, store.state.model?.numClasses);
      status.textContent = problem ?? '';
      status.classList.toggle('is-error', problem !== null);
      if (!problem) void runSamplingGrid(store, host, r);
    };
    const preset = (name: SamplingPreset): void => {
      const s = SAMPLING_PRESETS[name];
      cfg.value = s.map((x) => x.cfg).join(', ');
      topK.value = s.map((x) => x.topK).join(', ');
      topP.value = s.map((x) => x.topP).join(', ');
      run();
    };
    const sample = button(doc, 'Sample', run, 'Sample the grid');
    sample.classList.add('primary', 'grid-run');
    const fid = button(doc, 'FID settings', () => preset('fid'), 'Official FID settings: CFG 1.5, top-k 900, top-p 0.96');
    fid.classList.add('preset-fid');
    const looks = button(doc, 'Looks settings', () => preset('looks'), 'Official looks settings: CFG 5, top-k 900, top-p 0.96');
    looks.classList.add('preset-looks');
    const controls = doc.createElement('div');
    controls.className = 'controls';
    controls.append(
      field(doc, 'Classes', classes),
      field(doc, 'CFG', cfg),
      field(doc, 'Top-k', topK),
      field(doc, 'Top-p', topP),
      field(doc, 'Samples', samples),
      field(doc, 'Seed', seed),
      sample,
      fid,
      looks,
    );
    // While a grid runs: its samples done of all, and a Cancel; once cancelled, a line that says so.
    const progress = makeGridProgress({ doc, store, host });
    parts.head.append(controls, status, ...progress.rows);

    const { summary, blocks, metricCharts } = makeGridBody(doc, parts.body, SAMPLING_METRICS);

    return {
      controls: [
        {
          // The model's classes: the first two are the default choice.
          on: (_r, st) => [st.model],
          draw(_r, st) {
            const n = st.model?.numClasses ?? 0;
            if (n && numbers(classes.value).some((c) => c >= n)) classes.value = n > 1 ? '0, 1' : '0';
          },
        },
        {
          // One grid at a time: Sample and the presets wait while one runs.
          on: (_r, st) => [st.model, st.samplingRun],
          draw: (_r, st) => progress.update(st, [sample, fid, looks], st.model !== null),
        },
      ],
      draws: [
        {
          on: (r) => [r],
          draw(r, st) {
            const names = st.model?.classes ?? [];
            summary.text(
              `${r.settings.length} setting${r.settings.length > 1 ? 's' : ''} (CFG × top-k × top-p) × ${r.classes.length} class${r.classes.length > 1 ? 'es' : ''} × ${r.samples} sample${r.samples > 1 ? 's' : ''}; sample j has seed ${r.seed} + j under every setting. Entropy: of the predictions after CFG, before top-k / top-p. Agreement: tokens equal to the first setting's (same class and seed).`,
            );
            for (const { d, c } of metricCharts)
              c.update(
                r.patchNums,
                r.settings.map((s, i) => ({
                  name: settingLabel(s.setting),
                  values: s.scales.map((m) => {
                    const v = m[d.key];
                    return v === null ? NaN : d.percent ? v * 100 : v;
                  }),
                  cls: `c${i % 10}`,
                })),
                null,
              );
            // One row per setting (its colour in the charts), per class a group of columns, one per sample (same seed
            // down a column): the settings of one class and seed read top to bottom.
            const groupWidth = r.samples * (IMAGE + 4);
            const head = blocks.selectAll<HTMLElement, null>('div.grid-head').data([null]).join('div').attr('class', 'grid-head');
            head.selectAll('div.grid-corner').data([null]).join('div').attr('class', 'grid-corner');
            head
              .selectAll<HTMLElement, number>('div.grid-class-head')
              .data(r.classes)
              .join('div')
              .attr('class', 'grid-class-head')
              .attr('data-class', (c) => c)
              .style('width', `${groupWidth}px`)
              .text((c) => `Class ${c}${names[c] ? ` · ${names[c]}` : ''} · seeds ${r.seed}…${r.seed + r.samples - 1}`);
            const rows = blocks
              .selectAll<HTMLElement, number>('div.grid-row')
              .data(r.settings.map((_, i) => i))
              .join((enter) => {
                const row = enter.append('div').attr('class', 'grid-row');
                row.append('div').attr('class', 'grid-row-label');
                return row;
              })
              .attr('data-setting', (i) => i);
            rows.each(function (i) {
              const s = r.settings[i];
              const row = select(this);
              const label = row.select('.grid-row-label');
              label.selectAll('*').remove();
              label.append('span').attr('class', `swatch c${i % 10}`);
              label.append('span').attr('class', 'grid-setting-name').text(settingLabel(s.setting, s.requestedTopK));
              const last = s.scales[s.scales.length - 1];
              label
                .append('span')
                .attr('class', 'grid-row-stats')
                .text(
                  `finest scale: diversity ${formatSamplingMetric(SAMPLING_METRICS[2], last.diversity)}, agreement ${formatSamplingMetric(SAMPLING_METRICS[3], last.agreement)}`,
                );
              row
                .selectAll<HTMLElement, number>('div.grid-images')
                .data(r.classes.map((_, ci) => ci))
                .join('div')
                .attr('class', 'grid-images')
                .attr('data-class', (ci) => r.classes[ci])
                .style('width', `${groupWidth}px`)
                .each(function (ci) {
                  const own = s.samples.slice(ci * r.samples, (ci + 1) * r.samples);
                  select(this)
                    .selectAll<HTMLCanvasElement, (typeof own)[number]>('canvas')
                    .data(own)
                    .join('canvas')
                    .attr('class', 'grid-image')
                    .attr('role', 'img')
                    .attr('aria-label', (x) => `class ${x.classId}, seed ${x.seed}, ${settingLabel(s.setting)}`)
                    .attr('data-seed', (x) => x.seed)
                    .each(function (x) {
                      drawRgba(this, x.image, IMAGE);
                    });
                });
            });
          },
        },
      ],
    };
  },
  exportData(st) {
    const r = ofFamily(st.samplingGrid, 'var').value;
    if (!r) return { view: 'sampling', grid: null };
    return {
      view: 'sampling',
      classes: r.classes,
      samples: r.samples,
      seed: r.seed,
      patchNums: r.patchNums,
      settings: r.settings.map((s) => ({
        ...s.setting,
        requestedTopK: s.requestedTopK,
        scales: s.scales,
        samples: s.samples.map((x) => ({ classId: x.classId, seed: x.seed, tokens: x.tokens })),
      })),
    };
  },
});
