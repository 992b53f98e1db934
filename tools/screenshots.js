// README screenshots of every VARScope view, taken in a real VS Code: code-server from .vsc/ (the integration
// tests' set-up, test/integration/codeServerRun.js) with this checkout as the extension, driven by Chromium.
// Opens media/sample.png with the default model (models/default.json), visits every tab, and writes
// docs/view-<name>.png (and docs/screenshot.png, the overview), each the whole 1280×800 VS Code window
// (palette-compressed when over ~250 KB).
// usage: node tools/screenshots.js [--only pyramid,compare,...] [--out DIR] [--dataset FOLDER] [--infinity-model DIR]
//   needs `bash tools/setup.sh --no-start` (code-server in .vsc/, Chromium); rebuilds dist/ when sources changed;
//   code-server's log goes to test-results/screenshots-code-server.log.
//   The Dataset view shows the timeline of the default model's four shipped checkpoints on FOLDER, an ImageFolder
//   (default out/data/held-out: the training set's held-out emoji, written by
//   `PYTHONPATH=python /usr/bin/python3 -m varscope.prepare_data --out out/data/emoji64.npz --held-out-folder out/data/held-out`),
//   evaluated first with `varscope timeline` (a few minutes) into out/screenshots/timeline.json; its free-running part
//   the default model on FOLDER with `varscope evaluate --free-running` (longer) into out/screenshots/free-running.json.
//   The watch screenshot replays the same four checkpoints as epochs 1–4 of a training run
//   (test/integration/simulated_trainer.py rewriting ar-ckpt-last.pth, from checkpoints varscope.from_bundle recovers
//   into out/screenshots/run-checkpoints/) while Watch a Training Run follows it.
//   infinity-large (only when named, with --infinity-model DIR): that Infinity bundle on media/landscape.png, the
//   README's picture of a 2B Infinity at 0.06M (bench/infinitySizes.py --keep makes one).
// bench/stepLatency.js reuses openVarScope() from here.
'use strict';
/* global document, KeyboardEvent */
const fs = require('fs');
const path = require('path');
const { build, needsBuild } = require('./build.js');
const cs = require('../test/integration/codeServerRun.js');

const VIEWPORT = { width: 1280, height: 800 };
const MAX_BYTES = 250 * 1024;
const SHOTS = [
  'overview',
  'pyramid',
  'reconstruction',
  'residuals',
  'codebook',
  'attention',
  'step-through',
  'sampling',
  'what-if',
  'compare',
  'dataset',
  'timeline',
  'watch',
  'free-running',
  'profile',
  'export',
  'infinity-pyramid',
  'infinity-codebook',
  'infinity-teacher-forced',
  'infinity-step-through',
  'infinity-sampling',
  'infinity-what-if',
  'infinity-dataset',
  'infinity-timeline',
  'infinity-large',
  'infinity-attention',
];
/** The screenshots taken in the Infinity model's own session. */
const INFINITY_SHOTS = [
  'infinity-pyramid',
  'infinity-codebook',
  'infinity-teacher-forced',
  'infinity-step-through',
  'infinity-sampling',
  'infinity-what-if',
  'infinity-dataset',
  'infinity-timeline',
  'infinity-attention',
];
/** The Infinity screenshot's model and image: the official fixture B (32 bits, h:w 0.75) on its own input. */
const INFINITY_BUNDLE = path.join(cs.ROOT, 'out', 'bundles', 'infinity-B');
const INFINITY_IMAGE = path.join(cs.ROOT, 'test', 'fixtures', 'infinity', 'infinity-B', 'image.png');
/** Fixture B's caption 0: its 7 token rows of the official text features (the engine tests' caption). */
const INFINITY_CAPTION = { features: path.join(path.dirname(INFINITY_IMAGE), 'text_kv_compact.npy'), tokens: 7 };
/** The large Infinity model's picture (--infinity-model DIR: the README's 2B at 0.06M) is of this image. */
const LARGE_INFINITY_IMAGE = path.join(cs.ROOT, 'media', 'landscape.png');
/** The Dataset view's run: the four shipped checkpoints of the default model, early to final. */
const RUN_MODELS = ['emoji64-d4-early', 'emoji64-d4-step332', 'emoji64-d4-step1164', 'emoji64-d4'];

/** Milliseconds to wait. */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; throws `what` after `ms`. */
async function until(what, fn, ms = 60000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch {
      // a frame may navigate while we look
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** The webview frame that holds the VARScope app (code-server nests it two iframes deep). */
async function findPanel(page) {
  for (const f of page.frames()) {
    if (f === page.mainFrame()) continue;
    if (await f.evaluate(() => !!document.querySelector('.app .tabs')).catch(() => false)) return f;
  }
  return null;
}

/**
 * Starts code-server with this checkout as a development extension and VARSCOPE_OPEN_IMAGE pointing at a
 * throwaway copy of media/sample.png (or of `image`), opens it in Chromium at 1280×800 and waits until the pyramid
 * is drawn (`grids` token grids) by the default model (or the bundle at `model`, set as varscope.model).
 * Resolves { page, panel, dirs, close }; `userSettings` are merged into the throwaway user settings; `beside` maps
 * file names to bytes written beside the image (an Infinity caption's features named as the image).
 */
async function openVarScope({ userSettings = {}, log = console.log, image, model, grids = 10, beside = {} } = {}) {
  if (!fs.existsSync(path.join(cs.NODE24_BIN, 'node')) || !fs.existsSync(path.join(cs.ROOT, '.vsc', 'cs'))) {
    throw new Error('code-server is not set up: run `bash tools/setup.sh --no-start` first (it installs .vsc/).');
  }
  if (needsBuild() || !fs.existsSync(path.join(cs.ROOT, 'dist', 'webview', 'main.js'))) {
    log('building dist/ (webpack production)...');
    if (!(await build('production'))) throw new Error('the build failed');
  }
  const { chromium } = require('playwright-core');
  const dirs = cs.makeDirs();
  const settingsFile = path.join(dirs.ud, 'User', 'settings.json');
  const settings = {
    ...JSON.parse(fs.readFileSync(settingsFile, 'utf8')),
    'workbench.editor.enablePreview': false,
    ...(model ? { 'varscope.model': model } : {}),
    ...userSettings,
  };
  fs.writeFileSync(settingsFile, JSON.stringify(settings));
  const port = await cs.freePort();
  const env = {
    ...process.env,
    PATH: `${cs.NODE24_BIN}:${process.env.PATH}`,
    XDG_CONFIG_HOME: path.join(dirs.xdg, 'config'),
    XDG_DATA_HOME: path.join(dirs.xdg, 'data'),
    VARSCOPE_OPEN_IMAGE: path.join(dirs.ws, image ? path.basename(image) : 'sample.png'),
  };
  if (image) fs.copyFileSync(image, env.VARSCOPE_OPEN_IMAGE);
  for (const [name, bytes] of Object.entries(beside)) fs.writeFileSync(path.join(dirs.ws, name), bytes);
  delete env.VARSCOPE_TEST;
  let server;
  let browser;
  const close = async () => {
    if (browser) await browser.close().catch(() => undefined);
    await cs.stopCodeServer(server);
    fs.rmSync(dirs.tmp, { recursive: true, force: true });
  };
  try {
    // Kept after the run (the throwaway folders are not): the place to look when a screenshot times out.
    const logFile = path.join(cs.ROOT, 'test-results', 'screenshots-code-server.log');
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    server = await cs.startCodeServer(dirs, port, env, logFile);
    browser = await chromium.launch({ executablePath: cs.CHROMIUM, headless: true, args: cs.CHROMIUM_ARGS });
    const page = await browser.newPage({ viewport: VIEWPORT });
    const auth = `127.0.0.1:${port}`;
    // The smoke-test driver (on in startCodeServer) makes code-server honour extensionDevelopmentPath.
    const payload = [
      ['extensionDevelopmentPath', `vscode-remote://${auth}${cs.ROOT}`],
      ['skipWelcome', 'true'],
      ['skipReleaseNotes', 'true'],
    ];
    await page.goto(`http://${auth}/?folder=${encodeURIComponent(dirs.ws)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    log('waiting for the VARScope panel...');
    const panel = await until('the VARScope panel', () => findPanel(page), 180000);
    await until(
      'the token pyramid',
      () => panel.evaluate((n) => document.querySelectorAll('.view-pyramid svg.token-grid').length >= n, grids),
      180000,
    );
    // The pictures must show the default bundle (or the one asked for), whatever a settings file elsewhere says.
    const { id } = JSON.parse(fs.readFileSync(path.join(cs.ROOT, 'models', 'default.json'), 'utf8'));
    const want = JSON.parse(fs.readFileSync(path.join(model ?? path.join(cs.ROOT, 'models', id), 'varscope.json'), 'utf8')).name;
    const shown = await panel.evaluate(() => document.querySelector('.app-header .model-name')?.textContent || '');
    if (shown !== want) throw new Error(`the panel shows model "${shown}", not the default "${want}"`);
    log(`panel ready: ${shown}`);
    return { page, panel, dirs, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Clicks a tab of the panel and waits for its view to be shown. */
async function showTab(panel, id) {
  await panel.click(`#tab-${id}`);
  await until(
    `the ${id} view`,
    () =>
      panel.evaluate((v) => {
        const el = document.getElementById(`panel-${v}`);
        return !!el && !el.hidden;
      }, id),
    10000,
  );
}

/** Clears the linked hover (the app's Escape key) and scrolls the panel back to its top. */
async function resetPanel(panel) {
  await panel.evaluate(() => {
    // On the body: the app ignores keys whose target is inside the tab list, where a tab click leaves the focus.
    document.body.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }));
    for (const el of [document.scrollingElement, ...document.querySelectorAll('main, .view')]) if (el) el.scrollTop = 0;
  });
}

/** Waits until `fn` (run in the panel) is true. */
function whenPanel(panel, what, fn, arg, ms = 120000) {
  return until(what, () => panel.evaluate(fn, arg), ms);
}

/** The window as PNG into `file`, re-encoded with a palette when it is over MAX_BYTES; `keepHover` leaves the pointer. */
async function shoot(page, file, keepHover = false) {
  const sharp = require('sharp');
  if (!keepHover) {
    await page.mouse.move(VIEWPORT.width - 2, VIEWPORT.height - 40); // no stray hover tooltips
    await sleep(400);
  }
  let png = await page.screenshot({ type: 'png' });
  png = await sharp(png).png({ compressionLevel: 9 }).toBuffer();
  if (png.length > MAX_BYTES) png = await sharp(png).png({ palette: true, quality: 90, effort: 10, compressionLevel: 9 }).toBuffer();
  fs.writeFileSync(file, png);
  return png.length;
}

/** Hovers the centre of cell (row, col) of the first element matching `sel` that is an SVG token grid of pn×pn. */
async function hoverCell(page, panel, sel, pn, row, col) {
  const box = await (await panel.$(sel)).boundingBox();
  await page.mouse.move(box.x + ((col + 0.5) * box.width) / pn, box.y + ((row + 0.5) * box.height) / pn);
}

/** Each screenshot: prepares its view; `shoot` is taken afterwards unless it returns false. */
const STEPS = {
  async pyramid({ page, panel }) {
    await showTab(panel, 'pyramid');
    // A hovered 8×8 cell shows the linked region in every scale and its details.
    await hoverCell(page, panel, '.view-pyramid svg.token-grid[data-pn="8"]', 8, 2, 5);
    await sleep(300);
    return { keepHover: true };
  },
  async reconstruction({ panel }) {
    await showTab(panel, 'reconstruction');
    await whenPanel(panel, 'reconstructions', () => document.querySelectorAll('#panel-reconstruction canvas').length > 0);
  },
  async residuals({ panel }) {
    await showTab(panel, 'residual');
    await whenPanel(panel, 'residual maps', () => document.querySelectorAll('#panel-residual canvas').length > 0);
  },
  async codebook({ panel }) {
    await showTab(panel, 'codebook');
    await whenPanel(panel, 'codebook histograms', () => document.querySelectorAll('#panel-codebook canvas').length > 0);
  },
  async attention({ page, panel }) {
    await showTab(panel, 'attention');
    await panel.click('#panel-attention .weights button');
    await whenPanel(panel, 'attention weights', () => {
      const box = document.querySelector('#panel-attention .weights');
      return !!box && box.querySelectorAll('canvas').length > 0 && !/Computing/.test(box.textContent || '');
    });
    await resetPanel(panel); // the button scrolled the view down to the weights
    // Hover a query of the 8×8 scale (token 91 + 20): its visible keys are marked in the mask.
    const box = await (await panel.$('#panel-attention canvas.block-mask')).boundingBox();
    await page.mouse.move(box.x + box.width * 0.5, box.y + (box.height * 111.5) / 680);
    await sleep(300);
    return { keepHover: true };
  },
  async 'step-through'({ panel }) {
    await showTab(panel, 'stepThrough');
    await panel.selectOption('#panel-stepThrough .class-select', '2');
    // The README's `varscope generate` example: class 2 (country flags), seed 1, the bundle's sampling settings.
    const inputs = '#panel-stepThrough .section.generate input[type=number]';
    for (const [i, v] of ['1', '3.5', '100', '0.95'].entries()) await panel.fill(`${inputs} >> nth=${i}`, v);
    await panel.click('#panel-stepThrough button.start');
    await whenPanel(panel, 'scale 1', () => /^Scale 1 of/.test(document.querySelector('.gen-status')?.textContent || ''));
    for (let k = 2; k <= 10; k++) {
      await whenPanel(panel, 'the Step button', () => !document.querySelector('#panel-stepThrough button.step').disabled);
      await panel.click('#panel-stepThrough button.step');
      await whenPanel(
        panel,
        `scale ${k}`,
        (n) => new RegExp(`^Scale ${n} of \\d+ · class`).test(document.querySelector('.gen-status')?.textContent || ''),
        k,
      );
    }
  },
  async sampling({ panel }) {
    await showTab(panel, 'sampling');
    // The official FID settings beside the looks settings (CFG 1.5 and 5), two classes, four seeds each.
    await panel.fill('#panel-sampling .grid-classes', '2, 4');
    await panel.fill('#panel-sampling .grid-cfg', '1.5, 5');
    await panel.fill('#panel-sampling .grid-topk', '900');
    await panel.fill('#panel-sampling .grid-topp', '0.96');
    await panel.click('#panel-sampling button.grid-run');
    await whenPanel(panel, 'the sample grid', () => document.querySelectorAll('#panel-sampling .grid-image').length === 16);
  },
  async 'what-if'({ page, panel }) {
    await showTab(panel, 'whatIf');
    await panel.selectOption('#panel-whatIf .edit-scale', '6'); // 8×8: regenerate a region from there on
    await whenPanel(panel, 'the 8×8 edit grid', () => !!document.querySelector('#panel-whatIf .edit-grid svg[data-pn="8"]'));
    const box = await (await panel.$('#panel-whatIf .edit-grid svg')).boundingBox();
    const at = (c) => (c + 0.5) / 8;
    await page.mouse.move(box.x + box.width * at(1), box.y + box.height * at(1));
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * at(4), box.y + box.height * at(3), { steps: 4 });
    await page.mouse.up();
    await panel.click('#panel-whatIf button.resample');
    await whenPanel(panel, 'the regenerated pyramid', () => !!document.querySelector('#panel-whatIf .pyramid-after'));
  },
  async compare({ page, panel }) {
    await showTab(panel, 'compare');
    await panel.click('#panel-compare .toolbar button');
    // A multi-select pick: tick the early and an intermediate checkpoint of the run (the panel's model is A), then OK.
    const input = page.locator('.quick-input-widget input.input');
    await input.waitFor({ state: 'visible', timeout: 20000 });
    for (const [filter, id] of [
      ['early', 'emoji64-d4-early'],
      ['1164', 'emoji64-d4-step1164'],
    ]) {
      await input.fill(filter); // the pick filters on the model names
      await sleep(500);
      await page.locator(`.quick-input-widget .monaco-list-row[aria-label*="${id},"] .monaco-checkbox >> visible=true`).click();
      await sleep(300);
    }
    await input.fill('');
    await page.keyboard.press('Enter');
    await whenPanel(panel, 'the comparison', () => document.querySelectorAll('#panel-compare svg.chart rect.bar').length >= 20);
    await sleep(1000);
  },
  async dataset({ page, panel, dataset }) {
    await openResults(page, timelineResults(dataset));
    await whenPanel(panel, 'the timeline', () => document.querySelectorAll('.view-dataset .dataset-timeline svg').length > 0);
    await sleep(500);
  },
  async profile({ panel }) {
    // One generation (class 0, the model's sampling) and a teacher-forced pass on the image, timed three times.
    await showTab(panel, 'profile');
    await panel.fill('#panel-profile .profile-repeats', '3');
    await panel.click('#panel-profile button:text("Measure")');
    await whenPanel(
      panel,
      'the profile',
      () => document.querySelectorAll('#panel-profile .profile-table tbody tr').length > 0,
      undefined,
      300000,
    );
    await sleep(500);
  },
  async timeline(session) {
    const { panel } = session;
    if (!(await panel.evaluate(() => !!document.querySelector('.view-dataset .dataset-timeline svg')))) await STEPS.dataset(session);
    await showTab(panel, 'dataset');
    await panel.evaluate(() => document.querySelector('.view-dataset .dataset-timeline').scrollIntoView({ block: 'start' }));
    await sleep(500);
  },
  async watch({ page, panel, dirs, dataset }) {
    const ckpts = runCheckpoints();
    const run = path.join(dirs.ws, 'local_output');
    fs.mkdirSync(run, { recursive: true });
    // Command Palette -> Watch a Training Run… -> the run folder, the images folder, labels from sub-folders.
    const input = page.locator('.quick-input-widget input');
    await page.keyboard.press('Control+Shift+P');
    await input.waitFor({ state: 'visible', timeout: 20000 });
    await input.fill('>VARScope: Watch a Training Run');
    await sleep(800);
    await page.keyboard.press('Enter');
    for (const folder of [run, dataset]) {
      await until('the folder dialog', () => input.inputValue().then((v) => !v.startsWith('>') && v !== folder + '/'), 20000);
      await input.fill(folder + '/');
      await sleep(800);
      await page.keyboard.press('Enter');
      await sleep(800);
    }
    await until('the labels pick', () => page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Sub-folders' }).count(), 20000);
    await page.keyboard.press('Enter');
    // One epoch at a time, as a trainer far slower than the watch would write them (the first goes through Python:
    // the shipped bundles are no templates); epoch 3 is also the best, whose copy the watch knows it has seen.
    for (const [i, file] of ckpts.vars.entries()) {
      const epoch = String(i + 1);
      const trainer = path.join(cs.ROOT, 'test', 'integration', 'simulated_trainer.py');
      const args = [trainer, '--vae', ckpts.vae, '--var', file, '--epochs-of', epoch, '--best', '3', '--out', run];
      require('child_process').execFileSync('/usr/bin/python3', args, { stdio: 'ignore' });
      await until(
        `epoch ${epoch} in the status bar`,
        () => page.locator('.statusbar-item', { hasText: `epoch ${epoch}:` }).count(),
        600000,
      );
    }
    await showTab(panel, 'dataset');
    await panel.evaluate(() => document.querySelector('.view-dataset .dataset-timeline').scrollIntoView({ block: 'start' }));
    await sleep(1500);
  },
  async 'free-running'({ page, panel, dataset }) {
    await openResults(page, freeRunningResults(dataset));
    await whenPanel(
      panel,
      'the free-running curves',
      () => document.querySelectorAll('.view-dataset .dataset-free-run:not([hidden]) svg').length > 0,
    );
    await showTab(panel, 'dataset');
    await panel.evaluate(() => document.querySelector('.view-dataset .dataset-free-run').scrollIntoView({ block: 'start' }));
    await sleep(500);
  },
  async export({ page, panel, dirs }) {
    await showTab(panel, 'pyramid');
    await hoverCell(page, panel, '.view-pyramid svg.token-grid[data-pn="8"]', 8, 2, 5); // as in view-pyramid.png
    await panel.click('.app-header button.export-png');
    // code-server's save dialog is VS Code's own file picker: the suggested path is filled in, Enter saves.
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 20000 });
    await sleep(300);
    await page.keyboard.press('Enter');
    const saved = path.join(dirs.ws, 'varscope-pyramid.png');
    await until('the exported PNG', () => fs.existsSync(saved) && fs.statSync(saved).size > 0, 30000);
    // Open the saved figure beside the panel (Quick Open, Ctrl+Enter = to the side).
    await page.keyboard.press('Control+P');
    await input.waitFor({ state: 'visible', timeout: 20000 });
    await input.fill('varscope-pyramid.png');
    await sleep(800);
    await page.keyboard.press('Control+Enter');
    await until(
      'the image preview',
      async () => {
        for (const f of page.frames())
          if (await f.evaluate(() => !!document.querySelector('.image-container img, img.scale-to-fit, img.pixelated')).catch(() => false))
            return true;
        return false;
      },
      20000,
    );
    await sleep(800);
    return { saved };
  },
};

/** Command Palette -> Open Evaluation Results… -> VS Code's file picker: type the path, Enter. */
async function openResults(page, results) {
  const input = page.locator('.quick-input-widget input');
  await page.keyboard.press('Control+Shift+P');
  await input.waitFor({ state: 'visible', timeout: 20000 });
  await input.fill('>VARScope: Open Evaluation Results');
  await sleep(800);
  await page.keyboard.press('Enter');
  await until('the open dialog', () => input.inputValue().then((v) => !v.startsWith('>')), 20000);
  await input.fill(results);
  await sleep(800);
  await page.keyboard.press('Enter');
}

/** `varscope evaluate FOLDER --labels-from-subfolders --free-running` of the default model, computed once into `out`. */
function freeRunningResults(folder) {
  const out = path.join(cs.ROOT, 'out', 'screenshots', 'free-running.json');
  if (fs.existsSync(out)) return out;
  const cli = path.join(cs.ROOT, 'bin', 'varscope.js');
  const args = [cli, 'evaluate', folder, '--labels-from-subfolders', '--free-running', '--json', out];
  console.log(`varscope evaluate ${folder} --free-running (the default model; several minutes)`);
  require('child_process').execFileSync(process.execPath, args, { stdio: 'inherit' });
  return out;
}

/**
 * The saved `varscope timeline` of the default model's shipped checkpoints on `folder` (labels from its
 * sub-folders), computed once into out/screenshots/timeline.json.
 */
function timelineResults(folder) {
  const out = path.join(cs.ROOT, 'out', 'screenshots', 'timeline.json');
  if (fs.existsSync(out)) return out;
  if (!fs.existsSync(folder))
    throw new Error(
      `${folder} is missing: write it with PYTHONPATH=python /usr/bin/python3 -m varscope.prepare_data --out out/data/emoji64.npz --held-out-folder ${folder}`,
    );
  const models = RUN_MODELS.map((id) => path.join(cs.ROOT, 'models', id)).join(',');
  const cli = path.join(cs.ROOT, 'bin', 'varscope.js');
  const args = [cli, 'timeline', folder, '--labels-from-subfolders', '--models', models, '--json', out];
  console.log(`varscope timeline ${folder} (the four shipped checkpoints; a few minutes)`);
  require('child_process').execFileSync(process.execPath, args, { stdio: 'inherit' });
  return out;
}

/**
 * The default model's four shipped checkpoints as the files a trainer writes: vae.pth and var.pth recovered from
 * each bundle (varscope.from_bundle), once, into out/screenshots/run-checkpoints/<id>/.
 */
function runCheckpoints() {
  const root = path.join(cs.ROOT, 'out', 'screenshots', 'run-checkpoints');
  const vars = RUN_MODELS.map((id) => {
    const out = path.join(root, id);
    if (!fs.existsSync(path.join(out, 'var.pth'))) {
      console.log(`varscope.from_bundle ${id}`);
      require('child_process').execFileSync(
        '/usr/bin/python3',
        ['-m', 'varscope.from_bundle', '--bundle', path.join(cs.ROOT, 'models', id), '--out', out],
        { stdio: 'inherit', env: { ...process.env, PYTHONPATH: path.join(cs.ROOT, 'python') } },
      );
    }
    return path.join(out, 'var.pth');
  });
  return { vae: path.join(root, RUN_MODELS.at(-1), 'vae.pth'), vars };
}

/** The first `rows` rows of a float32 .npy [N, width] (C order, header v1), as a .npy file's bytes. */
function npyRows(file, rows) {
  const buf = fs.readFileSync(file);
  const start = 10 + buf.readUInt16LE(8);
  const header = buf.toString('latin1', 10, start);
  const [, width] = /'shape':\s*\((\d+),\s*(\d+)\)/.exec(header).slice(1).map(Number);
  if (!/'descr':\s*'<f4'/.test(header) || !width) throw new Error(`${file}: not a float32 [N, width] .npy`);
  let text = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${width}), }`;
  text = text.padEnd(Math.ceil((10 + text.length + 1) / 64) * 64 - 10 - 1) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head.writeUInt8(1, 6);
  head.writeUInt8(0, 7);
  head.writeUInt16LE(text.length, 8);
  return Buffer.concat([head, Buffer.from(text, 'latin1'), buf.subarray(start, start + rows * width * 4)]);
}

/**
 * The Infinity screenshots, in one VS Code session of fixture B's model on its image, its caption's features beside
 * it (image.npy, picked up as the caption): docs/view-infinity-pyramid.png (a 6×8 cell hovered: the region in every
 * scale, the token's bits), docs/view-infinity-codebook.png (a bit of the finest scale hovered) and
 * docs/view-infinity-teacher-forced.png (evaluated for the caption, a token of 6×8 hovered), docs/view-infinity-step-through.png
 * (a seeded generation for the caption at the model's sampling, shown at its sixth scale, a token of 6×8 hovered) and
 * docs/view-infinity-dataset.png (the evaluation of six captioned images, infinityDatasetResults) and
 * docs/view-infinity-timeline.png (three checkpoints of a run on the same images, infinityTimelineResults).
 */
async function infinityShots(outDir, names, datasetResults, timelineResults) {
  const caption = npyRows(INFINITY_CAPTION.features, INFINITY_CAPTION.tokens);
  const session = await openVarScope({ image: INFINITY_IMAGE, model: INFINITY_BUNDLE, grids: 7, beside: { 'image.npy': caption } });
  const save = async (name) => {
    const file = path.join(outDir, `view-${name}.png`);
    const bytes = await shoot(session.page, file, true);
    console.log(`${path.relative(cs.ROOT, file)}  ${(bytes / 1024).toFixed(0)} KB`);
  };
  try {
    const { page, panel } = session;
    await page.keyboard.press('Control+B');
    await sleep(1000);
    if (names.includes('infinity-pyramid')) {
      const box = await (await panel.$('.view-pyramid svg.token-grid[data-rows="6"]')).boundingBox();
      await page.mouse.move(box.x + (5.5 * box.width) / 8, box.y + (2.5 * box.height) / 6); // row 2, col 5
      await sleep(400);
      await save('infinity-pyramid');
    }
    if (names.includes('infinity-codebook')) {
      await resetPanel(panel);
      await showTab(panel, 'codebook');
      await until('the bit usage table', () => panel.$('.view-bit-codebook .bit-usage-table tbody tr'), 30000);
      const box = await (await panel.$('.view-bit-codebook .balance-grid canvas')).boundingBox();
      await page.mouse.move(box.x + (9.5 * box.width) / 32, box.y + (5.5 * box.height) / 7); // scale 6, bit 9
      await sleep(400);
      await save('infinity-codebook');
    }
    if (names.includes('infinity-teacher-forced')) {
      await resetPanel(panel);
      await showTab(panel, 'stepThrough');
      await panel.click('.view-step .segmented button[data-value=teacher]');
      await panel.click('.teacher-bits .evaluate-bits');
      await until('the teacher-forced bits', () => panel.$('.teacher-bits .bit-scale-table tbody tr'), 60000);
      const box = await (await panel.$('.teacher-bits .wrong-bits-row figure[data-scale="3"] canvas')).boundingBox();
      await page.mouse.move(box.x + (5.5 * box.width) / 8, box.y + (2.5 * box.height) / 6); // 6×8: row 2, col 5
      await sleep(400);
      await save('infinity-teacher-forced');
    }
    if (names.includes('infinity-step-through')) {
      await resetPanel(panel);
      await showTab(panel, 'stepThrough');
      await panel.click('.view-step .segmented button[data-value=generate]');
      await panel.fill('.generate-bits .seed', '1');
      await panel.click('.generate-bits .start');
      await until('the first scale', () => panel.$('.generate-bits .pyramid-strip svg.token-grid'), 60000);
      await panel.click('.generate-bits .jump[aria-label^="Jump to scale 6 "]');
      await until(
        'six scales',
        () => panel.evaluate(() => document.querySelectorAll('.generate-bits .pyramid-strip svg.token-grid').length === 6),
        60000,
      );
      const box = await (await panel.$('.generate-bits .pyramid-strip svg.token-grid[data-rows="6"]')).boundingBox();
      await page.mouse.move(box.x + (5.5 * box.width) / 8, box.y + (2.5 * box.height) / 6); // 6×8: row 2, col 5
      await sleep(400);
      await save('infinity-step-through');
    }
    if (names.includes('infinity-sampling')) {
      // the caption beside the image; infer.sh's CFG 4 beside CFG 1 (no guidance), tau 0.5, three seeds each
      await resetPanel(panel);
      await showTab(panel, 'sampling');
      await panel.fill('.view-bit-sampling .grid-cfg', '4, 1');
      await panel.fill('.view-bit-sampling .grid-samples', '3');
      await panel.click('.view-bit-sampling .grid-run');
      await until(
        'the sampled grid',
        () => panel.evaluate(() => document.querySelectorAll('.view-bit-sampling .grid-row .grid-image').length === 6),
        120000,
      );
      await sleep(800);
      await save('infinity-sampling');
    }
    if (names.includes('infinity-what-if')) {
      // the original of seed 1, then bits 0-7 of a 2×2 block of tokens at 6×8 flipped
      await resetPanel(panel);
      await showTab(panel, 'whatIf');
      await panel.fill('.view-bit-whatif .edit-seed', '1');
      await panel.click('.view-bit-whatif .edit-generate');
      await until('the original', () => panel.$('.view-bit-whatif .edit-original svg.token-grid'), 60000);
      await panel.selectOption('.view-bit-whatif .edit-scale', '3');
      for (const pos of [18, 19, 26, 27]) await panel.click(`.view-bit-whatif .edit-grid rect.cell[data-pos="${pos}"]`);
      await panel.fill('.view-bit-whatif .edit-flip', '0, 1, 2, 3, 4, 5, 6, 7');
      await panel.click('.view-bit-whatif .edit-flip-run');
      await whenPanel(
        panel,
        'the edit',
        () => /^Edited/.test(document.querySelector('.view-bit-whatif .edit-status').textContent),
        undefined,
        60000,
      );
      await sleep(800);
      await save('infinity-what-if');
    }
    if (names.includes('infinity-attention')) {
      await resetPanel(panel);
      await showTab(panel, 'attention');
      await panel.selectOption('.view-bits-attention .attention-layer', '3');
      await panel.click('.view-bits-attention .load-attention');
      await until('the cross-attention table', () => panel.$('.view-bits-attention .cross-table tbody tr'), 60000);
      const box = await (await panel.$('.view-bits-attention .weights-canvas')).boundingBox();
      await page.mouse.move(box.x + 10, box.y + (300.5 / 665) * box.height); // query 300 (scale 6, 12×16)
      await sleep(400);
      await save('infinity-attention');
    }
    if (names.includes('infinity-dataset')) {
      // the evaluation of six captioned images (infinityDatasetResults), opened as a saved result
      await resetPanel(panel);
      await openResults(page, datasetResults);
      await whenPanel(
        panel,
        'the Infinity dataset view',
        () => document.querySelectorAll('.view-bits-dataset .worst-table tbody tr').length > 0,
      );
      await sleep(800);
      await save('infinity-dataset');
    }
    if (names.includes('infinity-timeline')) {
      // three ar-ckpt files of one run on the same six images (infinityTimelineResults), opened as a saved timeline
      await resetPanel(panel);
      await openResults(page, timelineResults);
      await whenPanel(
        panel,
        'the Infinity timeline',
        () => !!document.querySelector('.view-bits-dataset .dataset-timeline:not([hidden]) .series'),
      );
      await panel.evaluate(() => document.querySelector('.view-bits-dataset .dataset-timeline').scrollIntoView({ block: 'start' }));
      await sleep(800);
      await save('infinity-timeline');
    }
  } finally {
    await session.close();
  }
}

/**
 * The Infinity Dataset screenshot's folder and result: six 4:3 images (fixture B's input, its mirror and upside-down
 * copy, and the VAR fixture's three images cropped to 4:3), each with a caption's T5 features beside it (fixture B's
 * two captions in turn), evaluated once with `varscope evaluate` into out/screenshots/infinity-dataset.json.
 */
function infinityDatasetResults() {
  const root = path.join(cs.ROOT, 'out', 'screenshots');
  const out = path.join(root, 'infinity-dataset.json');
  if (fs.existsSync(out)) return out;
  const folder = path.join(root, 'infinity-captioned');
  const fx = path.join(cs.ROOT, 'test', 'fixtures', 'infinity', 'infinity-B');
  const varImages = ['img0.png', 'img1.png', 'img2.png'].map((f) => path.join(cs.ROOT, '..', 'shared', 'fixtures', 'official-var-A', f));
  const script = [
    'import sys, os, numpy as np',
    'from PIL import Image, ImageOps',
    'out, b, kv, cu = sys.argv[1], sys.argv[2], np.load(sys.argv[3]), np.load(sys.argv[4])',
    'os.makedirs(out, exist_ok=True)',
    'src = Image.open(b).convert("RGB")',
    'imgs = [src, ImageOps.mirror(src), src.rotate(180)] + [ImageOps.fit(Image.open(f).convert("RGB"), src.size) for f in sys.argv[5:]]',
    'for i, im in enumerate(imgs):',
    '    im.save(os.path.join(out, f"image{i}.png"))',
    '    c = i % 2',
    '    np.save(os.path.join(out, f"image{i}.npy"), kv[cu[c]:cu[c + 1]].astype(np.float32))',
  ].join('\n');
  const env = { ...process.env, PYTHONPATH: path.join(cs.ROOT, 'python') };
  const cp = require('child_process');
  cp.execFileSync(
    '/usr/bin/python3',
    [
      '-c',
      script,
      folder,
      path.join(fx, 'image.png'),
      path.join(fx, 'text_kv_compact.npy'),
      path.join(fx, 'text_cu_seqlens_k.npy'),
      ...varImages,
    ],
    { stdio: 'inherit', env },
  );
  const cli = path.join(cs.ROOT, 'bin', 'varscope.js');
  cp.execFileSync(process.execPath, [cli, 'evaluate', folder, '--model', INFINITY_BUNDLE, '--provider', 'cpu', '--json', out], {
    stdio: 'inherit',
  });
  return out;
}

/**
 * docs/view-infinity-large.png: a large Infinity bundle (--infinity-model DIR) opened on media/landscape.png in its
 * own VS Code session, the bit pyramid as it opens with a cell of the finest scale hovered.
 */
async function largeInfinityShot(outDir, model) {
  if (!model) throw new Error('infinity-large needs --infinity-model DIR (an exported Infinity bundle)');
  const { manifest, schedule } = squareSchedule(model);
  const [, h, w] = schedule.scales[schedule.scales.length - 1];
  const session = await openVarScope({ image: LARGE_INFINITY_IMAGE, model, grids: schedule.scales.length });
  try {
    const { page, panel } = session;
    await page.keyboard.press('Control+B');
    await sleep(1000);
    const box = await (await panel.$(`.view-pyramid svg.token-grid[data-rows="${h}"]`)).boundingBox();
    await page.mouse.move(box.x + ((Math.floor(w / 2) + 0.5) * box.width) / w, box.y + ((Math.floor(h / 3) + 0.5) * box.height) / h);
    await sleep(400);
    const file = path.join(outDir, 'view-infinity-large.png');
    const bytes = await shoot(page, file, true);
    console.log(`${path.relative(cs.ROOT, file)}  ${(bytes / 1024).toFixed(0)} KB  (${manifest.name})`);
  } finally {
    await session.close();
  }
}

/** An Infinity bundle's manifest and the schedule the landscape (1:1) opens at. */
function squareSchedule(model) {
  const manifest = JSON.parse(fs.readFileSync(path.join(model, 'varscope.json'), 'utf8'));
  if (manifest.family !== 'infinity') throw new Error(`${model}: not an Infinity bundle`);
  const schedule = manifest.schedules.reduce((a, b) => (Math.abs(b.hDivW - 1) < Math.abs(a.hDivW - 1) ? b : a));
  return { manifest, schedule };
}

/**
 * The Infinity timeline screenshot's result: three checkpoints of one run, saved as the official trainer saves them
 * (test/integration/simulated_infinity_trainer.py: fixture B's weights moved a little per save, at global iterations
 * 400, 800 and 1200), evaluated with `varscope timeline --checkpoints` (each exported with Python, at 1:1) on the six
 * captioned images of the Dataset screenshot cut to 1:1, into out/screenshots/infinity-timeline.json.
 */
function infinityTimelineResults() {
  const root = path.join(cs.ROOT, 'out', 'screenshots');
  const out = path.join(root, 'infinity-timeline.json');
  if (fs.existsSync(out)) return out;
  infinityDatasetResults(); // its folder of captioned images
  const fx = path.join(cs.ROOT, 'test', 'fixtures', 'infinity', 'infinity-B');
  const run = path.join(root, 'infinity-run');
  const cp = require('child_process');
  const args = { rope2d_normalized_by_hw: 2, use_bit_label: 1, saln: true, cos: true, Ct5: 256, add_lvl_embeding_only_first_block: 1 };
  cp.execFileSync(
    '/usr/bin/python3',
    [path.join(cs.ROOT, 'test', 'integration', 'simulated_infinity_trainer.py'), '--vae', path.join(fx, 'vae.pth')].concat([
      '--infinity',
      path.join(fx, 'infinity.pth'),
      '--out',
      run,
      '--at',
      '0:400,0:800,1:200',
      '--args',
      JSON.stringify(args),
    ]),
    { stdio: 'inherit' },
  );
  // the Dataset screenshot's images cut to 1:1 (an exported ar-ckpt has the 1:1 schedule only), their captions beside
  const folder = path.join(root, 'infinity-captioned-square');
  const square = [
    'import sys, os, shutil',
    'from PIL import Image, ImageOps',
    'src, out = sys.argv[1], sys.argv[2]',
    'os.makedirs(out, exist_ok=True)',
    'for f in sorted(os.listdir(src)):',
    '    if f.endswith(".png"):',
    '        im = Image.open(os.path.join(src, f)).convert("RGB")',
    '        ImageOps.fit(im, (min(im.size), min(im.size))).save(os.path.join(out, f))',
    '    elif f.endswith(".npy"):',
    '        shutil.copy(os.path.join(src, f), out)',
  ].join('\n');
  cp.execFileSync('/usr/bin/python3', ['-c', square, path.join(root, 'infinity-captioned'), folder], { stdio: 'inherit' });
  const cli = path.join(cs.ROOT, 'bin', 'varscope.js');
  cp.execFileSync(process.execPath, [cli, 'timeline', folder, '--checkpoints', run, '--provider', 'cpu', '--json', out], {
    stdio: 'inherit',
    env: { ...process.env, VARSCOPE_PYTHON: '/usr/bin/python3' },
  });
  return out;
}

async function main() {
  const arg = (name) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const only = arg('--only') ? arg('--only').split(',') : SHOTS.filter((s) => s !== 'infinity-large'); // that one needs its model
  const unknown = only.filter((s) => !SHOTS.includes(s));
  if (unknown.length) throw new Error(`unknown screenshot(s) ${unknown.join(', ')}; known: ${SHOTS.join(', ')}`);
  const outDir = path.resolve(arg('--out') || path.join(cs.ROOT, 'docs'));
  fs.mkdirSync(outDir, { recursive: true });
  const dataset = path.resolve(arg('--dataset') || path.join(cs.ROOT, 'out', 'data', 'held-out'));
  if (only.includes('dataset') || only.includes('free-running') || only.includes('infinity-timeline')) {
    // before code-server starts (they need the CPU), with the CLI of this checkout's sources
    if ((needsBuild() || !fs.existsSync(path.join(cs.ROOT, 'dist', 'cli.js'))) && !(await build('production')))
      throw new Error('the build failed');
    if (only.includes('dataset')) timelineResults(dataset);
    if (only.includes('free-running')) freeRunningResults(dataset);
  }
  if (only.includes('watch')) runCheckpoints();
  // computed before code-server starts (it needs the CPU)
  const infinityResults = only.includes('infinity-dataset') ? infinityDatasetResults() : undefined;
  const infinityTimeline = only.includes('infinity-timeline') ? infinityTimelineResults() : undefined;
  const infinity = only.filter((s) => INFINITY_SHOTS.includes(s));
  if (infinity.length) await infinityShots(outDir, infinity, infinityResults, infinityTimeline);
  if (only.includes('infinity-large')) await largeInfinityShot(outDir, arg('--infinity-model'));
  const ownSession = [...INFINITY_SHOTS, 'infinity-large'];
  if (only.every((s) => ownSession.includes(s))) return;
  const session = { ...(await openVarScope()), dataset };
  try {
    if (only.includes('overview')) {
      // docs/screenshot.png, the README's first picture: the pyramid as it opens, beside the Explorer.
      const file = path.join(outDir, 'screenshot.png');
      console.log(`${path.relative(cs.ROOT, file)}  ${((await shoot(session.page, file)) / 1024).toFixed(0)} KB`);
    }
    // Hide the explorer: the panel gets the width; the activity bar, tabs and status bar still show VS Code.
    await session.page.keyboard.press('Control+B');
    await sleep(1000);
    for (const name of SHOTS.filter((s) => s !== 'overview' && !ownSession.includes(s) && only.includes(s))) {
      const t0 = Date.now();
      await resetPanel(session.panel);
      const r = (await STEPS[name](session)) || {};
      const file = path.join(outDir, `view-${name}.png`);
      const bytes = await shoot(session.page, file, !!r.keepHover);
      console.log(`${path.relative(cs.ROOT, file)}  ${(bytes / 1024).toFixed(0)} KB  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
  } finally {
    await session.close();
  }
}

module.exports = { openVarScope, findPanel, showTab, until, sleep };

if (require.main === module) {
  main().catch((e) => {
    console.error(String((e && e.stack) || e));
    process.exit(1);
  });
}
