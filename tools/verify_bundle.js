#!/usr/bin/env node
// Runs an exported bundle's graphs with onnxruntime-node on reference inputs written by the exporter and prints
// the max abs difference of every output to its PyTorch reference, as one JSON object on stdout.
//
// usage: node tools/verify_bundle.js BUNDLE_DIR CASES_DIR
//   CASES_DIR/cases.json: [{ "name": "...", "graph": "<role>", "inputs": {name: "file.npy"}, "outputs": {name: "file.npy"},
//                            "save": {name: "file.npy"} (optional: outputs written to CASES_DIR, e.g. to drive a loop) }]
//   "graph" is a role of varscope.json's `graphs`, else the file <graph>.onnx in BUNDLE_DIR.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const DTYPES = {
  '<f4': ['float32', Float32Array],
  '<i8': ['int64', BigInt64Array],
  '<f2': ['float16', Uint16Array],
  '|u1': ['uint8', Uint8Array],
};

const CHUNK = 1 << 26; // bytes of a reference read at a time

/** The header of a .npy file, from a buffer that starts with it: { dtype, Ctor, dims, count, offset of the data }. */
function npyHeader(file, buf) {
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > buf.length) throw new Error(`${file}: truncated .npy header`);
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: Fortran order is not supported`);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)[1];
  const dims = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length)
    .map(Number);
  if (!DTYPES[descr]) throw new Error(`${file}: dtype ${descr} is not supported`);
  const [dtype, Ctor] = DTYPES[descr];
  return { dtype, Ctor, dims, count: dims.reduce((a, b) => a * b, 1), offset: start + headerLen };
}

/** Writes an onnxruntime tensor (float32, int64, float16 or uint8) as a little-endian C-order .npy file (format 1.0). */
function writeNpy(file, tensor) {
  const descr = Object.keys(DTYPES).find((k) => DTYPES[k][0] === tensor.type);
  if (!descr) throw new Error(`${file}: cannot save a tensor of type ${tensor.type}`);
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n'; // the data starts at a multiple of 64
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const data = tensor.data;
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

/** Reads a little-endian C-order .npy file into { dtype, dims, data }. */
function readNpy(file) {
  const buf = fs.readFileSync(file);
  const { dtype, Ctor, dims, count, offset } = npyHeader(file, buf);
  if ((buf.byteOffset + offset) % Ctor.BYTES_PER_ELEMENT === 0) {
    return { dtype, dims, data: new Ctor(buf.buffer, buf.byteOffset + offset, count) };
  }
  // else copy into an aligned buffer (numpy pads the header to 64 bytes, so only a foreign writer gets here)
  const bytes = new Uint8Array(count * Ctor.BYTES_PER_ELEMENT);
  bytes.set(buf.subarray(offset, offset + bytes.length));
  return { dtype, dims, data: new Ctor(bytes.buffer) };
}

/**
 * Max |got - reference| over a reference .npy file read a chunk at a time, so that a large reference (d36-s's step
 * graph at its last scale: 1.5 GB per KV output) is never held whole beside the graph's outputs; Infinity when the
 * dims differ (and `onDims` is told).
 */
function maxAbsDiffToFile(got, file, onDims) {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(Math.min(fs.fstatSync(fd).size, 1 << 16));
    fs.readSync(fd, head, 0, head.length, 0);
    const { Ctor, dims, count, offset } = npyHeader(file, head);
    if (!got || got.dims.length !== dims.length || got.dims.some((d, i) => d !== dims[i])) {
      onDims(got ? got.dims : null, dims);
      return Infinity;
    }
    const perChunk = Math.floor(CHUNK / Ctor.BYTES_PER_ELEMENT);
    const chunk = Buffer.alloc(Math.min(count, perChunk) * Ctor.BYTES_PER_ELEMENT);
    let m = 0;
    for (let at = 0; at < count; at += perChunk) {
      const n = Math.min(perChunk, count - at);
      const bytes = n * Ctor.BYTES_PER_ELEMENT;
      if (fs.readSync(fd, chunk, 0, bytes, offset + at * Ctor.BYTES_PER_ELEMENT) !== bytes) {
        throw new Error(`${file}: shorter than its header says`);
      }
      m = Math.max(m, maxAbsDiff(got.data.subarray(at, at + n), new Ctor(chunk.buffer, chunk.byteOffset, n)));
    }
    return m;
  } finally {
    fs.closeSync(fd);
  }
}

/** Max |a - b| over two equally long numeric arrays (BigInt64 compared as numbers). */
function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(Number(a[i]) - Number(b[i]));
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

async function main() {
  const [bundleDir, casesDir] = process.argv.slice(2);
  if (!bundleDir || !casesDir) throw new Error('usage: node tools/verify_bundle.js BUNDLE_DIR CASES_DIR');
  const manifestPath = path.join(bundleDir, 'varscope.json');
  const graphs = fs.existsSync(manifestPath) ? JSON.parse(fs.readFileSync(manifestPath, 'utf8')).graphs : null;
  const cases = JSON.parse(fs.readFileSync(path.join(casesDir, 'cases.json'), 'utf8'));
  const sessions = new Map();
  const result = {};
  for (const [i, c] of cases.entries()) {
    if (!sessions.has(c.graph)) {
      const file = graphs && Object.hasOwn(graphs, c.graph) ? graphs[c.graph].file : `${c.graph}.onnx`;
      sessions.set(c.graph, await ort.InferenceSession.create(path.join(bundleDir, file)));
    }
    const session = sessions.get(c.graph);
    const feeds = {};
    for (const [name, file] of Object.entries(c.inputs)) {
      const t = readNpy(path.join(casesDir, file));
      feeds[name] = new ort.Tensor(t.dtype, t.data, t.dims);
    }
    const started = Date.now();
    // Only the outputs compared or saved are computed (a graph's other outputs may be large: a whole KV cache).
    for (const name of Object.keys(c.save || {}))
      if (!session.outputNames.includes(name)) throw new Error(`${c.name}: the graph has no output ${name} to save`);
    const wanted = [...new Set([...Object.keys(c.outputs), ...Object.keys(c.save || {})])];
    const out = await session.run(
      feeds,
      wanted.filter((name) => session.outputNames.includes(name)),
    );
    const ms = Date.now() - started;
    for (const name of Object.keys(feeds)) delete feeds[name]; // the inputs may go before the comparisons
    for (const [name, file] of Object.entries(c.save || {})) {
      writeNpy(path.join(casesDir, file), out[name]);
    }
    for (const [name, file] of Object.entries(c.outputs)) {
      const key = `${c.name}.${name}`;
      result[key] = maxAbsDiffToFile(out[name], path.join(casesDir, file), (got, ref) =>
        process.stderr.write(`${key}: dims ${got ? JSON.stringify(got) : 'missing'} vs ${JSON.stringify(ref)}\n`),
      );
      delete out[name]; // each output may go once compared
    }
    process.stderr.write(`${c.name}: ${ms} ms\n`);
    // A graph whose cases are done is released: the transformer graphs each hold every VAR weight (d30: 8 GB).
    if (!cases.slice(i + 1).some((n) => n.graph === c.graph)) {
      await session.release();
      sessions.delete(c.graph);
    }
  }
  process.stdout.write(JSON.stringify(result, (k, v) => (v === Infinity ? 'Infinity' : v)) + '\n');
}

main().catch((e) => {
  process.stderr.write(`verify_bundle: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
