/**
 * A GPU execution provider against the CPU on one bundle and image, both in this process: tokenizer tokens, the
 * encoder's f, the decoded image of the finest f̂, teacher-forced logits, and the first scales of a generation on the
 * KV cache (transformerStep); with the node placement of each graph and the time of each part (first run, which
 * compiles the GPU's shaders, and the best of the repeats), and the last step again after a step back to scale 0.
 * Used by test/unit/webgpu.test.ts (on SwiftShader) and
 * bench/gpu-check.sh (on a real GPU).
 * usage: node out/bench/gpuParity.js --model DIR --image PNG [--provider webgpu] [--class 0] [--seed 1]
 *        [--steps 3] [--repeats 1] [--json FILE]
 */
import * as fs from 'fs';
import * as path from 'path';
import type { ModelBundle } from '../src/engine/bundle/bundle';
import { Engine } from '../src/engine/engine';
import { GenerationRun } from '../src/engine/generation/generator';
import { teacherForcedLogits } from '../src/engine/model/teacherForcing';
import { decodeLatents, tokenize, type Tokenization } from '../src/engine/model/tokenizer';
import type { EngineConfig } from '../src/shared/engineApi';
import type { NodePlacement } from '../src/shared/results';

/** What one provider computed, and how long each part took (ms: first run, best of the repeats). */
interface Side {
  provider: string;
  t: Tokenization;
  image: Float32Array;
  logits: Float32Array;
  gen: Array<{ tokens: Int32Array; logits: Float32Array; image: Float32Array }>;
  /** The last step again after a step back to scale 0 (the KV cache cut back, or rebuilt on a GPU). */
  again: { tokens: Int32Array; logits: Float32Array };
  ms: Record<string, { first: number; best: number }>;
  placement: Record<string, NodePlacement>;
}

/** The comparison, as written to --json. */
export interface ParityReport {
  model: string;
  image: string;
  provider: string;
  /** Tokenizer tokens that differ from the CPU's (of `tokens`). */
  tokensDiffer: number;
  tokens: number;
  maxAbs: { f: number; image: number; logits: number };
  /** Per generation step: tokens that differ, and the CFG logits' and decoded image's max abs difference. */
  generation: Array<{ scale: number; tokensDiffer: number; logits: number; image: number }>;
  /** The last generation step recomputed after a step back to scale 0, against the CPU's first pass. */
  backStep: { tokensDiffer: number; logits: number };
  /** Max |logit| of the CPU's teacher-forced logits (the scale of the logits differences). */
  logitsScale: number;
  ms: { cpu: Side['ms']; gpu: Side['ms'] };
  placement: Record<string, NodePlacement>;
}

/** Options of one comparison. */
export interface ParityOptions {
  model: string;
  image: string;
  provider: EngineConfig['provider'];
  classId: number;
  seed: number;
  steps: number;
  repeats: number;
}

async function timed<T>(ms: Side['ms'], name: string, repeats: number, f: () => Promise<T>): Promise<T> {
  let result!: T;
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    result = await f();
    const dt = performance.now() - t0;
    const m = (ms[name] ??= { first: dt, best: dt });
    m.best = Math.min(m.best, dt);
  }
  return result;
}

async function runSide(o: ParityOptions, provider: EngineConfig['provider']): Promise<Side> {
  const engine = new Engine();
  await engine.configure({ provider, threads: 0, maxImagePixels: 1e8 });
  try {
    const ms: Side['ms'] = {};
    const b: ModelBundle = await timed(ms, 'open', 1, async () => {
      const x = await engine.bundle(o.model);
      await x.openAll();
      return x;
    });
    const input = await engine.modelInput(b, { path: o.image });
    const t = await timed(ms, 'tokenize', o.repeats, () => tokenize(b, input.tensor));
    const { Cvae: C, latentSize: h } = b.manifest.vae;
    const last = t.fHat.subarray(t.fHat.length - C * h * h);
    const image = await timed(ms, 'decode', o.repeats, () => decodeLatents(b, last, 1));
    const logits = await timed(ms, 'teacherForced', o.repeats, () => teacherForcedLogits(b, t.varInput, o.classId));
    const s = b.manifest.sampling ?? { cfg: 4, topK: 900, topP: 0.96 };
    const gen: Side['gen'] = [];
    const run = await timed(ms, `generate${o.steps}`, o.repeats, async () => {
      const r = new GenerationRun(
        b,
        'parity',
        { classId: o.classId, seed: o.seed, cfg: s.cfg, topK: s.topK, topP: s.topP },
        { keepLogits: true },
      );
      gen.length = 0;
      for (let k = 0; k < o.steps; k++) {
        const out = await r.goTo(k);
        gen.push({ tokens: out.tokens, logits: out.logits!, image: await r.imageTensor(k) });
      }
      return r;
    });
    await run.goTo(0);
    const back = await run.goTo(o.steps - 1);
    const again = { tokens: back.tokens, logits: back.logits! };
    return { provider: b.info().provider, t, image, logits, gen, again, ms, placement: b.info().nodePlacement ?? {} };
  } finally {
    await engine.dispose();
  }
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function differ(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = Math.abs(a.length - b.length);
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) n++;
  return n;
}

/** Run the CPU, then the GPU provider, and compare. */
export async function gpuParity(o: ParityOptions): Promise<ParityReport> {
  const cpu = await runSide(o, 'cpu');
  const gpu = await runSide(o, o.provider);
  return {
    model: path.resolve(o.model),
    image: path.resolve(o.image),
    provider: gpu.provider,
    tokensDiffer: differ(cpu.t.tokens, gpu.t.tokens),
    tokens: cpu.t.tokens.length,
    maxAbs: { f: maxAbs(cpu.t.f, gpu.t.f), image: maxAbs(cpu.image, gpu.image), logits: maxAbs(cpu.logits, gpu.logits) },
    generation: cpu.gen.map((c, k) => ({
      scale: k,
      tokensDiffer: differ(c.tokens, gpu.gen[k].tokens),
      logits: maxAbs(c.logits, gpu.gen[k].logits),
      image: maxAbs(c.image, gpu.gen[k].image),
    })),
    backStep: {
      tokensDiffer: differ(cpu.gen[o.steps - 1].tokens, gpu.again.tokens),
      logits: maxAbs(cpu.gen[o.steps - 1].logits, gpu.again.logits),
    },
    logitsScale: cpu.logits.reduce((m, x) => Math.max(m, Math.abs(x)), 0),
    ms: { cpu: cpu.ms, gpu: gpu.ms },
    placement: gpu.placement,
  };
}

async function main(argv: string[]): Promise<void> {
  const arg = (name: string, dflt?: string) => {
    const i = argv.indexOf(`--${name}`);
    if (i >= 0 && i + 1 < argv.length) return argv[i + 1];
    if (dflt === undefined) throw new Error(`--${name} is required`);
    return dflt;
  };
  const report = await gpuParity({
    model: arg('model'),
    image: arg('image'),
    provider: arg('provider', 'webgpu') as EngineConfig['provider'],
    classId: Number(arg('class', '0')),
    seed: Number(arg('seed', '1')),
    steps: Number(arg('steps', '3')),
    repeats: Number(arg('repeats', '1')),
  });
  const text = JSON.stringify(report, null, 1);
  const out = argv.includes('--json') ? arg('json') : undefined;
  if (out) {
    const tmp = `${out}.tmp-${process.pid}`;
    const fd = fs.openSync(tmp, 'w');
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, out);
  } else process.stdout.write(`${text}\n`);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`gpuParity: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
