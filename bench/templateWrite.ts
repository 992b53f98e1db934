/**
 * Template write speed: writeBundleFromTemplate of a bundle with a weight map and a checkpoint's tensors, timed, with
 * the time spent reading the tensors apart. The tensors come as .npy files (one per key and role), dumped once by
 *   PYTHONPATH=python python3 -m tests.template_fixtures --npy VAE.pth VAR.pth NPY_DIR
 * Given the template's own checkpoint, the bundle written must equal the template's files byte for byte (checked).
 *   npx tsc -p tsconfig.json && node out/bench/templateWrite.js TEMPLATE_DIR NPY_DIR [OUT_DIR] [--runs 3]
 * Not a test: numbers for this machine (MB/s of files written; disk and sha256 set the limit).
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeBundleFromTemplate } from '../src/node/bundleTemplate';
import type { StateDict } from '../src/node/checkpoint/types';
import { npyStateDict } from '../test/unit/npy';

const MB = 1e6;

function sha256(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(1 << 22);
  for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null));) hash.update(buf.subarray(0, n));
  fs.closeSync(fd);
  return hash.digest('hex');
}

/** The state_dict with each read() timed into `spent.ms`. */
function timed(sd: StateDict, spent: { ms: number }): StateDict {
  const out: StateDict = new Map();
  for (const [key, t] of sd)
    out.set(key, {
      ...t,
      read: async () => {
        const t0 = performance.now();
        const b = await t.read();
        spent.ms += performance.now() - t0;
        return b;
      },
    });
  return out;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const runsAt = args.indexOf('--runs');
  const runs = runsAt >= 0 ? Number(args.splice(runsAt, 2)[1]) : 3;
  const [template, npy, outArg] = args;
  if (!template || !npy) throw new Error('usage: node out/bench/templateWrite.js TEMPLATE_DIR NPY_DIR [OUT_DIR] [--runs 3]');
  const out = outArg ?? path.join(os.tmpdir(), 'varscope-template-bench');
  const sources = JSON.parse(fs.readFileSync(path.join(npy, 'sources.json'), 'utf8'));
  const manifest = JSON.parse(fs.readFileSync(path.join(template, 'varscope.json'), 'utf8'));
  for (let run = 1; run <= runs; run++) {
    const spent = { ms: 0 };
    const sd = { vae: timed(npyStateDict(path.join(npy, 'vae')), spent), var: timed(npyStateDict(path.join(npy, 'var')), spent) };
    const t0 = performance.now();
    await writeBundleFromTemplate(template, sd, out, { id: manifest.id, name: manifest.name, sources });
    const ms = performance.now() - t0;
    const written = JSON.parse(fs.readFileSync(path.join(out, 'varscope.json'), 'utf8')).files as Record<string, { bytes: number }>;
    const bytes = Object.values(written).reduce((a, f) => a + f.bytes, 0);
    console.log(
      `run ${run}: ${(bytes / MB).toFixed(1)} MB in ${(ms / 1000).toFixed(2)} s = ${(bytes / MB / (ms / 1000)).toFixed(0)} MB/s ` +
        `(reading the .npy tensors ${(spent.ms / 1000).toFixed(2)} s; converting, writing, hashing and copying the graphs ${((ms - spent.ms) / 1000).toFixed(2)} s)`,
    );
  }
  const t0 = performance.now();
  const weights = sha256(path.join(out, 'weights.bin'));
  const hashMs = performance.now() - t0;
  const size = fs.statSync(path.join(out, 'weights.bin')).size;
  console.log(`sha256 alone of weights.bin: ${(size / MB / (hashMs / 1000)).toFixed(0)} MB/s (page cache)`);
  const same = Object.keys(manifest.files).filter(
    (f) => manifest.files[f].sha256 === JSON.parse(fs.readFileSync(path.join(out, 'varscope.json'), 'utf8')).files[f]?.sha256,
  );
  console.log(
    `files equal to the template's: ${same.length} of ${Object.keys(manifest.files).length} (weights.bin ${weights === manifest.files['weights.bin'].sha256 ? 'equal' : 'DIFFERS'})`,
  );
  fs.rmSync(out, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
});
