// The Profile view from the engine's profile of the fixture bundle (fixtures/profile.json): every number drawn is the
// engine's, or derived from it the way src/shared/scaleProfile.ts says (checked here against the JSON itself).
'use strict';
const assert = require('assert');
const PROFILE = require('./fixtures/profile.json');

const pct = (x) => `${(x * 100).toFixed(0)} %`;

module.exports = (test) => {
  test('profile: time per scale by graph, FLOPs, fraction of the limit, KV bytes and the last two scales', async ({ open }) => {
    const asked = [];
    const p = await open({
      handlers: {
        profile: async (params) => {
          asked.push(params);
          return PROFILE;
        },
      },
    });
    await p.page.waitForSelector('.token-grid');
    await p.tab('profile');
    assert.match(await p.page.textContent('#panel-profile .placeholder'), /Press Measure/);
    await p.page.fill('.profile-repeats', '3');
    await p.page.click('#panel-profile button:text("Measure")');
    await p.page.waitForSelector('.profile-table tbody tr');
    assert.deepStrictEqual(asked, [{ classId: 0, repeats: 3 }]); // the sampler's class

    const g = PROFILE.generation;
    const stat = (cls) => p.page.textContent(`.profile-stats .${cls} .stat-value`);
    assert.strictEqual(await stat('profile-limit-rate'), PROFILE.rate.gflops.toFixed(1));
    assert.strictEqual(await stat('profile-gen-ms'), g.totalMs.toFixed(0));
    assert.strictEqual(await stat('profile-last-two'), pct(g.lastTwoShare.time));
    const stepMs = g.scales.reduce((s, x) => s + x.ms.transformerStep, 0);
    assert.strictEqual(await stat('profile-gen-fraction'), pct(g.flops / stepMs / 1e6 / PROFILE.rate.gflops));
    const tfMs = PROFILE.teacherForced.graphs.find((x) => x.role === 'transformer').ms;
    assert.strictEqual(await stat('profile-tf-fraction'), pct(PROFILE.teacherForced.flops / tfMs / 1e6 / PROFILE.rate.gflops));

    // the table: one row per scale, its parts, FLOPs, rate and KV bytes as the engine gave them
    const rows = await p.page.$$eval('.profile-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
    const headers = await p.page.$$eval('.profile-table thead th', (ths) => ths.map((th) => th.textContent));
    assert.deepStrictEqual(headers, [
      'scale',
      'rows',
      'transformerStep ms',
      'latentStep ms',
      'host ms',
      'ms',
      'GFLOP',
      'GFLOP/s',
      'of limit',
      'KV MB',
    ]);
    assert.strictEqual(rows.length, 10);
    g.scales.forEach((s, k) => {
      const rate = s.flops.total / s.ms.transformerStep / 1e6;
      assert.deepStrictEqual(rows[k], [
        `${s.pn}×${s.pn}`,
        String(2 * s.tokens),
        s.ms.transformerStep.toFixed(1),
        s.ms.latentStep.toFixed(1),
        s.ms.host.toFixed(1),
        s.totalMs.toFixed(1),
        (s.flops.total / 1e9).toFixed(3),
        rate.toFixed(1),
        pct(rate / PROFILE.rate.gflops),
        (s.kvBytes / 2 ** 20).toFixed(2),
      ]);
    });

    // the stacked time chart: three bars per scale (step graph, latent step, host), stacked to the scale's total
    const bars = await p.page.$$eval('.profile-time .series', (gs) =>
      gs.map((g) => [...g.querySelectorAll('rect.bar')].map((r) => r.querySelector('title').textContent)),
    );
    assert.strictEqual(bars.length, 3);
    assert.strictEqual(bars[0][9], `transformerStep at 16×16: ${g.scales[9].ms.transformerStep.toFixed(1)}`);
    assert.strictEqual(bars[2][9], `host (sampling, CFG, copies) at 16×16: ${g.scales[9].ms.host.toFixed(1)}`);
    // stacked: each part's bar starts where the one below it ends
    const stack = await p.page.$$eval('.profile-time .series rect.bar[data-scale="9"]', (rs) =>
      rs.map((r) => [+r.getAttribute('y'), +r.getAttribute('height')]),
    );
    assert.strictEqual(stack.length, 3);
    for (let i = 1; i < 3; i++) assert.ok(Math.abs(stack[i][0] + stack[i][1] - stack[i - 1][0]) < 1e-6, `part ${i}`);
    assert.strictEqual(await p.page.locator('.profile-time .series rect.bar').count(), 30);
    // the teacher-forced pass per graph, and the last two scales' FLOP share
    const summary = await p.page.textContent('.profile-summary');
    for (const x of PROFILE.teacherForced.graphs) assert.ok(summary.includes(`${x.role} ${x.ms.toFixed(1)} ms`), x.role);
    assert.ok(summary.includes(`its last two scales hold ${pct(PROFILE.teacherForced.lastTwoShare.flops)} of its FLOPs`));
    assert.match(await p.page.textContent('.profile-caption'), /teacher-forced on img2\.png; best of 3 runs on cpu/);
  });
};
