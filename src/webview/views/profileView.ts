/**
 * Where the time goes, per scale: one generation's time split by graph, each scale's FLOPs and the fraction of the
 * machine's measured matrix-product rate its step graph reached, the KV cache's bytes, the last two scales' share, and
 * the teacher-forced pass per graph. Every number is the engine's (ScaleProfile) or derived in src/shared/scaleProfile.ts.
 */
import { select } from 'd3';
import type { GenerationScaleProfile, ScaleProfile } from '../../shared/results';
import { generationParts, MAX_PROFILE_REPEATS, passRates, stepRate } from '../../shared/scaleProfile';
import { load } from '../actions';
import { button, field, numberInput } from '../ui/controls';
import { makeDataTable } from '../ui/dataTable';
import { makeScaleChart } from '../ui/scaleChart';
import { renderStats } from '../ui/stats';
import { defineView } from './view';

const MB = 2 ** 20;
const pct = (x: number): string => `${(x * 100).toFixed(0)} %`;
/** A part's class in the stacked chart (its colour): the step graph in the accent colour, then the others. */
const PART_CLASSES = ['', 'alt', 'alt2', 'alt3'];

/** The Profile view. */
export const createProfileView = defineView<ScaleProfile>({
  className: 'section view-profile',
  source: (st) => ({
    data: st.profile,
    loading: 'Timing one generation and one teacher-forced pass per scale…',
    idle: 'Press Measure: one generation and one teacher-forced pass, timed per scale and per graph, beside the machine’s measured matrix-product rate.',
  }),
  build({ doc, store, host }, parts) {
    const controls = select(parts.head).append('div').attr('class', 'controls');
    const repeats = numberInput(doc, 3, 1, MAX_PROFILE_REPEATS, 1);
    repeats.classList.add('profile-repeats');
    controls.node()!.append(
      field(doc, 'Repeats', repeats),
      button(
        doc,
        'Measure',
        () => {
          const n = Math.min(MAX_PROFILE_REPEATS, Math.max(1, Math.round(+repeats.value || 1)));
          void load(store, host, 'profile', { classId: store.state.generation.settings.classId, repeats: n });
        },
        'Time one generation and one teacher-forced pass per scale',
      ),
    );
    const caption = select(parts.head)
      .append('p')
      .attr('class', 'muted profile-caption')
      .text("The sampler's class and the model's sampling settings, seed 0; the teacher-forced pass runs on the open image.");

    const body = select(parts.body);
    const stats = body.append('div').attr('class', 'stats profile-stats').node()!;
    const summary = body.append('div').attr('class', 'profile-summary muted');
    const row1 = body.append('div').attr('class', 'row');
    const time = makeScaleChart(doc, {
      title: 'Generation: time per scale, by graph',
      yLabel: 'ms',
      kind: 'stack',
      width: 370,
      height: 210,
      format: (v) => v.toFixed(1),
    });
    const flops = makeScaleChart(doc, {
      title: 'Matrix-product FLOPs per scale',
      yLabel: 'GFLOP',
      kind: 'bar',
      width: 370,
      height: 210,
      format: (v) => v.toFixed(3),
    });
    time.root.classList.add('profile-time');
    const row2 = body.append('div').attr('class', 'row');
    const limit = makeScaleChart(doc, {
      title: '',
      yLabel: 'of the limit (%)',
      kind: 'bar',
      width: 370,
      height: 210,
      format: (v) => v.toFixed(0),
    });
    limit.root.classList.add('profile-limit');
    row1.node()!.append(time.root, limit.root, flops.root);
    const kv = makeScaleChart(doc, {
      title: 'KV cache after each scale',
      yLabel: 'MB',
      kind: 'bar',
      width: 370,
      height: 190,
      format: (v) => v.toFixed(2),
    });
    row2.node()!.append(kv.root);
    body.append('h4').text('Per scale (the best of the runs)');
    const tableHost = body.append('div');
    let table: ReturnType<typeof makeDataTable<GenerationScaleProfile>> | undefined;

    return {
      controls: [
        {
          on: (p) => [p],
          draw(p) {
            if (p) repeats.value = String(p.repeats);
            caption.text(
              p
                ? `Class ${p.classId}, cfg ${p.generation.settings.cfg}, top-k ${p.generation.settings.topK}, top-p ${p.generation.settings.topP}, seed 0 (batch ${p.generation.batch}); ` +
                    `teacher-forced on ${p.teacherForced.image ?? 'the generated sample'}; ${p.repeats > 1 ? `best of ${p.repeats} runs` : 'one run'} on ${p.provider}.`
                : "The sampler's class and the model's sampling settings, seed 0; the teacher-forced pass runs on the open image.",
            );
          },
        },
      ],
      draws: [
        {
          on: (p) => [p],
          draw(p) {
            const g = p.generation;
            const rates = passRates(p);
            renderStats(stats, [
              { cls: 'profile-limit-rate', label: 'machine limit (GFLOP/s)', value: p.rate.gflops.toFixed(1) },
              { cls: 'profile-gen-ms', label: 'generation (ms)', value: g.totalMs.toFixed(0) },
              { cls: 'profile-gen-fraction', label: 'generation matmuls, of the limit', value: pct(rates.generation.fraction) },
              { cls: 'profile-last-two', label: 'last two scales, of the time', value: pct(g.lastTwoShare.time) },
              { cls: 'profile-tf-ms', label: 'teacher-forced (ms)', value: p.teacherForced.totalMs.toFixed(0) },
              { cls: 'profile-tf-fraction', label: 'teacher-forced matmuls, of the limit', value: pct(rates.teacherForced.fraction) },
            ]);
            const shapes = p.rate.shapes.map(([k, n]) => `${k}×${n}`).join(', ');
            summary
              .selectAll('p')
              .data([
                `Machine limit: ${p.rate.gflops.toFixed(1)} GFLOP/s, the best of ${p.rate.runs} runs of the model's linear layers (${p.rate.m} rows × ${shapes}) on ${p.rate.threads} threads (median ${p.rate.medianGflops.toFixed(1)}).`,
                `Generation: ${g.totalMs.toFixed(1)} ms (decode ${g.decodeMs.toFixed(1)} ms; measured around it ${g.wallMs.toFixed(1)} ms), ${(g.flops / 1e9).toFixed(2)} GFLOP at ${rates.generation.gflops.toFixed(1)} GFLOP/s over the step graph's time. ` +
                  `The last two scales take ${pct(g.lastTwoShare.time)} of the scales' time and ${pct(g.lastTwoShare.flops)} of their FLOPs.`,
                `Teacher-forced pass: ${p.teacherForced.graphs.map((x) => `${x.role} ${x.ms.toFixed(1)} ms`).join(', ')}; ${(p.teacherForced.flops / 1e9).toFixed(2)} GFLOP at ${rates.teacherForced.gflops.toFixed(1)} GFLOP/s over the transformer's time; ` +
                  `its last two scales hold ${pct(p.teacherForced.lastTwoShare.flops)} of its FLOPs (one graph runs every scale: its time is per graph).`,
              ])
              .join('p')
              .text((d) => d);

            const pns = g.scales.map((s) => s.pn);
            const names = generationParts(p);
            time.update(
              pns,
              names.map((n, i) => ({
                name: n === 'host' ? 'host (sampling, CFG, copies)' : n,
                values: g.scales.map((s) => s.ms[n] ?? 0),
                cls: PART_CLASSES[i] ?? 'alt3',
              })),
              null,
            );
            flops.update(
              pns,
              [
                { name: 'generation step', values: g.scales.map((s) => s.flops.total / 1e9) },
                { name: 'teacher-forced rows', values: p.teacherForced.scales.map((s) => s.flops.total / 1e9), cls: 'alt' },
              ],
              null,
            );
            select(limit.root)
              .select('.chart-title')
              .text(`Step graph's rate, of the machine's ${p.rate.gflops.toFixed(1)} GFLOP/s`);
            limit.update(pns, [{ name: 'of the limit', values: g.scales.map((s) => stepRate(s, p.rate.gflops).fraction * 100) }], null);
            kv.update(pns, [{ name: 'KV cache', values: g.scales.map((s) => s.kvBytes / MB) }], null);

            tableHost.selectAll('*').remove();
            table = makeDataTable<GenerationScaleProfile>(doc, 'profile-table', [
              { header: 'scale', cell: (s) => `${s.pn}×${s.pn}` },
              { header: 'rows', cell: (s) => String(g.batch * s.tokens) },
              ...names.map((n) => ({ header: `${n} ms`, cell: (s: GenerationScaleProfile) => (s.ms[n] ?? 0).toFixed(1) })),
              { header: 'ms', cell: (s) => s.totalMs.toFixed(1) },
              { header: 'GFLOP', cell: (s) => (s.flops.total / 1e9).toFixed(3) },
              { header: 'GFLOP/s', cell: (s) => stepRate(s, p.rate.gflops).gflops.toFixed(1) },
              { header: 'of limit', cell: (s) => pct(stepRate(s, p.rate.gflops).fraction) },
              { header: 'KV MB', cell: (s) => (s.kvBytes / MB).toFixed(2) },
            ]);
            tableHost.node()!.append(table.root);
            table.update(g.scales);
          },
        },
      ],
    };
  },
  exportData: (st) => st.profile.value ?? null,
});
