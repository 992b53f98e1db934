// Step-to-drawn latency in a real VS Code: the time from pressing Step in the step-through view to the new
// scale's token grid being drawn in the webview (the DOM holds the new grid and a frame has been painted).
// Same set-up as tools/screenshots.js (code-server from .vsc/, this checkout as the extension, Chromium,
// the default model, execution provider forced to CPU). Scale 1 comes from pressing Start (it also opens the run).
// usage: node bench/stepLatency.js [--runs 3] [--warmup 1] [--pause MS] [--engine] [--json out.json]
//   --pause: wait between a scale drawn and the next press, as a person reading it would (default 0: at once; the
//   engine computes the next scale ahead meanwhile, so a pause shows what a user gets).
//   needs `bash tools/setup.sh --no-start`; prints a table per scale and the median over all scales and runs.
//   --engine adds, on the same settings and seeds after VS Code has closed, the engine alone in this process (the
//   transformer step and the decode of f̂ₖ per scale) and one generationStep request to the engine child process
//   (dist/engineProcess.js, as the extension starts it): needs the tsc output (npx tsc -p tsconfig.json).
'use strict';
/* global document, window, performance, requestAnimationFrame, MessageChannel, MutationObserver */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { openVarScope, showTab, until } = require('../tools/screenshots.js');

const ROOT = path.resolve(__dirname, '..');

const GOAL_MS = 100;

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

/**
 * Arms a one-shot probe in the panel: t0 is the `click` event's timestamp on `buttonSel`; `message` is when the
 * first message from the host arrives (engine + the hops webview → extension host → engine process and back); `dom` is when the sampled grid of `pn`×`pn` and the status "Scale k of"
 * are in the DOM; `painted` is after the next frame (requestAnimationFrame, then a task: the frame is produced).
 */
function armProbe(panel, buttonSel, pn, scale) {
  return panel.evaluate(
    ([sel, pnWanted, k]) => {
      const btn = document.querySelector(sel);
      window.__varscopeProbe = new Promise((resolve, reject) => {
        let t0 = -1;
        let tMsg = -1;
        let done = false;
        // The first host message after the press: the engine's streamed step (or, for Start, the run id).
        const onMessage = () => {
          if (t0 >= 0 && tMsg < 0) tMsg = performance.now();
        };
        window.addEventListener('message', onMessage, true);
        const onClick = (ev) => {
          t0 = ev.timeStamp;
          check();
        };
        btn.addEventListener('click', onClick, { capture: true, once: true });
        const drawn = () => {
          const svg = document.querySelector('#panel-stepThrough .step-row figure.sampled svg.token-grid');
          const status = document.querySelector('#panel-stepThrough .gen-status')?.textContent || '';
          return (
            !!svg &&
            svg.getAttribute('data-pn') === String(pnWanted) &&
            status.startsWith(`Scale ${k + 1} of`) &&
            !status.includes('computing')
          );
        };
        const mo = new MutationObserver(() => check());
        function check() {
          if (done || t0 < 0 || !drawn()) return;
          done = true;
          mo.disconnect();
          window.removeEventListener('message', onMessage, true);
          const dom = performance.now() - t0;
          requestAnimationFrame(() => {
            const ch = new MessageChannel();
            ch.port1.onmessage = () => resolve({ message: tMsg - t0, dom, painted: performance.now() - t0 });
            ch.port2.postMessage(0);
          });
        }
        mo.observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
        setTimeout(() => reject(new Error(`scale ${k + 1} was not drawn within 60 s`)), 60000);
      });
      return true;
    },
    [buttonSel, pn, scale],
  );
}

/** One generation: Start (scale 1) then Step through every scale; resolves [{ dom, painted }] per scale. */
async function oneRun(panel, patchNums, seed, pauseMs) {
  await panel.fill('#panel-stepThrough .section.generate input[type=number] >> nth=0', String(seed));
  const out = [];
  for (let k = 0; k < patchNums.length; k++) {
    const sel = k === 0 ? '#panel-stepThrough button.start' : '#panel-stepThrough button.step';
    if (k > 0) await until('the Step button', () => panel.evaluate((s) => !document.querySelector(s).disabled, sel), 60000);
    if (k > 0 && pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    await armProbe(panel, sel, patchNums[k], k);
    await panel.click(sel);
    out.push(await panel.evaluate(() => window.__varscopeProbe));
  }
  return out;
}

/** The engine (tsc output in out/): per run and scale, { step, decode } in process and { request } through the child process, in ms. */
async function engineBaseline(settings, runs, warmup) {
  const dir = path.join(ROOT, 'out', 'src', 'engine');
  if (!fs.existsSync(path.join(dir, 'engine.js'))) throw new Error('--engine needs the tsc output: run npx tsc -p tsconfig.json');
  const { Engine } = require(path.join(dir, 'engine.js'));
  const { GenerationRun } = require(path.join(dir, 'engine.js'));
  const { id } = JSON.parse(fs.readFileSync(path.join(ROOT, 'models', 'default.json'), 'utf8'));
  const engine = new Engine();
  await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
  const bundle = await engine.bundle(path.join(ROOT, 'models', id));
  const out = [];
  for (let r = 0; r < warmup + runs; r++) {
    const run = new GenerationRun(bundle, `bench-${r}`, { ...settings, seed: r }, {});
    const row = [];
    for (let k = 0; k < bundle.manifest.patchNums.length; k++) {
      const t0 = performance.now();
      await run.goTo(k);
      const t1 = performance.now();
      await run.image(k);
      row.push({ step: t1 - t0, decode: performance.now() - t1 });
    }
    if (r >= warmup) out.push(row);
  }
  await engine.dispose();
  // The same steps as requests to the engine child process, as the extension host sends them.
  const { EngineClient } = require(path.join(ROOT, 'out', 'src', 'client', 'engineClient.js'));
  const client = new EngineClient({
    entry: path.join(ROOT, 'dist', 'engineProcess.js'),
    config: { provider: 'cpu', threads: 0, maxImagePixels: 1e8 },
  });
  try {
    const model = path.join(ROOT, 'models', id);
    await client.call('openModel', { model });
    for (let r = 0; r < warmup + runs; r++) {
      const { runId } = await client.call('generationStart', { model, settings: { ...settings, seed: r } });
      for (let k = 0; k < bundle.manifest.patchNums.length; k++) {
        const t0 = performance.now();
        await client.call('generationStep', { runId, scaleIndex: k });
        if (r >= warmup) out[r - warmup][k].request = performance.now() - t0;
      }
    }
  } finally {
    await client.dispose();
  }
  return out;
}

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main() {
  const runs = +arg('--runs', 3);
  const warmup = +arg('--warmup', 1);
  const pauseMs = +arg('--pause', 0);
  const session = await openVarScope({ userSettings: { 'varscope.executionProvider': 'cpu' }, log: () => undefined });
  let info;
  const results = [];
  let load;
  try {
    const { panel } = session;
    await showTab(panel, 'stepThrough');
    info = await panel.evaluate(() => {
      const inputs = document.querySelectorAll('#panel-stepThrough .section.generate input[type=number]');
      return {
        provider: document.querySelector('.app-header .provider')?.textContent || '',
        model: document.querySelector('.app-header .model-name')?.textContent || '',
        patchNums: [...document.querySelectorAll('#panel-stepThrough .jumps button')].map((b) => +b.textContent),
        // The panel's defaults (seed 0 goes up by one per run).
        settings: {
          classId: +document.querySelector('#panel-stepThrough .class-select').value,
          cfg: +inputs[1].value,
          topK: +inputs[2].value,
          topP: +inputs[3].value,
        },
      };
    });
    for (let r = 0; r < warmup + runs; r++) {
      const res = await oneRun(panel, info.patchNums, r, pauseMs);
      if (r >= warmup) results.push(res);
    }
    load = os.loadavg()[0].toFixed(2);
  } finally {
    await session.close();
  }
  const engine = process.argv.includes('--engine') ? await engineBaseline(info.settings, runs, warmup) : null;
  const st = info.settings;
  console.log(
    `Step-to-drawn latency, ${info.model}, provider ${info.provider}, ${runs} runs (+${warmup} warm-up), ${os.cpus().length} CPUs, load ${load}`,
  );
  console.log(`Step pressed ${pauseMs ? `${pauseMs} ms after` : 'as soon as'} the previous scale was drawn (--pause)`);
  console.log(
    `sampler: class ${st.classId}, seeds 0-${warmup + runs - 1}, CFG ${st.cfg}, top-k ${st.topK}, top-p ${st.topP} (the panel's defaults)`,
  );
  console.log('medians in ms from the press; "host msg": the first message from the host arrives (engine + transport),');
  console.log(
    '"DOM": the new grid is in the DOM, "drawn": the next frame is painted' +
      (engine ? ';\n"engine step/decode": the engine alone, in-process; "engine request": generationStep to the engine child process' : ''),
  );
  console.log(
    `scale  pn   via   host msg      DOM    drawn   drawn min   drawn max${engine ? '   engine step   engine decode   engine request' : ''}`,
  );
  const f = (v, w) => v.toFixed(1).padStart(w);
  const steps = [];
  info.patchNums.forEach((pn, k) => {
    const painted = results.map((r) => r[k].painted);
    if (k > 0) steps.push(...painted);
    const eng = engine
      ? `  ${f(median(engine.map((r) => r[k].step)), 12)}  ${f(median(engine.map((r) => r[k].decode)), 14)}  ${f(median(engine.map((r) => r[k].request)), 15)}`
      : '';
    console.log(
      `${String(k + 1).padStart(5)}  ${String(pn).padStart(2)}   ${k === 0 ? 'Start' : 'Step '}  ${f(median(results.map((r) => r[k].message)), 8)}  ${f(median(results.map((r) => r[k].dom)), 7)}  ${f(median(painted), 7)}  ${f(Math.min(...painted), 10)}  ${f(Math.max(...painted), 10)}${eng}`,
    );
  });
  const med = median(steps);
  const withStart = median(results.flatMap((r) => r.map((x) => x.painted)));
  console.log(
    `median over the Step presses (scales 2-${info.patchNums.length} x ${runs} runs): ${med.toFixed(1)} ms; over all ${info.patchNums.length} scales incl. Start: ${withStart.toFixed(1)} ms; goal < ${GOAL_MS} ms: ${med < GOAL_MS ? 'met' : 'NOT met'}`,
  );
  const json = arg('--json');
  if (json) fs.writeFileSync(json, JSON.stringify({ ...info, runs, warmup, load: +load, results, engine }, null, 1));
}

main().catch((e) => {
  console.error(String((e && e.stack) || e));
  process.exit(1);
});
