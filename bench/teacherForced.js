// Teacher-forced logits of a bundle's transformer graph against another bundle's (e.g. format 1, whose graph also
// computed the attention weights of a block, against format 2, whose graph computes logits only), interleaved run
// by run with the engine's own session options. Not a test: prints medians, minimums and their ratios.
//   npx tsc -p tsconfig.json && node bench/teacherForced.js BEFORE_BUNDLE AFTER_BUNDLE [--repeats N]
'use strict';
const fs = require('fs');
const path = require('path');
const { OnnxRuntime } = require('../out/src/engine/runtime/onnxRuntime');

const [before, after] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const i = process.argv.indexOf('--repeats');
const repeats = i > 0 ? Number(process.argv[i + 1]) : 30;
if (!before || !after) {
  console.error('usage: node bench/teacherForced.js BEFORE_BUNDLE AFTER_BUNDLE [--repeats N]');
  process.exit(2);
}

async function open(dir) {
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'varscope.json'), 'utf8'));
  const runtime = new OnnxRuntime({ provider: 'cpu', threads: 0 });
  const g = await runtime.open(path.join(dir, m.graphs.transformer.file), 'transformer');
  const rows = m.tokenCount - m.firstL;
  const C = m.vae.Cvae;
  const varInput = new Float32Array(rows * C).map((_, k) => Math.sin(k * 0.37));
  const feeds = {
    classLabel: { dtype: 'int64', dims: [1], data: BigInt64Array.from([0n]) },
    varInput: { dtype: 'float32', dims: [1, rows, C], data: varInput },
  };
  if (m.graphs.transformer.inputs.attnLayer) feeds.attnLayer = { dtype: 'int64', dims: [], data: BigInt64Array.from([0n]) };
  return { name: `${m.id} (format ${m.version})`, run: () => g.run(feeds, ['logits']), dispose: () => g.dispose() };
}

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

async function main() {
  const sides = [await open(before), await open(after)];
  const times = [[], []];
  const outs = [];
  for (const [k, s] of sides.entries()) outs[k] = (await s.run()).logits.data; // warm up
  for (let r = 0; r < repeats; r++) {
    for (const [k, s] of sides.entries()) {
      const t0 = process.hrtime.bigint();
      await s.run();
      times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  let diff = 0;
  for (let j = 0; j < outs[0].length; j++) diff = Math.max(diff, Math.abs(outs[0][j] - outs[1][j]));
  for (const [k, s] of sides.entries())
    console.log(`${s.name}: median ${median(times[k]).toFixed(2)} ms, min ${Math.min(...times[k]).toFixed(2)} ms (${repeats} runs)`);
  console.log(
    `after / before: median ${(median(times[1]) / median(times[0])).toFixed(3)}, min ${(Math.min(...times[1]) / Math.min(...times[0])).toFixed(3)}`,
  );
  console.log(`max abs difference of the logits: ${diff.toExponential(2)}`);
  for (const s of sides) await s.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
