// `npm run package`: one VSIX per platform, each carrying only that platform's native binaries
// (onnxruntime-node's bin/napi-v*/<os>/<arch> and sharp's @img/sharp-<os>-<arch> packages).
// Works in a staging copy that holds only what ships (SHIPPED below); the checkout's node_modules is never modified.
// The Marketplace README is README.marketplace.md, staged as README.md: the repository README links its
// screenshots relatively, which vsce can only rewrite into absolute URLs of a published repository.
// usage: node tools/package.js [--target <one of TARGETS>|all] [--out-dir DIR] [--keep-staging]
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { build } = require('./build.js');

const ROOT = path.resolve(__dirname, '..');
/** The Python package (exporter, checkpoint loader): `varscope export` runs it from the installed extension. */
const PYTHON_PACKAGE = 'python/varscope';
/** The exporter's verifier (onnxruntime-node on the exported graphs), which varscope/bundle/verify.py finds at this path. */
const PYTHON_VERIFIER = 'tools/verify_bundle.js';
/** The listing's README, staged as README.md (it has no relative links, so no repository URL is needed). */
const LISTING_README = 'README.marketplace.md';
/** Files and folders of the checkout that go into every VSIX (node_modules is added per target). */
/** The graph input/output table, read by the exporter (varscope/bundle/bundle_spec.py) at this path. */
const GRAPH_SPEC = 'src/shared/graphSpec.json';
/** The architecture templates of the released VAR sizes (tools/build_templates.py): their checkpoints open without Python. */
const TEMPLATES = 'templates';
const SHIPPED = [
  'package.json',
  'LICENSE',
  '.vscodeignore',
  'dist',
  'media/icon.png',
  'models',
  'bin',
  PYTHON_PACKAGE,
  PYTHON_VERIFIER,
  GRAPH_SPEC,
  TEMPLATES,
];
const ORT_BIN = path.join(ROOT, 'node_modules', 'onnxruntime-node', 'bin');

/** `<os>-<arch>` of every platform onnxruntime-node ships binaries for: the targets a VSIX can be built for. */
function listTargets() {
  const out = new Set();
  for (const napi of fs.existsSync(ORT_BIN) ? fs.readdirSync(ORT_BIN) : []) {
    for (const o of fs.readdirSync(path.join(ORT_BIN, napi)))
      for (const a of fs.readdirSync(path.join(ORT_BIN, napi, o))) out.add(`${o}-${a}`);
  }
  return [...out].sort();
}
const TARGETS = listTargets();

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

function sh(cmd, args, cwd, quiet = false) {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    stdio: quiet ? 'pipe' : 'inherit',
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})${quiet ? `\n${r.stderr}` : ''}`);
  return r.stdout;
}

/** Dependencies that only a package's install script uses (a VSIX runs no install scripts): left out with all they alone pull in. */
const INSTALL_ONLY = { 'onnxruntime-node': ['adm-zip', 'global-agent'] };

/**
 * The production dependency folders (npm's view of the installed tree) as paths relative to the checkout:
 * `packages` to copy into the staging copy, `installOnly` those of them that the VSIX leaves out.
 * (They are still copied: vsce runs `npm ls` in the staging copy, which fails on a missing dependency.)
 */
function productionPackages() {
  const parseable = sh('npm', ['ls', '--omit=dev', '--all', '--parseable'], ROOT, true)
    .split('\n')
    .map((l) => path.relative(ROOT, l.trim()))
    .filter((p) => p.startsWith('node_modules'));
  // Names reachable from the root without passing through an install-only edge.
  const tree = JSON.parse(sh('npm', ['ls', '--omit=dev', '--all', '--json'], ROOT, true));
  const kept = new Set();
  const walk = (node, name) => {
    for (const [dep, child] of Object.entries(node.dependencies || {})) {
      if ((INSTALL_ONLY[name] || []).includes(dep) || kept.has(dep)) continue;
      kept.add(dep);
      walk(child, dep);
    }
  };
  walk(tree, tree.name);
  const nameOf = (p) =>
    p
      .split(/node_modules[\\/]/)
      .pop()
      .split(path.sep)
      .join('/');
  return { packages: parseable, installOnly: parseable.filter((p) => !kept.has(nameOf(p))) };
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

/** Throws unless the staged node_modules holds `target`'s onnxruntime binding and sharp binding (a VSIX without them cannot run). */
function checkBinaries(stage, target) {
  const [osName, arch] = target.split('-');
  const bin = path.join(stage, 'node_modules', 'onnxruntime-node', 'bin');
  const ort = fs.readdirSync(bin).some((napi) => fs.existsSync(path.join(bin, napi, osName, arch, 'onnxruntime_binding.node')));
  if (!ort) throw new Error(`${target}: onnxruntime-node has no onnxruntime_binding.node for this platform`);
  if (!fs.existsSync(path.join(stage, 'node_modules', '@img', `sharp-${target}`)))
    throw new Error(`${target}: @img/sharp-${target} is missing`);
}

/** sharp's native packages of `target` (npm installs only the machine's own); fetched from the registry when absent. */
function ensureSharpBinaries(stage, target) {
  const sharpVersion = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'sharp', 'package.json'), 'utf8'));
  const wanted = Object.keys(sharpVersion.optionalDependencies || {}).filter(
    (n) => n === `@img/sharp-${target}` || n === `@img/sharp-libvips-${target}`,
  );
  const missing = wanted.filter((n) => !fs.existsSync(path.join(stage, 'node_modules', n)));
  if (missing.length === 0) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-img-'));
  try {
    // `npm pack` fetches the tarballs without the platform check that makes `npm install` refuse another OS's package.
    for (const n of missing) {
      const spec = `${n}@${sharpVersion.optionalDependencies[n]}`;
      console.log(`  fetching ${spec}`);
      const [{ filename }] = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', tmp, spec], tmp, true));
      const dest = path.join(stage, 'node_modules', n);
      fs.mkdirSync(dest, { recursive: true });
      sh('tar', ['-xzf', path.join(tmp, filename), '-C', dest, '--strip-components=1'], tmp, true);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function du(p) {
  if (!fs.existsSync(p)) return 0;
  const st = fs.lstatSync(p);
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((s, e) => s + du(path.join(p, e)), 0);
}

/** Builds the VSIX of `target` from the current dist/ into `outDir`; resolves its path. */
function packageTarget(target, { deps = productionPackages(), outDir = ROOT, keep = false, quiet = false } = {}) {
  const log = quiet ? () => undefined : console.log;
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), `varscope-vsix-${target}-`));
  log(`== ${target} (staging ${stage})`);
  try {
    for (const item of SHIPPED) {
      const src = path.join(ROOT, item);
      if (!fs.existsSync(src)) throw new Error(`${item} is missing (build first: node tools/build.js)`);
      fs.cpSync(src, path.join(stage, item), { recursive: true, dereference: true });
    }
    fs.copyFileSync(path.join(ROOT, LISTING_README), path.join(stage, 'README.md'));
    for (const p of deps.packages) fs.cpSync(path.join(ROOT, p), path.join(stage, p), { recursive: true, dereference: true });
    const ignore = deps.installOnly.map((p) => `${p.split(path.sep).join('/')}/**`);
    fs.appendFileSync(path.join(stage, '.vscodeignore'), `# install-script dependencies (tools/package.js)\n${ignore.join('\n')}\n`);
    ensureSharpBinaries(stage, target);
    const removed = prune(stage, target);
    checkBinaries(stage, target);
    log(`  pruned ${(removed / 2 ** 20).toFixed(0)} MiB of other platforms' binaries`);
    const pkg = JSON.parse(fs.readFileSync(path.join(stage, 'package.json'), 'utf8'));
    fs.mkdirSync(outDir, { recursive: true });
    const out = path.join(path.resolve(outDir), `${pkg.name}-${target}-${pkg.version}.vsix`);
    const vsce = path.join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');
    // No repository field: no public repository is known yet, and the listing README needs none.
    sh(process.execPath, [vsce, 'package', '--target', target, '--out', out, '--allow-missing-repository'], stage, quiet);
    log(`  ${path.basename(out)}: ${(fs.statSync(out).size / 2 ** 20).toFixed(1)} MiB`);
    return out;
  } finally {
    if (!keep) fs.rmSync(stage, { recursive: true, force: true });
  }
}

async function main() {
  const t = arg('--target', `${process.platform}-${process.arch}`);
  const targets = t === 'all' ? TARGETS : [t];
  for (const x of targets) if (!TARGETS.includes(x)) throw new Error(`unknown target ${x}; one of ${TARGETS.join(', ')} or all`);
  console.log('build (webpack production)');
  if (!(await build('production'))) throw new Error('build failed');
  const deps = productionPackages();
  const outDir = arg('--out-dir', ROOT);
  for (const target of targets) packageTarget(target, { deps, outDir, keep: process.argv.includes('--keep-staging') });
}

module.exports = { TARGETS, PYTHON_PACKAGE, PYTHON_VERIFIER, GRAPH_SPEC, TEMPLATES, productionPackages, packageTarget };

if (require.main === module) {
  main().catch((e) => {
    console.error(String((e && e.message) || e));
    process.exit(1);
  });
}
