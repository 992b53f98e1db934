/**
 * Engine memory and first-pyramid time for one bundle, measured the way the extension runs the engine: a fresh
 * engine child process (EngineClient) that opens the model (openModel, every graph) and then inspects one image.
 * Prints one JSON object; bench/releasedSizes.py calls it for each released VAR size.
 *
 *   npx tsc -p tsconfig.json && node out/bench/engineMemory.js --model DIR --image IMG [--threads N] [--evaluate]
 *       [--generate] [--logits OUT [--var-input F] [--class N]] [--text-features CAPTION.npy]
 * RSS and peak RSS (VmHWM) are read from /proc/<engine pid>/status; --evaluate then runs one teacher-forced
 * evaluation (class 0) in the same process and reads them again; --generate then generates one image (class 0,
 * seed 0, the official sampling settings) and reads them again (with the largest anonymous RSS while it ran, sampled:
 * VmHWM also counts the pages of weights.bin that onnxruntime reads in place), and with --evaluate evaluates once more (the time to
 * go back to the teacher-forced view; a large bundle opens its transformer graph again). --logits OUT then (engine process closed; alone with
 * --logits-only) tokenizes the image in this process and writes OUT.tokens.bin (int32 [L]), OUT.varInput.bin and
 * OUT.logits.bin (float32 [L, V], teacher-forced, class N, default 0) and, with --var-input F,
 * OUT.givenInput.logits.bin on that varInput: for comparing a float16 bundle with its float32 twin.
 * An Infinity bundle runs the same stages as its family's requests: inspectBits, evaluateBits and a generation at the
 * bundle's sampling (seed 0) for the caption of --text-features (its T5 features), at the schedule nearest the image.
 */
import * as fs from 'fs';
import { EngineClient } from '../src/client/engineClient';
import { Engine } from '../src/engine/engine';
import { OFFICIAL_SAMPLING } from '../src/shared/manifest';
import type { AnyModelInfo, BitGenerationSettings } from '../src/shared/results';
import type { TextCondition } from '../src/shared/textCondition';
import { teacherForcedLogits } from '../src/engine/model/teacherForcing';
import { inspectImage } from '../src/engine/model/tokenizer';

function arg(name: string, def?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

/**
 * VmRSS and VmHWM (bytes) of a process, from /proc, and the RSS split: anonymous memory (the process's own) and file
 * pages (mapped files, e.g. weights.bin read in place: the kernel takes them back under pressure).
 */
function memoryOf(pid: number): { rss: number; peak: number; anon: number; file: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile') };
}

/** The largest anonymous RSS of a process while `work` runs (sampled every 200 ms; the kernel keeps no such peak). */
async function peakAnonDuring<T>(pid: number, work: Promise<T>): Promise<{ result: T; peakAnon: number }> {
  let peakAnon = memoryOf(pid).anon;
  const timer = setInterval(() => {
    try {
      peakAnon = Math.max(peakAnon, memoryOf(pid).anon);
    } catch {
      // the process ended: the call below fails with its reason
    }
  }, 200);
  try {
    const result = await work;
    return { result, peakAnon: Math.max(peakAnon, memoryOf(pid).anon) };
  } finally {
    clearInterval(timer);
  }
}

async function main(): Promise<void> {
  const model = arg('model');
  const image = arg('image');
  if (!model || !image) throw new Error('usage: node out/bench/engineMemory.js --model DIR --image IMG [--threads N] [--logits OUT]');
  const logitsFile = arg('logits');
  const classId = Number(arg('class', '0'));
  if (logitsFile && process.argv.includes('--logits-only')) return writeLogits(model, image, logitsFile, classId, arg('var-input'));
  const client = new EngineClient({
    config: { provider: 'cpu', threads: Number(arg('threads', '0')), maxImagePixels: 1e8 },
    timeoutMs: 0,
    watchdogMs: 0,
  });
  try {
    const t0 = performance.now();
    await client.call('status', {}); // starts the process
    const started = performance.now();
    const info = await client.call('openModel', { model });
    const opened = performance.now();
    const afterOpen = memoryOf(client.pid!);
    const infinity = info.family === 'infinity';
    const text = { featuresFile: arg('text-features') ?? '' };
    if (infinity && !text.featuresFile) throw new Error('an Infinity bundle needs --text-features CAPTION.npy');
    const inspected = infinity
      ? await client.call('inspectBits', { model, image: { path: image } })
      : await client.call('inspect', { model, image: { path: image } });
    const done = performance.now();
    const afterInspect = memoryOf(client.pid!);
    const out: Record<string, unknown> = {
      model: info.id,
      provider: inspected.model.provider,
      processStartMs: started - t0,
      openModelMs: opened - started,
      inspectMs: done - opened,
      firstPyramidMs: done - t0,
      rssAfterOpen: afterOpen.rss,
      peakAfterOpen: afterOpen.peak,
      rssAfterInspect: afterInspect.rss,
      peakAfterInspect: afterInspect.peak,
      anonAfterInspect: afterInspect.anon,
      tokens: inspected.scales.map((s) => ('tokens' in s ? s.tokens.length : s.h * s.w)),
    };
    const evaluateOnce = () =>
      infinity
        ? client.call('evaluateBits', { model, image: { path: image }, text })
        : client.call('evaluate', { model, image: { path: image }, classId: 0 });
    // each stage's numbers also go to stderr as they come, so a run stopped for its memory shows how far it got
    const reached = () => console.error(`engineMemory: ${JSON.stringify(out)}`);
    reached();
    if (process.argv.includes('--evaluate')) {
      // the teacher-forced view: opens the transformer graph of a large bundle
      const t = performance.now();
      await evaluateOnce();
      out.evaluateMs = performance.now() - t;
      const afterEvaluate = memoryOf(client.pid!);
      out.rssAfterEvaluate = afterEvaluate.rss;
      out.peakAfterEvaluate = afterEvaluate.peak;
      reached();
    }
    if (process.argv.includes('--generate')) {
      // generation: opens the step graph (KV cache) of a large bundle, which may release the transformer graph
      const t = performance.now();
      const { peakAnon } = await peakAnonDuring(
        client.pid!,
        infinity
          ? client.call('generate', { model, settings: bitSettings(info, text) })
          : client.call('generate', { model, settings: { classId: 0, seed: 0, ...OFFICIAL_SAMPLING } }),
      );
      out.generateMs = performance.now() - t;
      const afterGenerate = memoryOf(client.pid!);
      out.rssAfterGenerate = afterGenerate.rss;
      out.peakAfterGenerate = afterGenerate.peak;
      out.anonAfterGenerate = afterGenerate.anon;
      out.fileAfterGenerate = afterGenerate.file;
      out.peakAnonDuringGenerate = peakAnon;
      reached();
      if (process.argv.includes('--evaluate')) {
        // back to the teacher-forced view: a large bundle's generation released its transformer graph
        const t2 = performance.now();
        await evaluateOnce();
        out.evaluateAgainMs = performance.now() - t2;
        out.peakAfterEvaluateAgain = memoryOf(client.pid!).peak;
      }
    }
    console.log(JSON.stringify(out));
  } finally {
    await client.dispose();
  }
  if (logitsFile) await writeLogits(model, image, logitsFile, classId, arg('var-input'));
}

/** The bundle's own sampling (scripts/infer.sh's) for a caption at the first schedule, seed 0. */
function bitSettings(info: AnyModelInfo, text: TextCondition): BitGenerationSettings {
  if (info.family !== 'infinity') throw new Error(`${info.id}: not an Infinity bundle`);
  const s = info.sampling;
  const scales = info.schedules[0].scales.length;
  return {
    family: 'infinity',
    text,
    hDivW: info.schedules[0].hDivW,
    seed: 0,
    cfgList: Array<number>(scales).fill(s.cfg),
    tauList: Array<number>(scales).fill(s.tau),
    topK: s.topK,
    topP: s.topP,
  };
}

/** Tokens, varInput and teacher-forced logits (of classId) of one image, as raw little-endian files. */
async function writeLogits(model: string, image: string, out: string, classId: number, varInputFile?: string): Promise<void> {
  const engine = new Engine();
  await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
  try {
    const b = await engine.bundle(model);
    const { raw } = await inspectImage(b, await engine.modelInput(b, { path: image }));
    fs.writeFileSync(`${out}.tokens.bin`, Int32Array.from(raw.tokens));
    fs.writeFileSync(`${out}.varInput.bin`, raw.varInput);
    fs.writeFileSync(`${out}.logits.bin`, await teacherForcedLogits(b, raw.varInput, classId));
    if (varInputFile) {
      const given = new Float32Array(new Uint8Array(fs.readFileSync(varInputFile)).buffer);
      fs.writeFileSync(`${out}.givenInput.logits.bin`, await teacherForcedLogits(b, given, classId));
    }
  } finally {
    await engine.dispose();
  }
}

void main().catch((e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});
