// What loading a bundle costs on its first open (every file hashed, weights scanned for NaN) and on a later open
// (every file found in the verified-hash cache by path, size and mtime): ModelBundle.load, graphs not opened.
// Not a test: prints medians and minimums of each.
//   npx tsc -p tsconfig.json && node bench/bundleVerify.js [BUNDLE_DIR ...] [--repeats N]
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { ModelBundle } = require('../out/src/engine/bundle/bundle');

const ROOT = path.resolve(__dirname, '..');
const dirs = process.argv.slice(2).filter((a, k, all) => !a.startsWith('--') && all[k - 1] !== '--repeats');
const i = process.argv.indexOf('--repeats');
const repeats = i > 0 ? Number(process.argv[i + 1]) : 5;
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

async function timed(f) {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-verify-bench-'));
  try {
    for (const dir of dirs.length ? dirs : [path.join(ROOT, 'models', 'emoji64-d4')]) {
      const m = JSON.parse(fs.readFileSync(path.join(dir, 'varscope.json'), 'utf8'));
      const bytes = Object.values(m.files).reduce((a, f) => a + f.bytes, 0);
      const first = [];
      const again = [];
      for (let r = 0; r < repeats; r++) {
        const cache = path.join(tmp, `cache${r}.json`);
        first.push(await timed(() => ModelBundle.load(dir, null, { cacheFile: cache })));
        again.push(await timed(() => ModelBundle.load(dir, null, { cacheFile: cache })));
      }
      console.log(`${m.id}: ${Object.keys(m.files).length} files, ${(bytes / 2 ** 20).toFixed(1)} MiB`);
      console.log(`  first open (hash all): median ${median(first).toFixed(1)} ms, min ${Math.min(...first).toFixed(1)} ms`);
      console.log(`  later open (cached):   median ${median(again).toFixed(2)} ms, min ${Math.min(...again).toFixed(2)} ms`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
