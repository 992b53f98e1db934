// `npm test`: four layers, each ending in a plain `N passed, N failed` line, then the total.
//   unit        tsc, the formatters' checks (prettier, black), mocha on out/test/unit/**/*.test.js, and the Python
//               tests in python/tests, once on PyTorch 1.13 (/usr/bin/python3) and once on 2.x (.venv-torch2)
//   webview     node test/webview/run.js (views in Chromium)
//   integration the extension in a real VS Code (code-server, or desktop VS Code when VSCODE_EXECUTABLE is set)
//   package     node test/package/run.js (the VSIX built, installed into code-server and used from there)
// usage: node test/run.js [unit] [webview] [integration] [package]   (none: all). Exit 1 when a layer fails or ran no tests.
'use strict';
/* global __filename */
const fs = require('fs');
const path = require('path');
const os = require('os');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const PYTHON = '/usr/bin/python3';
const LAYERS = ['unit', 'webview', 'integration', 'package'];
const SUMMARY = /(\d+) passed, (\d+) failed/;

/** Runs a command with inherited output or captured output; never throws. */
function run(cmd, args, { capture = false, env = {}, timeoutMs = 30 * 60 * 1000 } = {}) {
  const r = spawnSync(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) console.log(`  ${cmd} ${args.join(' ')}: ${r.error.message}`);
  return { status: r.error ? 1 : r.status, stdout: r.stdout || '', stderr: r.stderr || '' };
}

/** `text` indented by four spaces, ending in exactly one newline (so the layer's own line starts at column 0). */
function indent(text) {
  const body = text.replace(/\s+$/, '');
  return body ? `${body.replace(/^/gm, '    ')}\n` : '';
}

/** All files under `dir` ending in `suffix`. */
function walk(dir, suffix) {
  if (!fs.existsSync(dir)) return [];
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p, suffix));
    else if (e.name.endsWith(suffix)) out.push(p);
  }
  return out.sort();
}

function tsc() {
  console.log('  tsc -p tsconfig.json');
  return run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json']).status === 0;
}

/** Mocha in a child process (a crash there cannot take the runner down); pending tests count as failed. */
function mocha(files) {
  if (files.length === 0) return { passed: 0, failed: 0 };
  const report = path.join(ROOT, 'test-results', 'unit-mocha.json');
  fs.rmSync(report, { force: true }); // a child that crashes writes none: an old report must not stand in for it
  const r = run(process.execPath, [__filename, '--mocha-child', ...files]);
  if (!fs.existsSync(report)) return { passed: 0, failed: 1 };
  const { passed, failed, pending } = JSON.parse(fs.readFileSync(report, 'utf8'));
  if (pending > 0) console.log(`  ${pending} mocha tests are pending (skipped): counted as failed`);
  return { passed, failed: failed + pending + (r.status !== 0 && failed === 0 ? 1 : 0) };
}

/** The child side of mocha(): runs the files, writes counts to test-results/unit-mocha.json. */
function mochaChild(files) {
  const Mocha = require('mocha');
  const m = new Mocha({ timeout: 120000, color: false, reporter: 'spec' });
  files.forEach((f) => m.addFile(path.resolve(f)));
  const counts = { passed: 0, failed: 0, pending: 0 };
  const runner = m.run((failures) => {
    fs.mkdirSync(path.join(ROOT, 'test-results'), { recursive: true });
    fs.writeFileSync(path.join(ROOT, 'test-results', 'unit-mocha.json'), JSON.stringify(counts));
    process.exitCode = failures ? 1 : 0;
  });
  runner.on('pass', () => counts.passed++);
  runner.on('fail', () => counts.failed++);
  runner.on('pending', () => counts.pending++);
}

/** The Pythons the Python layer runs on: Debian's PyTorch 1.13 and the PyTorch 2.x venv that tools/setup.sh makes. */
const PYTHONS = [
  { name: 'torch 1.13 (Debian)', python: PYTHON },
  { name: 'torch 2.x (.venv-torch2)', python: path.join(ROOT, '.venv-torch2', 'bin', 'python') },
];

/** Python unittest, once per interpreter of PYTHONS: counts from each summary; skipped tests count as failed. */
function pythonTests() {
  if (!fs.existsSync(path.join(ROOT, 'python', 'tests'))) return { passed: 0, failed: 0 };
  const total = { passed: 0, failed: 0 };
  for (const { name, python } of PYTHONS) {
    const r = pythonTestsOn(python);
    const where = python.startsWith(ROOT + path.sep) ? path.relative(ROOT, python) : python;
    console.log(`  python on ${r.torch ? `torch ${r.torch}` : name} (${where}): ${r.passed} passed, ${r.failed} failed`);
    total.passed += r.passed;
    total.failed += r.failed;
  }
  return total;
}

/** python/tests on one interpreter; `torch` is the version it imported. */
function pythonTestsOn(python) {
  if (!fs.existsSync(python)) {
    console.log(`  ${python} does not exist: run bash tools/setup.sh`);
    return { passed: 0, failed: 1, torch: undefined };
  }
  const version = run(python, ['-c', 'import torch; print(torch.__version__)'], { capture: true });
  const torch = version.status === 0 ? version.stdout.trim() : undefined;
  console.log(`  python unittest python/tests with ${python} (torch ${torch ?? 'missing'})`);
  const r = run(python, ['-m', 'unittest', 'discover', '-s', 'python/tests', '-t', 'python', '-v'], {
    capture: true,
    env: { PYTHONPATH: path.join(ROOT, 'python') },
  });
  const text = r.stdout + r.stderr;
  process.stdout.write(indent(text));
  const ran = /^Ran (\d+) tests?/m.exec(text);
  if (!ran) return { passed: 0, failed: 1, torch };
  const count = +ran[1];
  const num = (key) => +((new RegExp(`${key}=(\\d+)`).exec(text) || [])[1] || 0);
  const failed = num('failures') + num('errors') + num('skipped') + num('unexpected successes');
  if (num('skipped') > 0) console.log(`  ${num('skipped')} python tests skipped: counted as failed`);
  return { passed: count - failed, failed: failed + (r.status !== 0 && failed === 0 ? 1 : 0), torch };
}

/** The formatters in check mode, one test each: prettier (TypeScript, JavaScript, CSS) and black (Python). */
function formatChecks() {
  const checks = [
    ['prettier', process.execPath, [require.resolve('prettier/bin/prettier.cjs'), '--check', '.']],
    ['black', 'black', ['--check', '--config', 'python/pyproject.toml', 'python', 'bench', 'test']],
  ];
  let passed = 0;
  let failed = 0;
  for (const [name, cmd, args] of checks) {
    const r = run(cmd, args, { capture: true });
    const ok = r.status === 0;
    console.log(`  format check: ${name} ${ok ? 'ok' : 'FAILED'}`);
    if (!ok) process.stdout.write(indent(`${r.stdout}${r.stderr}`.trim() || `${cmd} did not run (black: apt install black)`));
    if (ok) passed++;
    else failed++;
  }
  return { passed, failed };
}

function unitLayer() {
  const bundles = ['official-var-A', 'official-var-A-torch2', 'infinity-A', 'infinity-B'].map((b) =>
    path.join(ROOT, 'out', 'bundles', b, 'varscope.json'),
  );
  if (bundles.some((b) => !fs.existsSync(b)) && fs.existsSync(path.join(ROOT, 'tools', 'export_fixtures.sh'))) {
    console.log('  exporting the fixture bundles (tools/export_fixtures.sh: VAR with torch 1.13 and 2.x, Infinity)');
    if (run('bash', ['tools/export_fixtures.sh']).status !== 0) console.log('  export_fixtures.sh failed: parity tests will fail');
  }
  if (!tsc()) return { passed: 0, failed: 1 };
  const format = formatChecks();
  // out/ keeps the output of deleted sources: run only tests whose .ts still exists.
  const compiled = walk(path.join(ROOT, 'out', 'test', 'unit'), '.test.js');
  const js = mocha(
    compiled.filter((f) => fs.existsSync(path.join(ROOT, path.relative(path.join(ROOT, 'out'), f)).replace(/\.js$/, '.ts'))),
  );
  const py = pythonTests();
  return { passed: format.passed + js.passed + py.passed, failed: format.failed + js.failed + py.failed };
}

/** A layer that is one script printing `N passed, N failed` last: test/webview/run.js, test/package/run.js. */
function scriptLayer(name) {
  const script = path.join(ROOT, 'test', name, 'run.js');
  if (!fs.existsSync(script)) {
    console.log(`  test/${name}/run.js does not exist`);
    return { passed: 0, failed: 0 };
  }
  const r = run(process.execPath, [script], { capture: true });
  process.stdout.write(indent(r.stdout + r.stderr));
  const lines = (r.stdout + r.stderr).split('\n').filter((l) => SUMMARY.test(l));
  if (lines.length === 0) return { passed: 0, failed: 1 };
  const [, p, f] = SUMMARY.exec(lines[lines.length - 1]);
  return { passed: +p, failed: +f + (r.status !== 0 && +f === 0 ? 1 : 0) };
}

async function integrationLayer(compiled) {
  if (!compiled && !tsc()) return { passed: 0, failed: 1 };
  const { build, needsBuild } = require('../tools/build.js');
  if (needsBuild()) {
    console.log('  build (webpack production)');
    if (!(await build('production'))) return { passed: 0, failed: 1 };
  } else console.log('  dist/ is newer than every source file: not rebuilding');
  const result = process.env.VSCODE_EXECUTABLE ? await desktopRun() : await require('./integration/codeServerRun.js').runIntegration();
  for (const o of result.outcomes)
    console.log(`    ${o.state === 'passed' ? 'ok  ' : 'FAIL'} ${o.title}${o.error ? `\n${o.error.replace(/^/gm, '      ')}` : ''}`);
  return { passed: result.passed, failed: result.failed };
}

/** The same suite in a desktop VS Code through @vscode/test-electron (no browser: the DOM test checks host state). */
async function desktopRun() {
  const { runTests } = require('@vscode/test-electron');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-electron-'));
  const ws = path.join(tmp, 'ws');
  fs.mkdirSync(ws);
  fs.copyFileSync(path.join(ROOT, 'media', 'sample.png'), path.join(ws, 'sample.png'));
  const resultsFile = path.join(tmp, 'results.json');
  const exportDir = path.join(tmp, 'exports');
  fs.mkdirSync(exportDir);
  try {
    await runTests({
      vscodeExecutablePath: process.env.VSCODE_EXECUTABLE,
      extensionDevelopmentPath: ROOT,
      extensionTestsPath: path.join(ROOT, 'out', 'test', 'integration', 'suite'),
      launchArgs: [ws, '--disable-extensions', '--disable-workspace-trust', `--user-data-dir=${path.join(tmp, 'ud')}`],
      extensionTestsEnv: { VARSCOPE_TEST: '1', VARSCOPE_TEST_RESULTS: resultsFile, VARSCOPE_TEST_EXPORT_DIR: exportDir },
    });
  } catch (e) {
    console.log(`  desktop VS Code: ${e.message}`);
  }
  if (!fs.existsSync(resultsFile)) return { passed: 0, failed: 1, outcomes: [] };
  const { outcomes } = JSON.parse(fs.readFileSync(resultsFile, 'utf8'));
  fs.rmSync(tmp, { recursive: true, force: true });
  return {
    passed: outcomes.filter((o) => o.state === 'passed').length,
    failed: outcomes.filter((o) => o.state === 'failed').length,
    outcomes,
  };
}

async function main() {
  // Architecture templates kept by exports go to a store of this run's own, never the user's (~/.cache/varscope).
  const templates = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-templates-'));
  process.env.VARSCOPE_TEMPLATES = templates;
  process.on('exit', () => fs.rmSync(templates, { recursive: true, force: true }));
  const asked = process.argv.slice(2).filter((a) => LAYERS.includes(a));
  const layers = asked.length ? asked : LAYERS;
  const results = [];
  let compiled = false;
  for (const layer of layers) {
    const t0 = Date.now();
    console.log(`== ${layer}`);
    let r;
    try {
      if (layer === 'unit') {
        r = unitLayer();
        compiled = true;
      } else if (layer === 'webview' || layer === 'package') r = scriptLayer(layer);
      else r = await integrationLayer(compiled);
    } catch (e) {
      console.log(`  ${layer} layer crashed: ${String((e && e.stack) || e)}`);
      r = { passed: 0, failed: 1 };
    }
    const note = r.passed + r.failed === 0 ? ' (no tests ran: counts as a failure)' : '';
    console.log(`${layer}: ${r.passed} passed, ${r.failed} failed${note} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    results.push(r);
  }
  const passed = results.reduce((s, r) => s + r.passed, 0);
  const failed = results.reduce((s, r) => s + r.failed, 0);
  console.log(`total: ${passed} passed, ${failed} failed`);
  const bad = results.some((r) => r.failed > 0 || r.passed + r.failed === 0);
  process.exit(bad ? 1 : 0);
}

if (process.argv[2] === '--mocha-child') mochaChild(process.argv.slice(3));
else main();
