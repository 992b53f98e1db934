// Builds dist/ with webpack.config.js, leaving out entries whose source file does not exist yet
// (the engine, CLI and webview are written in parallel; a partial build still runs the extension).
// usage: node tools/build.js [production|development]   exit 1 on a compile error.
'use strict';
const fs = require('fs');
const path = require('path');
const webpack = require('webpack');

const ROOT = path.resolve(__dirname, '..');
const STAMP = path.join(ROOT, 'dist', '.build-stamp');

/** The configs of webpack.config.js with missing entries removed; configs left without entries are dropped. */
function presentConfigs(mode) {
  const factories = require(path.join(ROOT, 'webpack.config.js'));
  const out = [];
  for (const factory of factories) {
    const config = typeof factory === 'function' ? factory({}, { mode }) : factory;
    const entry = {};
    for (const [name, file] of Object.entries(config.entry)) {
      if (fs.existsSync(path.resolve(ROOT, file))) entry[name] = file;
      else console.log(`build: skipping entry ${name} (${file} does not exist yet)`);
    }
    if (Object.keys(entry).length > 0) out.push({ ...config, mode, context: ROOT, entry });
  }
  return out;
}

/** Runs webpack; resolves true when every config compiled without errors. */
function build(mode = 'production') {
  const started = new Date();
  const configs = presentConfigs(mode);
  return new Promise((resolve) => {
    webpack(configs, (err, stats) => {
      if (err) {
        console.error(err.stack || err);
        resolve(false);
        return;
      }
      const text = stats.toString({ colors: false, all: false, errors: true, warnings: true, assets: false });
      if (text.trim()) console.log(text);
      const ok = !stats.hasErrors();
      // webpack leaves unchanged outputs untouched, so their mtimes cannot tell when the last build ran: a stamp can.
      // It carries the start time: a source saved while webpack ran is newer than the stamp and rebuilds next time.
      if (ok) {
        fs.writeFileSync(STAMP, `${mode} ${started.toISOString()}\n`);
        fs.utimesSync(STAMP, started, started);
      }
      resolve(ok);
    });
  });
}

/** True when the last production build is older than any source file (or there is none). */
function needsBuild() {
  if (!fs.existsSync(STAMP) || !fs.existsSync(path.join(ROOT, 'dist', 'extension.js'))) return true;
  if (!fs.readFileSync(STAMP, 'utf8').startsWith('production')) return true;
  const built = fs.statSync(STAMP).mtimeMs;
  const newer = (dir) => {
    if (!fs.existsSync(dir)) return false;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() ? newer(p) : fs.statSync(p).mtimeMs > built) return true;
    }
    return false;
  };
  return (
    newer(path.join(ROOT, 'src')) || ['package.json', 'webpack.config.js'].some((f) => fs.statSync(path.join(ROOT, f)).mtimeMs > built)
  );
}

module.exports = { build, needsBuild };

if (require.main === module) {
  const mode = process.argv[2] === 'development' ? 'development' : 'production';
  const t0 = Date.now();
  build(mode).then((ok) => {
    console.log(`build (${mode}) ${ok ? 'ok' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    process.exit(ok ? 0 : 1);
  });
}
