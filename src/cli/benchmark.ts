/**
 * Engine timings on one model (CPU numbers depend on the machine: compare ratios measured in one run).
 * Used by `varscope bench` and by bench/engine.ts, which adds the PyTorch reference beside them.
 */
import sharp from 'sharp';
import type { EngineConfig } from '../shared/engineApi';
import type { GenerationSettings } from '../shared/results';
import { OFFICIAL_SAMPLING } from '../shared/manifest';
import { Engine, GenerationRun, inspectImage, teacherForcedLogits } from '../engine/engine';
import { EngineClient } from '../client/engineClient';
import { varModelOf } from '../shared/modelFamily';

/** Median and all samples of one measurement, in ms. */
export interface Timing {
  median: number;
  all: number[];
}

/** What the engine benchmark reports. */
export interface EngineBench {
  model: string;
  provider: string;
  threads: number;
  repeats: number;
  /** preprocess + encode + quantize + decode every scale (B=1 per scale). */
  openImage: Timing;
  /** teacher-forced transformer forward, B=1, logits only. */
  teacherForced: Timing;
  /** CFG generation (B=2), KV cache, official default sampling, with the final decode. */
  generate: Timing;
  /** The transformer part of generation (no decode), KV cache vs recomputing the prefix at every scale. */
  generateKv: Timing;
  generateFull: Timing;
  /** RSS of an engine child process (MB) after 3 inspections, a teacher-forced evaluation and a generation. */
  rssMB: number;
  /** Medians for each thread count tried (all graphs at that count): they decide DEFAULT_THREADS per graph. */
  threadSweep?: Array<{ threads: number; openImage: number; teacherForced: number; generateKv: number }>;
}

/** Median of `repeats` runs after one warm-up. */
export async function time(fn: () => Promise<unknown>, repeats: number): Promise<Timing> {
  await fn();
  const all: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    all.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const s = [...all].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], all: all.map((v) => Math.round(v * 100) / 100) };
}

/** A synthetic test image (PNG bytes): a smooth gradient with some detail, at the model size. */
export async function benchImage(size: number): Promise<Uint8Array> {
  const px = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3;
      px[i] = (x * 255) / size;
      px[i + 1] = (y * 255) / size;
      px[i + 2] = ((x ^ y) & 16) * 8;
    }
  }
  return sharp(px, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

/** Time the engine on a model. */
export async function benchEngine(
  model: string,
  config: EngineConfig,
  opts: { repeats?: number; sweepThreads?: number[]; image?: Uint8Array } = {},
): Promise<EngineBench> {
  const repeats = opts.repeats ?? 5;
  const measure = async (threads: number) => {
    const engine = new Engine();
    await engine.configure({ ...config, threads });
    const info = varModelOf(await engine.openModel({ model }), 'benchmark');
    const b = await engine.bundle(model);
    const bytes = opts.image ?? (await benchImage(info.imageSize));
    const openImage = await time(async () => inspectImage(b, await engine.modelInput(b, { bytes })), repeats);
    const input = await engine.modelInput(b, { bytes });
    const { raw } = await inspectImage(b, input);
    const teacherForced = await time(() => teacherForcedLogits(b, raw.varInput, 0), repeats);
    return { engine, b, info, openImage, teacherForced, bytes };
  };
  const generationSettings = (b: Awaited<ReturnType<Engine['bundle']>>) => ({
    classId: 0,
    seed: 0,
    ...(b.manifest.sampling ?? OFFICIAL_SAMPLING),
  });
  /** The transformer part of a generation (no decode), with the KV cache or recomputing the prefix. */
  const genOnly = (b: Awaited<ReturnType<Engine['bundle']>>, fullRecompute: boolean) => async () => {
    const run = new GenerationRun(b, 'bench', generationSettings(b), { fullRecompute });
    await run.goTo(b.manifest.patchNums.length - 1);
  };
  let sweep: EngineBench['threadSweep'];
  if (opts.sweepThreads?.length) {
    sweep = [];
    for (const t of opts.sweepThreads) {
      const r = await measure(t);
      const kv = await time(genOnly(r.b, false), repeats);
      sweep.push({ threads: t, openImage: r.openImage.median, teacherForced: r.teacherForced.median, generateKv: kv.median });
      await r.engine.dispose();
    }
  }
  const { engine, b, info, openImage, teacherForced, bytes } = await measure(config.threads);
  const SN = info.patchNums.length;
  const generate = await time(async () => {
    const run = new GenerationRun(b, 'bench', generationSettings(b));
    await run.goTo(SN - 1);
    await run.imageTensor();
  }, repeats);
  const generateKv = await time(genOnly(b, false), repeats);
  const generateFull = await time(genOnly(b, true), repeats);
  const provider = info.provider;
  const sampling = generationSettings(b);
  await engine.dispose();
  const rssMB = await engineProcessRss(model, config, bytes, sampling);
  return {
    model,
    provider,
    threads: config.threads,
    repeats,
    openImage,
    teacherForced,
    generate,
    generateKv,
    generateFull,
    rssMB,
    threadSweep: sweep,
  };
}

/** RSS (MB) of a fresh engine child process after typical work. */
async function engineProcessRss(model: string, config: EngineConfig, bytes: Uint8Array, settings: GenerationSettings): Promise<number> {
  const client = new EngineClient({ config });
  try {
    for (let i = 0; i < 3; i++) await client.call('inspect', { model, image: { bytes } });
    await client.call('evaluate', { model, image: { bytes }, classId: 0 });
    await client.call('generate', { model, settings });
    return (await client.call('status', {})).rss / 2 ** 20;
  } finally {
    await client.dispose();
  }
}
