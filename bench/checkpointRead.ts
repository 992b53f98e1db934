/**
 * The TypeScript checkpoint reader's throughput and memory on one checkpoint: the time to open it (zip directory and
 * pickle, no tensor data), then every tensor of every role read (MB/s), hashed with sha256 (MB/s, timed apart from the
 * reading) and, for float16 / bfloat16 / float64, converted to float32; the peak RSS (VmHWM) against the largest tensor.
 * The same file read raw (16 MB at a time, no parsing; into one buffer, and into a new buffer each time) gives the
 * baselines the reader's rate is a ratio of; the machine's load makes the absolute rates vary, the ratios less. Prints one JSON object.
 *
 *   npx tsc -p tsconfig.json && node out/bench/checkpointRead.js CHECKPOINT
 *
 * A file just written is in the page cache: the read rate is then memory's, not the disk's.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import { performance } from 'perf_hooks';
import { readCheckpoint, toFloat32 } from '../src/node/checkpoint';

/** VmRSS and VmHWM of this process, in bytes. */
function memory(): { rss: number; peak: number } {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

const MB = 2 ** 20;

/**
 * MB/s of reading the whole file sequentially in 16 MB pieces: into one buffer (the disk's or page cache's rate), and
 * each piece into a new buffer, as the reader returns every tensor in its own (the kernel then zero-fills fresh pages).
 */
async function rawReadMBps(file: string, fresh: boolean): Promise<number> {
  const handle = await fs.promises.open(file, 'r');
  let buf = Buffer.allocUnsafeSlow(16 * MB);
  const t0 = performance.now();
  let total = 0;
  for (;;) {
    if (fresh) buf = Buffer.allocUnsafeSlow(16 * MB);
    const { bytesRead } = await handle.read(buf, 0, buf.length, total);
    if (!bytesRead) break;
    total += bytesRead;
  }
  const ms = performance.now() - t0;
  await handle.close();
  return Math.round(total / MB / (ms / 1000));
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: node out/bench/checkpointRead.js CHECKPOINT');
  const raw = await rawReadMBps(file, false);
  const rawFresh = await rawReadMBps(file, true);
  const before = memory();
  let t0 = performance.now();
  const c = await readCheckpoint(file);
  const openMs = performance.now() - t0;
  let bytes = 0;
  let largest = 0;
  let tensors = 0;
  let readMs = 0;
  let hashMs = 0;
  let convertMs = 0;
  let converted = 0;
  const hash = createHash('sha256');
  for (const sd of Object.values(c.roles)) {
    for (const t of sd.values()) {
      t0 = performance.now();
      const b = await t.read();
      readMs += performance.now() - t0;
      t0 = performance.now();
      hash.update(b);
      hashMs += performance.now() - t0;
      if (t.dtype === 'float16' || t.dtype === 'bfloat16' || t.dtype === 'float64') {
        t0 = performance.now();
        toFloat32(b, t.dtype);
        convertMs += performance.now() - t0;
        converted += b.length;
      }
      bytes += b.length;
      largest = Math.max(largest, b.length);
      tensors++;
    }
  }
  await c.close();
  const after = memory();
  const rate = (n: number, ms: number) => Math.round(n / MB / (ms / 1000));
  console.log(
    JSON.stringify({
      file,
      fileMB: Math.round(fs.statSync(file).size / MB),
      roles: Object.keys(c.roles),
      tensors,
      tensorMB: Math.round(bytes / MB),
      largestTensorMB: Math.round(largest / MB),
      openMs: Math.round(openMs),
      rawReadMBps: raw,
      rawFreshReadMBps: rawFresh,
      readMBps: rate(bytes, readMs),
      readOverRaw: Number((bytes / readMs / ((raw * MB) / 1000)).toFixed(2)),
      readOverRawFresh: Number((bytes / readMs / ((rawFresh * MB) / 1000)).toFixed(2)),
      sha256MBps: rate(bytes, hashMs),
      toFloat32MBps: converted ? rate(converted, convertMs) : null,
      startRssMB: Math.round(before.rss / MB),
      peakRssMB: Math.round(after.peak / MB),
      peakOverLargestTensor: Number((after.peak / Math.max(largest, 1)).toFixed(2)),
    }),
  );
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
