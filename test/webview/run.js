// Webview test layer: builds the bundle if missing, runs every test/webview/*.test.js against it in headless Chromium,
// prints one line "N passed, N failed" (failure details go to stderr) and exits 1 on any failure.
'use strict';
/* global window */
const fs = require('fs');
const path = require('path');
const { execSync } = require('child_process');
const { launch, openPanel, writeRecordingsScript } = require('./harness');
const { buildRecordings } = require('./fixtures/recorded');

const ROOT = path.resolve(__dirname, '../..');
const TIMEOUT_MS = 60000;

async function main() {
  if (!fs.existsSync(path.join(ROOT, 'dist/webview/main.js'))) {
    execSync('npx webpack --mode development --config-name webview', { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const only = process.argv[2];
  const tests = [];
  for (const f of fs
    .readdirSync(__dirname)
    .filter((n) => n.endsWith('.test.js'))
    .sort()) {
    require(path.join(__dirname, f))((name, fn) => tests.push({ name: `${f.replace('.test.js', '')}: ${name}`, fn }));
  }
  const rec = buildRecordings();
  writeRecordingsScript(rec);
  const browser = await launch();
  let passed = 0;
  let failed = 0;
  const failures = [];
  try {
    for (const t of tests) {
      if (only && !t.name.includes(only)) continue;
      const opened = [];
      const ctx = {
        rec,
        browser,
        open: async (opts) => {
          const p = await openPanel(browser, rec, opts);
          opened.push(p);
          return p;
        },
      };
      let timer;
      try {
        await Promise.race([
          t.fn(ctx),
          new Promise((_, rej) => {
            timer = setTimeout(() => rej(new Error(`timed out after ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
          }),
        ]);
        for (const p of opened) {
          if (p.pageErrors.length) throw new Error(`page errors: ${p.pageErrors.join('; ')}`);
          const csp = await p.page.evaluate(() => window.__fake.cspViolations);
          if (csp.length) throw new Error(`CSP violations: ${csp.join('; ')}`);
        }
        passed++;
      } catch (e) {
        failed++;
        failures.push(`✗ ${t.name}\n  ${(e && e.stack) || e}`);
      } finally {
        clearTimeout(timer);
        for (const p of opened) await p.close().catch(() => undefined);
      }
    }
  } finally {
    await browser.close();
  }
  if (failures.length) process.stderr.write(`${failures.join('\n')}\n`);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  process.stderr.write(`${(e && e.stack) || e}\n`);
  process.stdout.write('0 passed, 1 failed\n');
  process.exitCode = 1;
});
