/**
 * From a new checkpoint on disk to its first pyramid, with no Python: hashing the files (the checkpoint cache's key),
 * reading them with the TypeScript reader, writing the bundle from the architecture template, then a fresh engine
 * process opening it and inspecting one image (bench/engineMemory.ts). Each part is timed alone, beside the limits of
 * this machine measured in the same run: sha256 throughput, and the disk's write rate (the same number of bytes
 * written and fsynced).
 *
 *   npx tsc -p tsconfig.json && node out/bench/checkpointToBundle.js --vae VAE.pth --var VAR.pth --template BUNDLE
 *       [--image IMG] [--runs 2]
 *
 * --template: a template of the checkpoints' architecture (a shipped one, templates/var-d30-256, or a bundle exported
 * by the current exporter: it has weightMap.json).
 * Prints one JSON object (and a table on stderr). The reader's peak RSS is this process's VmHWM after the writes.
 */
import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CheckpointBundler } from '../src/client/checkpointBundler';
import { readCheckpoint } from '../src/node/checkpoint';
import { sha256File } from '../src/node/sha256File';

function arg(name: string, def?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

const MB = 1e6;
const peakRss = () => Number(/^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) * 1024;

/** Milliseconds `f` takes. */
async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Reads every tensor of the files (the reader alone, nothing written); returns bytes and the largest tensor. */
async function readAll(files: string[]): Promise<{ bytes: number; largest: number }> {
  let bytes = 0;
  let largest = 0;
  for (const file of files) {
    const c = await readCheckpoint(file);
    try {
      for (const sd of [c.roles.vae, c.roles.var])
        for (const t of sd?.values() ?? []) {
          const b = await t.read();
          bytes += b.byteLength;
          largest = Math.max(largest, b.byteLength);
        }
    } finally {
      await c.close();
    }
  }
  return { bytes, largest };
}

/** The disk's rate for `bytes` written in 4 MB pieces and fsynced, in a file beside `dir`. */
async function diskWrite(dir: string, bytes: number): Promise<number> {
  const file = path.join(dir, `.disk-${process.pid}`);
  const chunk = Buffer.alloc(4 << 20, 1);
  const ms = await timed(async () => {
    const fh = await fs.promises.open(file, 'w');
    for (let at = 0; at < bytes; at += chunk.byteLength) await fh.write(chunk, 0, Math.min(chunk.byteLength, bytes - at));
    await fh.sync();
    await fh.close();
  });
  fs.rmSync(file, { force: true });
  return ms;
}

/** sha256 of `bytes` from memory (no disk), in 1 MB pieces. */
function hashRate(bytes: number): number {
  const chunk = Buffer.alloc(1 << 20, 7);
  const t0 = process.hrtime.bigint();
  const h = createHash('sha256');
  for (let at = 0; at < bytes; at += chunk.byteLength) h.update(chunk);
  h.digest();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function main(): Promise<void> {
  const vae = arg('vae')!;
  const varFile = arg('var')!;
  const template = arg('template')!;
  if (!vae || !varFile || !template) throw new Error('usage: --vae VAE.pth --var VAR.pth --template BUNDLE [--image IMG] [--runs N]');
  const image = arg('image', path.join(__dirname, '..', '..', 'media', 'sample.png'))!;
  const runs = Number(arg('runs', '2'));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-ckpt2bundle-'));
  const fileBytes = fs.statSync(vae).size + fs.statSync(varFile).size;
  const bundler = new CheckpointBundler({ templateFolders: [path.dirname(path.resolve(template))], store: path.join(work, 'store') });
  const rows: Record<string, number>[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      const hashMs = await timed(async () => Promise.all([sha256File(vae), sha256File(varFile)]));
      let read = { bytes: 0, largest: 0 };
      const readMs = await timed(async () => (read = await readAll([vae, varFile])));
      const out = path.join(work, `bundle-${r}`);
      let via = '';
      const makeMs = await timed(async () => (via = (await bundler.make({ vae, var: varFile }, out, { id: 'bench', name: 'bench' })).via));
      if (via !== 'template') throw new Error(`the template ${template} does not fit the checkpoints`);
      const weights = fs.statSync(path.join(out, 'weights.bin')).size;
      const diskMs = await diskWrite(work, weights);
      const sha256Ms = hashRate(weights);
      const engine = JSON.parse(
        execFileSync(process.execPath, [path.join(__dirname, 'engineMemory.js'), '--model', out, '--image', image], { encoding: 'utf8' })
          .trim()
          .split('\n')
          .pop()!,
      ) as { firstPyramidMs: number; openModelMs: number; inspectMs: number };
      rows.push({
        checkpointMB: fileBytes / MB,
        weightsMB: weights / MB,
        hashMs,
        hashMBs: fileBytes / MB / (hashMs / 1000),
        readMs,
        readMBs: read.bytes / MB / (readMs / 1000),
        makeMs,
        makeMBs: weights / MB / (makeMs / 1000),
        diskWriteMBs: weights / MB / (diskMs / 1000),
        sha256MBs: weights / MB / (sha256Ms / 1000),
        openModelMs: engine.openModelMs,
        firstPyramidMs: engine.firstPyramidMs,
        totalMs: hashMs + makeMs + engine.firstPyramidMs,
        largestTensorMB: read.largest / MB,
        peakRssMB: peakRss() / MB,
      });
      fs.rmSync(out, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const f = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  for (const [i, row] of rows.entries())
    console.error(
      `run ${i + 1}: hash ${f(row.hashMs / 1000)} s (${f(row.hashMBs)} MB/s), read ${f(row.readMs / 1000)} s (${f(row.readMBs)} MB/s), ` +
        `bundle from template ${f(row.makeMs / 1000)} s (${f(row.makeMBs)} MB/s; disk ${f(row.diskWriteMBs)} MB/s, sha256 ${f(row.sha256MBs)} MB/s), ` +
        `first pyramid ${f(row.firstPyramidMs / 1000)} s; total ${f(row.totalMs / 1000)} s; peak RSS ${f(row.peakRssMB)} MB (largest tensor ${f(row.largestTensorMB)} MB)`,
    );
  console.log(JSON.stringify({ template, vae, var: varFile, runs: rows }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
