// The VSIX as a user gets it: builds the VSIX of this platform (tools/package.js), checks what it carries, installs
// it into code-server with --install-extension (no extensionDevelopmentPath anywhere), opens media/sample.png from
// the installed copy and holds the drawn pyramid against the installed CLI's tokens, and exports the official-var-A
// fixture checkpoints with the installed CLI, which must find the Python package inside the installed extension.
// Fixtures: official-var-A in $VARSCOPE_FIXTURES, default <repo>/../shared/fixtures.
// usage (normally through test/run.js): node test/package/run.js   -> prints `N passed, N failed`
'use strict';
/* global document */
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const cs = require('../integration/codeServerRun.js');
const { build, needsBuild } = require('../../tools/build.js');
const { PYTHON_PACKAGE, PYTHON_VERIFIER, GRAPH_SPEC, TEMPLATES, productionPackages, packageTarget } = require('../../tools/package.js');

const ROOT = path.resolve(__dirname, '..', '..');
const TARGET = `${process.platform}-${process.arch}`;
const CODE_SERVER = path.join(ROOT, '.vsc', 'cs', 'node_modules', '.bin', 'code-server');
/** Top-level entries an installed VSIX may hold (vsce renames LICENSE and README.md; the installer writes .vsixmanifest). */
const TOP_LEVEL = [
  'package.json',
  'LICENSE.txt',
  'readme.md',
  '.vsixmanifest',
  'media',
  'dist',
  'models',
  'bin',
  'node_modules',
  PYTHON_PACKAGE.split('/')[0],
  PYTHON_VERIFIER.split('/')[0],
  GRAPH_SPEC.split('/')[0],
  TEMPLATES,
];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const readJson = (p) => JSON.parse(fs.readFileSync(p, 'utf8'));

/** Polls `fn` until it returns a truthy value; throws `what` after `ms`. */
async function until(what, fn, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch {
      // a frame may navigate while we look
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(250);
  }
}

/** Every file under `dir`, relative, with forward slashes. */
function files(dir, rel = '') {
  const out = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...files(dir, r));
    else out.push(r);
  }
  return out;
}

/** Runs a command, returns { status, out } (stdout and stderr together); never throws. */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 2 ** 20, ...opts });
  return { status: r.error ? -1 : r.status, out: `${r.stdout || ''}${r.stderr || ''}${r.error ? r.error.message : ''}` };
}

/** The official-var-A fixture folder (vae.pth, var.pth). */
function fixtureDir() {
  const base = process.env.VARSCOPE_FIXTURES || path.resolve(ROOT, '..', 'shared', 'fixtures');
  const dir = path.join(base, 'official-var-A');
  for (const f of ['vae.pth', 'var.pth'])
    if (!fs.existsSync(path.join(dir, f)))
      throw new Error(`fixture ${path.join(dir, f)} not found (set VARSCOPE_FIXTURES to the folder that holds official-var-A)`);
  return dir;
}

/** The installed CLI (bin/varscope.js of the installed extension) on `args`, from a folder outside the checkout. */
function installedCli(ext, args, cwd, env = {}) {
  const clean = { ...process.env, ...env };
  delete clean.VARSCOPE_CLI; // would point bin/varscope.js at another build
  return run(process.execPath, [path.join(ext, 'bin', 'varscope.js'), ...args], { cwd, env: clean });
}

/** Tokens per scale of `image` with the default model, from the installed CLI. */
function cliTokens(ext, image, cwd) {
  const json = path.join(cwd, 'inspect.json');
  const r = installedCli(ext, ['inspect', image, '--json', json], cwd);
  if (r.status !== 0) throw new Error(`installed varscope inspect failed (${r.status}): ${r.out.slice(-2000)}`);
  return readJson(json).scales.map((s) => s.tokens);
}

/** Opens code-server on the installed extensions only, with VARSCOPE_OPEN_IMAGE; resolves the pyramid it draws. */
async function drawnPyramid(dirs, image) {
  const { chromium } = require('playwright-core');
  const port = await cs.freePort();
  const env = {
    ...process.env,
    PATH: `${cs.NODE24_BIN}:${process.env.PATH}`,
    XDG_CONFIG_HOME: path.join(dirs.xdg, 'config'),
    XDG_DATA_HOME: path.join(dirs.xdg, 'data'),
    VARSCOPE_OPEN_IMAGE: image,
  };
  delete env.VARSCOPE_TEST;
  const log = path.join(ROOT, 'test-results', 'package-code-server.log');
  fs.mkdirSync(path.dirname(log), { recursive: true });
  let server;
  let browser;
  try {
    server = await cs.startCodeServer(dirs, port, env, log);
    browser = await chromium.launch({ executablePath: cs.CHROMIUM, headless: true, args: cs.CHROMIUM_ARGS });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    // No payload: the workbench loads extensions from --extensions-dir only.
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(dirs.ws)}`, { timeout: 120000 }); // a loaded machine is slow
    const GRIDS = '.pyramid-strip figure[data-scale]';
    const read = async () => {
      for (const f of page.frames()) {
        if (f === page.mainFrame()) continue;
        const r = await f
          .evaluate((sel) => {
            const figs = [...document.querySelectorAll(sel)];
            if (figs.length === 0) return null;
            const grids = figs.map((fig) => [...fig.querySelectorAll('rect.cell')].map((c) => c.getAttribute('data-token')));
            if (grids.some((g) => g.length === 0 || g.some((t) => t === null))) return null; // not coloured yet
            return { model: document.querySelector('.app-header .model-name')?.textContent || '', grids: grids.map((g) => g.map(Number)) };
          }, GRIDS)
          .catch(() => null);
        if (r) return r;
      }
      return null;
    };
    const drawn = await until('the pyramid of the installed extension', read, 180000);
    await page.screenshot({ path: path.join(ROOT, 'test-results', 'package-panel.png') });
    return drawn;
  } finally {
    if (browser) await browser.close().catch(() => undefined);
    await cs.stopCodeServer(server);
  }
}

async function main() {
  const outcomes = [];
  const check = async (title, fn) => {
    try {
      await fn();
      outcomes.push({ title, ok: true });
      console.log(`  ok   ${title}`);
    } catch (e) {
      outcomes.push({ title, ok: false });
      console.log(`  FAIL ${title}\n${String((e && e.message) || e).replace(/^/gm, '       ')}`);
    }
  };
  const dirs = cs.makeDirs();
  let vsix = null;
  let ext = null;
  try {
    await check(`the ${TARGET} VSIX builds`, async () => {
      cs.checkSetup();
      if (needsBuild() && !(await build('production'))) throw new Error('webpack build failed');
      const t0 = Date.now();
      vsix = packageTarget(TARGET, { deps: productionPackages(), outDir: path.join(dirs.tmp, 'vsix'), quiet: true });
      console.log(
        `       ${path.basename(vsix)}: ${(fs.statSync(vsix).size / 2 ** 20).toFixed(1)} MiB in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
      );
    });
    await check('code-server installs it with --install-extension', async () => {
      if (!vsix) throw new Error('no VSIX');
      const env = {
        ...process.env,
        PATH: `${cs.NODE24_BIN}:${process.env.PATH}`,
        XDG_CONFIG_HOME: path.join(dirs.xdg, 'config'),
        XDG_DATA_HOME: path.join(dirs.xdg, 'data'),
      };
      const r = run(CODE_SERVER, ['--user-data-dir', dirs.ud, '--extensions-dir', dirs.exts, '--install-extension', vsix], {
        env,
        timeout: 180000,
      });
      if (r.status !== 0) throw new Error(`code-server --install-extension exited ${r.status}: ${r.out.slice(-2000)}`);
      const pkg = readJson(path.join(ROOT, 'package.json'));
      const found = fs.readdirSync(dirs.exts).filter((d) => d.startsWith(`${pkg.publisher}.${pkg.name}-${pkg.version}`));
      if (found.length !== 1)
        throw new Error(
          `expected one installed ${pkg.publisher}.${pkg.name} in ${dirs.exts}, found ${JSON.stringify(fs.readdirSync(dirs.exts))}`,
        );
      ext = path.join(dirs.exts, found[0]);
    });
    await check('the installed extension carries what its features need', async () => {
      if (!ext) throw new Error('not installed');
      const [osName, arch] = TARGET.split('-');
      const pkg = readJson(path.join(ext, 'package.json'));
      const { id } = readJson(path.join(ext, 'models', 'default.json'));
      const need = [
        'LICENSE.txt',
        'readme.md',
        pkg.icon,
        'bin/varscope.js',
        PYTHON_VERIFIER,
        'dist/extension.js',
        'dist/engineProcess.js',
        'dist/graphWorker.js',
        'dist/cli.js',
        'dist/webview/main.js',
        'dist/webview/main.css',
        `${PYTHON_PACKAGE}/__init__.py`,
        `${PYTHON_PACKAGE}/export.py`,
        `${PYTHON_PACKAGE}/bundle/checkpoint.py`,
        `models/${id}/varscope.json`,
        `node_modules/onnxruntime-node/bin/napi-v6/${osName}/${arch}/onnxruntime_binding.node`,
        `node_modules/@img/sharp-${TARGET}/package.json`,
        // every file of every shipped architecture template (tools/build_templates.py)
        ...fs
          .readdirSync(path.join(ROOT, TEMPLATES))
          .flatMap((t) => Object.keys(readJson(path.join(ROOT, TEMPLATES, t, 'varscope.json')).files).map((f) => `${TEMPLATES}/${t}/${f}`)),
      ];
      const missing = need.filter((f) => !f || !fs.existsSync(path.join(ext, f)));
      if (missing.length) throw new Error(`missing: ${missing.join(', ')}`);
      if (readJson(path.join(ext, 'package.json')).main !== './dist/extension.js')
        throw new Error('package.json main is not dist/extension.js');
      // The listing README: no links into the repository (they would be broken without a repository URL).
      const readme = fs.readFileSync(path.join(ext, 'readme.md'), 'utf8');
      if (readme !== fs.readFileSync(path.join(ROOT, 'README.marketplace.md'), 'utf8'))
        throw new Error('readme.md is not README.marketplace.md');
      if (fs.readFileSync(path.join(ext, 'LICENSE.txt'), 'utf8') !== fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8'))
        throw new Error('LICENSE.txt is not LICENSE');
    });
    await check("and nothing else: no sources, tests, source maps or other platforms' binaries", async () => {
      if (!ext) throw new Error('not installed');
      const all = files(ext);
      const bad = all.filter((f) => {
        if (!TOP_LEVEL.includes(f.split('/')[0])) return true;
        if (f.startsWith(`${PYTHON_PACKAGE.split('/')[0]}/`) && !f.startsWith(`${PYTHON_PACKAGE}/`)) return true;
        if (f.startsWith(`${PYTHON_VERIFIER.split('/')[0]}/`) && f !== PYTHON_VERIFIER) return true;
        if (f === GRAPH_SPEC) return false; // the graph I/O table the exporter reads: data, not source
        if (/\.(ts|map|pyc|cc|h|gyp)$/.test(f) || /(^|\/)(test|tests|__pycache__|src)\//.test(f)) return true;
        const ort = /^node_modules\/onnxruntime-node\/bin\/[^/]+\/([^/]+)\/([^/]+)\//.exec(f);
        if (ort && `${ort[1]}-${ort[2]}` !== TARGET) return true;
        const img = /^node_modules\/@img\/([^/]+)\//.exec(f);
        return !!img && !['colour', `sharp-${TARGET}`, `sharp-libvips-${TARGET}`].includes(img[1]);
      });
      const { installOnly } = productionPackages();
      const installOnlyShipped = installOnly.filter((p) => fs.existsSync(path.join(ext, p)));
      if (bad.length || installOnlyShipped.length)
        throw new Error(
          `should not ship: ${[...bad, ...installOnlyShipped].slice(0, 20).join(', ')}${bad.length > 20 ? ` and ${bad.length - 20} more` : ''}`,
        );
    });
    await check(
      "opened from the installed copy, sample.png shows the default model's pyramid as the installed CLI computes it",
      async () => {
        if (!ext) throw new Error('not installed');
        const image = path.join(dirs.ws, 'sample.png');
        const want = cliTokens(ext, image, dirs.tmp);
        const { id } = readJson(path.join(ext, 'models', 'default.json'));
        const manifest = readJson(path.join(ext, 'models', id, 'varscope.json'));
        if (want.length !== manifest.patchNums.length)
          throw new Error(`CLI gave ${want.length} scales, the bundle has ${manifest.patchNums.length}`);
        const drawn = await drawnPyramid(dirs, image);
        if (drawn.model !== manifest.name) throw new Error(`the panel shows model "${drawn.model}", not the default "${manifest.name}"`);
        if (drawn.grids.length !== want.length) throw new Error(`${drawn.grids.length} grids drawn, ${want.length} scales`);
        drawn.grids.forEach((g, k) => {
          if (g.length !== manifest.patchNums[k] ** 2)
            throw new Error(`scale ${k}: ${g.length} cells, expected ${manifest.patchNums[k] ** 2}`);
          const diff = g.findIndex((t, i) => t !== want[k][i]);
          if (diff >= 0) throw new Error(`scale ${k} position ${diff}: drawn token ${g[diff]}, the CLI's ${want[k][diff]}`);
        });
      },
    );
    await check('the installed CLI exports the fixture checkpoints with the Python package inside the installed extension', async () => {
      if (!ext) throw new Error('not installed');
      const fx = fixtureDir();
      // A decoy `varscope` package on PYTHONPATH: the export succeeds only when the installed package comes first.
      const decoy = path.join(dirs.tmp, 'decoy', 'varscope');
      fs.mkdirSync(decoy, { recursive: true });
      fs.writeFileSync(
        path.join(decoy, '__init__.py'),
        'raise ImportError("the decoy varscope package was imported instead of the installed one")\n',
      );
      const out = path.join(dirs.tmp, 'exported');
      const r = installedCli(
        ext,
        ['export', '--vae', path.join(fx, 'vae.pth'), '--var', path.join(fx, 'var.pth'), '--out', out, '--id', 'fixture-a'],
        dirs.tmp,
        {
          PYTHONPATH: path.dirname(decoy),
          PYTHONDONTWRITEBYTECODE: '1', // leave the installed folder as installed
        },
      );
      if (r.status !== 0) throw new Error(`installed varscope export exited ${r.status}: ${r.out.slice(-2000)}`);
      const manifest = readJson(path.join(out, 'varscope.json'));
      // The exported bundle opens in the installed engine: one token grid of pn×pn per scale.
      const json = path.join(dirs.tmp, 'exported.json');
      const i = installedCli(ext, ['inspect', path.join(dirs.ws, 'sample.png'), '--model', out, '--json', json], dirs.tmp);
      if (i.status !== 0) throw new Error(`installed varscope inspect --model <exported> failed: ${i.out.slice(-2000)}`);
      const got = readJson(json).scales.map((s) => s.tokens.length);
      const expected = manifest.patchNums.map((pn) => pn * pn);
      if (JSON.stringify(got) !== JSON.stringify(expected)) throw new Error(`tokens per scale ${got}, expected ${expected}`);
    });
  } finally {
    fs.rmSync(dirs.tmp, { recursive: true, force: true });
  }
  const passed = outcomes.filter((o) => o.ok).length;
  console.log(`${passed} passed, ${outcomes.length - passed} failed`);
  process.exit(passed === outcomes.length ? 0 : 1);
}

main().catch((e) => {
  console.error(String((e && e.stack) || e));
  console.log('0 passed, 1 failed');
  process.exit(1);
});
