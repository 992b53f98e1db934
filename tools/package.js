// `npm run package`: one VSIX per platform, each carrying only that platform's native binaries
// (onnxruntime-node's bin/napi-v*/<os>/<arch> and sharp's @img/sharp-<os>-<arch> packages).
// Works in a staging copy; the checkout's node_modules is never modified.
// usage: node tools/package.js [--target linux-x64|linux-arm64|darwin-arm64|darwin-x64|win32-x64|win32-arm64|all] [--keep-staging]
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { build } = require('./build.js');

const ROOT = path.resolve(__dirname, '..');
const TARGETS = ['linux-x64', 'linux-arm64', 'darwin-arm64', 'darwin-x64', 'win32-x64', 'win32-arm64'];
/** Top-level files and folders of the extension that go into every VSIX (node_modules is added per target). */
const INCLUDE = ['package.json', 'README.md', 'LICENSE', '.vscodeignore', 'dist', 'media', 'models', 'bin'];

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

function sh(cmd, args, cwd, quiet = false) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', stdio: quiet ? 'pipe' : 'inherit', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})${quiet ? `\n${r.stderr}` : ''}`);
  return r.stdout;
}

/** Relative paths of the production dependency folders (npm's view of the installed tree). */
function productionPackages() {
  const out = sh('npm', ['ls', '--omit=dev', '--all', '--parseable'], ROOT, true);
  return out
    .split('\n')
    .map((l) => path.relative(ROOT, l.trim()))
    .filter((p) => p.startsWith('node_modules'));
}

/** Drops other platforms' binaries from a staged node_modules; returns the bytes removed. */
function prune(stage, target) {
  const [osName, arch] = target.split('-');
  let removed = 0;
  const rm = (p) => {
    removed += du(p);
    fs.rmSync(p, { recursive: true, force: true });
  };
  const bin = path.join(stage, 'node_modules', 'onnxruntime-node', 'bin');
  for (const napi of fs.existsSync(bin) ? fs.readdirSync(bin) : []) {
    for (const o of fs.readdirSync(path.join(bin, napi))) {
      if (o !== osName) rm(path.join(bin, napi, o));
      else for (const a of fs.readdirSync(path.join(bin, napi, o))) if (a !== arch) rm(path.join(bin, napi, o, a));
    }
  }
  const img = path.join(stage, 'node_modules', '@img');
  for (const p of fs.existsSync(img) ? fs.readdirSync(img) : []) {
    if (p === 'colour') continue;
    const keep = p === `sharp-${target}` || p === `sharp-libvips-${target}`;
    if (!keep) rm(path.join(img, p));
  }
  return removed;
}

/** sharp's native packages of `target` (npm installs only the machine's own); fetched from the registry when absent. */
function ensureSharpBinaries(stage, target) {
  const sharpVersion = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'sharp', 'package.json'), 'utf8'));
  const wanted = Object.keys(sharpVersion.optionalDependencies || {}).filter((n) => n === `@img/sharp-${target}` || n === `@img/sharp-libvips-${target}`);
  const missing = wanted.filter((n) => !fs.existsSync(path.join(stage, 'node_modules', n)));
  if (missing.length === 0) return;
  const [osName, arch] = target.split('-');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-img-'));
  fs.writeFileSync(path.join(tmp, 'package.json'), '{"private":true}');
  const specs = missing.map((n) => `${n}@${sharpVersion.optionalDependencies[n]}`);
  console.log(`  fetching ${specs.join(', ')}`);
  sh('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `--os=${osName}`, `--cpu=${arch}`, ...specs], tmp);
  for (const n of missing) fs.cpSync(path.join(tmp, 'node_modules', n), path.join(stage, 'node_modules', n), { recursive: true });
  fs.rmSync(tmp, { recursive: true, force: true });
}

function du(p) {
  if (!fs.existsSync(p)) return 0;
  const st = fs.lstatSync(p);
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((s, e) => s + du(path.join(p, e)), 0);
}

function packageTarget(target, packages, keep) {
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), `varscope-vsix-${target}-`));
  console.log(`== ${target} (staging ${stage})`);
  for (const item of INCLUDE) {
    const src = path.join(ROOT, item);
    if (fs.existsSync(src)) fs.cpSync(src, path.join(stage, item), { recursive: true, dereference: true });
  }
  for (const p of packages) fs.cpSync(path.join(ROOT, p), path.join(stage, p), { recursive: true, dereference: true });
  ensureSharpBinaries(stage, target);
  const removed = prune(stage, target);
  console.log(`  pruned ${(removed / 2 ** 20).toFixed(0)} MiB of other platforms' binaries`);
  const pkg = JSON.parse(fs.readFileSync(path.join(stage, 'package.json'), 'utf8'));
  const out = path.join(ROOT, `${pkg.name}-${target}-${pkg.version}.vsix`);
  const vsce = path.join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');
  const licenseArgs = fs.existsSync(path.join(stage, 'LICENSE')) ? [] : ['--skip-license'];
  sh(process.execPath, [vsce, 'package', '--target', target, '--out', out, '--allow-missing-repository', ...licenseArgs], stage);
  console.log(`  ${path.basename(out)}: ${(fs.statSync(out).size / 2 ** 20).toFixed(1)} MiB`);
  if (!keep) fs.rmSync(stage, { recursive: true, force: true });
  return out;
}

async function main() {
  const t = arg('--target', `${process.platform}-${process.arch}`);
  const targets = t === 'all' ? TARGETS : [t];
  for (const x of targets) if (!TARGETS.includes(x)) throw new Error(`unknown target ${x}; one of ${TARGETS.join(', ')} or all`);
  console.log('build (webpack production)');
  if (!(await build('production'))) throw new Error('build failed');
  const packages = productionPackages();
  for (const target of targets) packageTarget(target, packages, process.argv.includes('--keep-staging'));
}

main().catch((e) => {
  console.error(String((e && e.message) || e));
  process.exit(1);
});
