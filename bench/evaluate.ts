/**
 * Folder evaluation throughput: `evaluate` with batched graphs (the default, 8 images per encoder / transformer
 * run) against one image at a time, interleaved on the same images in one process, with the ratio of medians and
 * of minimums, and the time 1000 images take at the batched median. Not a test: prints and writes JSON.
 *
 *   npx tsc -p tsconfig.json && node out/bench/evaluate.js --folder DIR [--model DIR] [--images 64] [--repeats 3] [--threads 0] [--json OUT]
 *
 * --threads: onnxruntime's intra-op threads (0: its default, one per core; 1 on a machine shared with other jobs).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Engine } from '../src/engine/engine';

const ROOT = path.resolve(__dirname, '..', '..');

function arg(name: string, def?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor((a.length - 1) / 2)];

async function main(): Promise<void> {
  const folder = arg('folder');
  if (!folder) throw new Error('--folder DIR is required (a folder of images at the model size)');
  const model = path.resolve(arg('model', path.join(ROOT, 'models', 'emoji64-d4'))!);
  const limit = Number(arg('images', '64'));
  const repeats = Number(arg('repeats', '3'));
  const threads = Number(arg('threads', '0'));
  const engine = new Engine();
  await engine.configure({ provider: 'cpu', threads, maxImagePixels: 1e8 });
  await engine.openModel({ model });
  const labels = { kind: 'none' as const };
  await engine.evaluateFolder({ model, runId: 'warm', folder, labels, limit: 8 }); // warm-up
  const perImage: Record<'batched' | 'single', number[]> = { batched: [], single: [] };
  let images = 0;
  for (let r = 0; r < repeats; r++) {
    for (const [name, batch] of [
      ['batched', 8],
      ['single', 1],
    ] as const) {
      const t = performance.now();
      const ev = await engine.evaluateFolder({ model, runId: `${name}-${r}`, folder, labels, limit, batch });
      perImage[name].push((performance.now() - t) / ev.images);
      images = ev.images;
    }
  }
  await engine.dispose();
  const out = {
    model,
    images,
    repeats,
    threads,
    msPerImage: {
      batched: { median: median(perImage.batched), min: Math.min(...perImage.batched) },
      single: { median: median(perImage.single), min: Math.min(...perImage.single) },
    },
    speedupOfBatching: {
      ratioOfMedians: median(perImage.single) / median(perImage.batched),
      ratioOfMinimums: Math.min(...perImage.single) / Math.min(...perImage.batched),
    },
    secondsFor1000Images: (median(perImage.batched) * 1000) / 1000,
  };
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
  const json = arg('json');
  if (json) fs.writeFileSync(json, JSON.stringify(out, null, 1) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
