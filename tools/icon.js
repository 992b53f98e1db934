// Draws the extension's icon (media/icon.png, 256×256) from a real token pyramid: the default model's tokens of
// media/sample.png, coloured as the Pyramid view colours them (the codebook's hit-weighted principal components),
// stacked as a stepped pyramid in isometric view, the finest scale at the bottom and the 1×1 scale on top.
// usage: npx tsc -p tsconfig.json && node tools/icon.js [--image media/sample.png] [--out media/icon.png]
'use strict';
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const SIZE = 256;
/** The scales drawn, as side lengths pn (each must be in the model's schedule), bottom first. */
const LAYERS = [16, 8, 4, 2, 1];

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** Tokens per scale and the colour of every code, from the engine built by tsc (out/src). */
async function pyramidOf(image) {
  const enginePath = path.join(ROOT, 'out', 'src', 'engine', 'engine.js');
  if (!fs.existsSync(enginePath)) throw new Error(`${enginePath} is missing: run npx tsc -p tsconfig.json first`);
  const { Engine } = require(enginePath);
  const { id } = JSON.parse(fs.readFileSync(path.join(ROOT, 'models', 'default.json'), 'utf8'));
  const engine = new Engine();
  try {
    const r = await engine.inspect({ model: path.join(ROOT, 'models', id), image: { path: image } });
    return { scales: r.scales.map((s) => ({ pn: s.pn, tokens: Array.from(s.tokens) })), colors: r.model.codeColors };
  } finally {
    await engine.dispose();
  }
}

/** `rgb(...)` of `[r, g, b]` scaled by `shade` (side faces are darker than the top). */
function css([r, g, b], shade = 1) {
  return `rgb(${Math.round(r * shade)},${Math.round(g * shade)},${Math.round(b * shade)})`;
}

/** SVG of the stepped pyramid: per layer the two visible side faces, then the top face, cell by cell. */
function pyramidSvg({ scales, colors }) {
  const color = (token) => [colors[token * 3], colors[token * 3 + 1], colors[token * 3 + 2]];
  const c30 = Math.cos(Math.PI / 6);
  const unit = SIZE * 0.47; // the bottom layer's side, in pixels along each isometric axis
  const height = unit * 0.16; // each layer's thickness
  const cx = SIZE / 2;
  const sideOf = (level) => unit * (1 - level / LAYERS.length); // layers shrink towards the top
  // Screen y spans from the highest layer's back corner (its offset minus its top) to the bottom layer's front corner.
  const highest = Math.min(...LAYERS.map((_, l) => (unit - sideOf(l)) / 2 - (l + 1) * height));
  const top = SIZE / 2 - (highest + unit) / 2;
  // (x, y) on a layer's top face in [0, side], z up: isometric screen point.
  const iso = (x, y, z) => [cx + (x - y) * c30, top + (x + y) * 0.5 - z];
  const poly = (pts, fill) =>
    `<polygon points="${pts.map((p) => p.map((v) => v.toFixed(2)).join(',')).join(' ')}" fill="${fill}" stroke="${fill}" stroke-width="0.6" stroke-linejoin="round"/>`;
  const parts = [];
  LAYERS.forEach((pn, level) => {
    const s = scales.find((x) => x.pn === pn);
    if (!s) throw new Error(`the model has no ${pn}×${pn} scale`);
    const side = sideOf(level);
    const off = (unit - side) / 2; // centred on the layer below
    const z0 = level * height;
    const z1 = z0 + height;
    const cell = side / pn;
    const at = (i, j, z, di = 0, dj = 0) => iso(off + (j + dj) * cell, off + (i + di) * cell, z);
    // Right side face (x = side): the last column's colours; left side face (y = side): the last row's.
    for (let i = 0; i < pn; i++) {
      const t = s.tokens[i * pn + (pn - 1)];
      parts.push(
        poly([at(i, pn - 1, z1, 0, 1), at(i, pn - 1, z1, 1, 1), at(i, pn - 1, z0, 1, 1), at(i, pn - 1, z0, 0, 1)], css(color(t), 0.72)),
      );
    }
    for (let j = 0; j < pn; j++) {
      const t = s.tokens[(pn - 1) * pn + j];
      parts.push(
        poly([at(pn - 1, j, z1, 1, 0), at(pn - 1, j, z1, 1, 1), at(pn - 1, j, z0, 1, 1), at(pn - 1, j, z0, 1, 0)], css(color(t), 0.55)),
      );
    }
    for (let i = 0; i < pn; i++) {
      for (let j = 0; j < pn; j++) {
        parts.push(poly([at(i, j, z1), at(i, j, z1, 0, 1), at(i, j, z1, 1, 1), at(i, j, z1, 1, 0)], css(color(s.tokens[i * pn + j]))));
      }
    }
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}" viewBox="0 0 ${SIZE} ${SIZE}">${parts.join('')}</svg>`;
}

async function main() {
  const image = path.resolve(arg('--image', path.join(ROOT, 'media', 'sample.png')));
  const out = path.resolve(arg('--out', path.join(ROOT, 'media', 'icon.png')));
  const svg = pyramidSvg(await pyramidOf(image));
  const sharp = require('sharp');
  const png = await sharp(Buffer.from(svg)).png({ compressionLevel: 9 }).toBuffer();
  // Whole or absent: a temp file beside the target, fsynced, then renamed.
  const tmp = `${out}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, png);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, out);
  console.log(`${path.relative(ROOT, out)}: ${SIZE}×${SIZE}, ${png.length} bytes`);
}

main().catch((e) => {
  console.error(String((e && e.message) || e));
  process.exit(1);
});
