/**
 * The engine: serves EngineApi in plain Node (in the engine child process, or in-process for the CLI and
 * tests). Holds the runtime settings, a small cache of opened bundles, and the runs in progress.
 */
import * as fs from 'fs';
import * as path from 'path';
import type {
  AttentionParams,
  BitGenerateResult,
  EngineApi,
  EngineEditRequest,
  EngineConfig,
  EngineEvents,
  GenerateParams,
  GenerateResult,
  ImageSource,
  ModelRef,
  TextCondition,
} from '../shared/engineApi';
import type {
  AnyGenerationSettings,
  AnyModelInfo,
  AnyGenerationStep,
  BitGenerationSettings,
  GenerationSettings,
  GenerationStep,
  RgbaImage,
} from '../shared/results';
import type { Handlers } from '../shared/rpc';
import { VarScopeError } from '../shared/errors';
import { loadBundle, ModelBundle, type AnyBundle } from './bundle/bundle';
import { InfinityBundle } from './bundle/infinityBundle';
import type { ModelFamily } from '../shared/manifest';
import { readTextFeatures, TextFeatures } from '../node/textFeatures';
import { bitsModelInfo, evaluateBitsOf, inspectBits, sizedInput, type ProviderUse } from './model/infinityModel';
import { encodePrompt } from './model/textEncoder';
import { bitsAttention } from './model/bitAttention';
import { trainingUsage } from './analysis/codebookStats';
import { editForcing } from './model/editForcing';
import { editBits } from './generation/bitEdit';
import type { BitEditRequest, BitEditResult } from '../shared/bitEdit';
import type { EditResult } from '../shared/protocol';
import { evaluateFolder } from './dataset/folderEval';
import { folderUsage } from './dataset/folderPass';
import { bitsFolderUsage } from './dataset/bitsFolderUsage';
import { GenerationRun } from './generation/generator';
import { BitGenerationRun } from './generation/bitGenerator';
import { SteppedRun } from './generation/steppedRun';
import { sampleBitGrid, sampleGrid } from './generation/samplingGrid';
import type {
  AnySamplingGridRequest,
  AnySamplingGridResult,
  BitSamplingGridRequest,
  BitSamplingGridResult,
} from '../shared/bitSamplingGrid';
import type { SamplingGridRequest, SamplingGridResult } from '../shared/samplingGrid';
import { decodeImage, DEFAULT_MAX_IMAGE_PIXELS, type DecodedImage } from './image/imageDecode';
import { describePlacement, nodesOffProvider } from '../shared/nodePlacement';
import { OnnxRuntime } from './runtime/onnxRuntime';
import { matmulRate } from './runtime/matmulRate';
import { rateShapes } from './analysis/flops';
import { profileScales } from './generation/scaleProfile';
import { MAX_IMAGE_BYTES, readCapped } from '../node/readCapped';
import { ModelInput, preprocess } from './image/preprocess';
import { newRunId } from '../shared/runId';
import { attentionWeights, scoreLogits, teacherForcedLogits } from './model/teacherForcing';
import { inspectImage, tokenize, Tokenization } from './model/tokenizer';

/** Sends an engine event (to the client, or nowhere). */
export type EmitEvent = <K extends keyof EngineEvents>(name: K, payload: EngineEvents[K]) => void;

/** Default engine settings. */
export const DEFAULT_CONFIG: EngineConfig = { provider: 'auto', threads: 0, maxImagePixels: DEFAULT_MAX_IMAGE_PIXELS };

const MAX_OPEN_MODELS = 2; // the current model and one to compare with

/** The engine's state and request handlers. */
export class Engine implements Handlers<EngineApi> {
  private config: EngineConfig = { ...DEFAULT_CONFIG };
  private runtime = new OnnxRuntime(this.config);
  private readonly models = new Map<string, AnyBundle>();
  private readonly loading = new Map<string, Promise<AnyBundle>>();
  private readonly runs = new Map<string, { cancel(): void }>();
  /** The last scale of each stepped run that its `generationStep` events have reported. */
  private readonly reportedUpTo = new WeakMap<AnyRun, number>();
  private lastTokens: { key: string; input: ModelInput; raw: Tokenization } | undefined;

  constructor(private readonly emit: EmitEvent = () => undefined) {}

  async configure(c: EngineConfig): Promise<void> {
    const runtimeChanged =
      c.provider !== this.config.provider ||
      c.threads !== this.config.threads ||
      c.cudaLibraryPath !== this.config.cudaLibraryPath ||
      c.pythonPath !== this.config.pythonPath;
    this.config = { ...DEFAULT_CONFIG, ...c };
    if (runtimeChanged) {
      await this.closeModels();
      this.runtime = new OnnxRuntime(this.config);
    }
  }

  async openModel(p: { model: string }): Promise<AnyModelInfo> {
    const b = await this.anyBundle(p.model);
    if (b instanceof InfinityBundle) {
      // A schedule's graphs open when an image first needs them (a set per schedule, large at 2B): only the first
      // schedule's encoder opens now, so the provider is known and an unusable runtime fails here.
      await b.graph(b.schedule(b.manifest.schedules[0].hDivW), 'bsqEncoder');
      return bitsModelInfo(b, this.providerUse());
    }
    await b.openAll();
    return b.info();
  }

  async inspect(p: Parameters<EngineApi['inspect']>[0]) {
    const b = await this.bundle(p.model, 'inspect');
    const input = await this.modelInput(b, p.image, p.resizeRatio);
    const { result, raw } = await inspectImage(b, input);
    this.lastTokens = { key: imageKey(p.model, p.image, p.resizeRatio), input, raw };
    return result;
  }

  async evaluate(p: Parameters<EngineApi['evaluate']>[0]) {
    const b = await this.bundle(p.model, 'evaluate');
    const raw = await this.tokens(b, p.model, p.image, p.resizeRatio);
    const logits = await teacherForcedLogits(b, raw.varInput, p.classId);
    return scoreLogits(b, logits, raw.tokens, p.classId, p.topK ?? 5);
  }

  async attention(p: AttentionParams) {
    const b = await this.anyBundle(p.model);
    if (b instanceof InfinityBundle) {
      if (!('text' in p))
        throw new VarScopeError('BadRequest', `${p.model} is an Infinity bundle: attention needs a caption (text), not a class`);
      const text = await this.textFeatures(b, p.text);
      const { s, input } = await sizedInput(b, await this.decoded(p.image), p.hDivW);
      return bitsAttention(b, s, input, text, p.layer, p.head);
    }
    if (!('classId' in p)) throw new VarScopeError('BadRequest', `${p.model} is a VAR bundle: attention needs a class, not a caption`);
    const raw = await this.tokens(b, p.model, p.image, p.resizeRatio);
    return attentionWeights(b, raw.varInput, p.classId, p.layer, p.head);
  }

  async generationStart(p: Parameters<EngineApi['generationStart']>[0]) {
    const runId = p.runId ?? newRunId('gen');
    this.runs.get(runId)?.cancel();
    const run = await this.newRun(p.model, 'generationStart', p, runId);
    this.runs.set(runId, run);
    setTimeout(() => run.computeAhead(0), 0); // the first scale, for the Step that follows (see generationStep)
    return { runId };
  }

  async generationStep(p: { runId: string; scaleIndex?: number }): Promise<AnyGenerationStep> {
    const run = this.runs.get(p.runId);
    if (!(run instanceof SteppedRun)) throw new VarScopeError('Cancelled', `no generation ${p.runId} (cancelled or never started)`);
    const stepped = run as AnyRun;
    // Every scale past the one last reported is reported, in order, also those computed ahead (without a report).
    const target = p.scaleIndex ?? (this.reportedUpTo.get(stepped) ?? -1) + 1;
    const reportUpTo = async (k: number) => {
      for (let n = (this.reportedUpTo.get(stepped) ?? -1) + 1; n <= k; n++) {
        this.reportedUpTo.set(stepped, n);
        this.emit('generationStep', await withImage(stepped, n));
      }
    };
    const step = await stepped.goToThen(
      target,
      (s: { scaleIndex: number }) => reportUpTo(s.scaleIndex),
      async () => {
        await reportUpTo(target);
        this.reportedUpTo.set(stepped, target); // back to an earlier scale: the later ones are reported again when recomputed
        return withImage(stepped, target);
      },
    );
    // The next Step's scale is computed while this reply travels and the user looks at it (after the reply is
    // sent: a run blocks this thread).
    setTimeout(() => stepped.computeAhead(target + 1), 0);
    return step;
  }

  async generationCancel(p: { runId: string }) {
    await this.cancel(p);
  }

  /** Generate every scale at once, VAR or Infinity as the settings say. */
  async generate(p: GenerateParams<GenerationSettings>): Promise<GenerateResult>;
  async generate(p: GenerateParams<BitGenerationSettings>): Promise<BitGenerateResult>;
  async generate(p: GenerateParams<AnyGenerationSettings>): Promise<GenerateResult | BitGenerateResult>;
  async generate(p: GenerateParams<AnyGenerationSettings>): Promise<GenerateResult | BitGenerateResult> {
    const runId = p.runId ?? newRunId('gen');
    const run = await this.newRun(p.model, 'generate', p, runId);
    this.runs.set(runId, run);
    try {
      const onStep = p.stream
        ? async (s: { scaleIndex: number }) => this.emit('generationStep', await withImage(run, s.scaleIndex))
        : undefined;
      await (run as SteppedRun<{ scaleIndex: number }>).goTo(run.scaleCount - 1, onStep);
      const image = await run.image();
      return run instanceof BitGenerationRun
        ? { family: 'infinity', runId, schedule: run.schedule.id, bits: run.bits, image }
        : { runId, tokens: run.tokens, image };
    } finally {
      this.runs.delete(runId);
    }
  }

  /**
   * A generation run of the settings' family on the bundle of `dir`; one line when the bundle is of the other family
   * (or VAR's forced tokens come with Infinity settings).
   */
  private async newRun(
    dir: string,
    request: string,
    p: { settings: AnyGenerationSettings; forced?: Array<Int32Array | null> },
    runId: string,
  ): Promise<AnyRun> {
    const settings = p.settings;
    const b = await this.anyBundle(dir);
    if (settings.family !== 'infinity') {
      if (b instanceof ModelBundle) return new GenerationRun(b, runId, settings, { forced: p.forced?.map((f) => f ?? undefined) });
      throw new VarScopeError(
        'BadRequest',
        `${dir} is an Infinity bundle: ${request} needs Infinity settings (a caption, cfgList, tauList), not a class`,
      );
    }
    if (!(b instanceof InfinityBundle))
      throw new VarScopeError('BadRequest', `${dir} is a VAR bundle: ${request} needs VAR settings (a class), not a caption`);
    if (p.forced) throw new VarScopeError('BadRequest', `${request}: forced tokens are for VAR models; ${dir} is an Infinity bundle`);
    return BitGenerationRun.open(b, runId, settings, await this.textFeatures(b, settings.text));
  }

  /** An edit of the request's family: VAR's of an image or a pyramid, Infinity's of a generation for a caption. */
  async edit(p: EngineEditRequest): Promise<EditResult>;
  async edit(p: ModelRef & BitEditRequest): Promise<BitEditResult>;
  async edit(p: EngineEditRequest | (ModelRef & BitEditRequest)): Promise<EditResult | BitEditResult>;
  async edit(p: EngineEditRequest | (ModelRef & BitEditRequest)): Promise<EditResult | BitEditResult> {
    if (p.family === 'infinity') {
      const ib = await this.anyBundle(p.model);
      if (!(ib instanceof InfinityBundle))
        throw new VarScopeError('BadRequest', `${p.model} is a VAR bundle: edit needs VAR settings (a class), not a caption`);
      return editBits(ib, p, await this.textFeatures(ib, p.settings.text));
    }
    const b = await this.bundle(p.model, 'edit');
    const m = b.manifest;
    let source: Int32Array[];
    if ('tokens' in p.source) {
      source = p.source.tokens;
    } else {
      const raw = await this.tokens(b, p.model, p.source.image);
      source = m.beginEnds.map(([s, e]) => raw.tokens.slice(s, e));
    }
    const forced = editForcing(m, source, { scaleIndex: p.scaleIndex, positions: p.positions, tokens: p.tokens, keepMask: p.keepMask });
    const runId = newRunId('edit');
    const run = new GenerationRun(b, runId, p.settings, { forced });
    this.runs.set(runId, run);
    try {
      await run.goTo(m.patchNums.length - 1);
      // decoded together: a pooled decoder (POOLED_ROLES) runs them in parallel
      const steps = await Promise.all(m.patchNums.slice(p.scaleIndex).map((_, i) => withImage(run, p.scaleIndex + i)));
      return { tokens: run.tokens, steps };
    } finally {
      this.runs.delete(runId);
    }
  }

  /** A sampling grid of the request's family (VAR: classes; Infinity: a caption); one line when the bundle is of the other. */
  async samplingGrid(p: ModelRef & SamplingGridRequest & { runId?: string }): Promise<SamplingGridResult>;
  async samplingGrid(p: ModelRef & BitSamplingGridRequest & { runId?: string }): Promise<BitSamplingGridResult>;
  async samplingGrid(p: ModelRef & AnySamplingGridRequest & { runId?: string }): Promise<AnySamplingGridResult>;
  async samplingGrid(p: ModelRef & AnySamplingGridRequest & { runId?: string }): Promise<AnySamplingGridResult> {
    const b = await this.anyBundle(p.model);
    const runId = p.runId ?? newRunId('grid');
    let cancelled = false;
    this.runs.set(runId, { cancel: () => (cancelled = true) });
    const hooks = {
      isCancelled: () => cancelled,
      onProgress: (done: number, total: number) => this.emit('samplingGrid', { runId, done, total }),
    };
    try {
      if (p.family === 'infinity') {
        if (!(b instanceof InfinityBundle))
          throw new VarScopeError('BadRequest', `${p.model} is a VAR bundle: a sampling grid of it has classes, not a caption`);
        return await sampleBitGrid(b, p, await this.textFeatures(b, p.text), hooks);
      }
      if (!(b instanceof ModelBundle))
        throw new VarScopeError('BadRequest', `${p.model} is an Infinity bundle: a sampling grid of it has a caption, not classes`);
      return await sampleGrid(b, p, hooks);
    } finally {
      this.runs.delete(runId);
    }
  }

  async folderUsage(p: Parameters<EngineApi['folderUsage']>[0]) {
    const b = await this.anyBundle(p.model);
    let cancelled = false;
    this.runs.set(p.runId, { cancel: () => (cancelled = true) });
    try {
      const hooks = {
        maxPixels: this.config.maxImagePixels,
        isCancelled: () => cancelled,
        onProgress: (e: Omit<EngineEvents['folderUsage'], 'runId'>) => this.emit('folderUsage', { runId: p.runId, ...e }),
      };
      return b instanceof InfinityBundle ? await bitsFolderUsage(b, p, hooks) : await folderUsage(b, p, hooks);
    } finally {
      this.runs.delete(p.runId);
    }
  }

  async evaluateFolder(p: Parameters<EngineApi['evaluateFolder']>[0]) {
    const b = await this.anyBundle(p.model);
    let cancelled = false;
    this.runs.set(p.runId, { cancel: () => (cancelled = true) });
    try {
      return await evaluateFolder(b, p, {
        maxPixels: this.config.maxImagePixels,
        isCancelled: () => cancelled,
        onProgress: (e) => this.emit('evaluateFolder', { runId: p.runId, ...e }),
        textFeatures: (ib, text) => this.textFeatures(ib, text),
        provider: () => this.providerUse().provider,
      });
    } finally {
      this.runs.delete(p.runId);
    }
  }

  async trainingUsage(p: { model: string }) {
    const b = await this.bundle(p.model, 'trainingUsage');
    const m = b.manifest;
    return b.trainingHits ? trainingUsage(b.trainingHits, m.patchNums.length, m.vae.vocabSize) : null;
  }

  async modelFamily(p: { model: string }): Promise<ModelFamily> {
    return (await this.anyBundle(p.model)) instanceof InfinityBundle ? 'infinity' : 'var';
  }

  async inspectBits(p: Parameters<EngineApi['inspectBits']>[0]) {
    const b = await this.infinityBundle(p.model, 'inspectBits');
    const { s, input } = await sizedInput(b, await this.decoded(p.image), p.hDivW);
    return inspectBits(b, s, input, this.providerUse());
  }

  async evaluateBits(p: Parameters<EngineApi['evaluateBits']>[0]) {
    const b = await this.infinityBundle(p.model, 'evaluateBits');
    const text = await this.textFeatures(b, p.text);
    const { s, input } = await sizedInput(b, await this.decoded(p.image), p.hDivW);
    return evaluateBitsOf(b, s, input, text);
  }

  /** The T5 features of an Infinity request's caption: read from its file, or its prompt through the bundle's text encoder. */
  async textFeatures(b: InfinityBundle, text: TextCondition): Promise<TextFeatures & { ids?: number[] }> {
    if ('featuresFile' in text) return readTextFeatures(text.featuresFile, b.manifest.text.featureWidth);
    return encodePrompt(b, text.prompt);
  }

  async profile(p: Parameters<EngineApi['profile']>[0]) {
    const b = await this.bundle(p.model);
    const image = p.image && {
      name: 'path' in p.image ? path.basename(p.image.path) : (p.image.name ?? 'image'),
      tensor: (await this.modelInput(b, p.image)).tensor,
    };
    const { m, shapes } = rateShapes(b.manifest);
    const rate = await matmulRate(this.runtime, m, shapes);
    const profile = await profileScales(b, { classId: p.classId, repeats: p.repeats ?? 3, rate, image });
    // measured again after the passes, the best kept: one measurement may fall in a busy moment of a shared machine
    return { ...profile, rate: await matmulRate(this.runtime, m, shapes, { fresh: true }) };
  }

  async cancel(p: { runId: string }) {
    this.runs.get(p.runId)?.cancel();
    this.runs.delete(p.runId);
  }

  async status() {
    const mem = process.memoryUsage();
    return {
      pid: process.pid,
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      provider: this.runtime.provider ?? null,
      providerFallbacks: [...this.runtime.fallbacks],
      openModels: [...this.models.keys()],
      runs: this.runs.size,
    };
  }

  /** The provider in use (once a graph opened) and why faster ones were skipped. */
  private providerUse(): ProviderUse {
    return { provider: this.runtime.provider ?? 'not started', providerFallbacks: this.runtime.fallbacks };
  }

  /** The VAR bundle of a folder for `request`, or one line saying the folder holds an Infinity bundle. */
  async bundle(dir: string, request = 'this request'): Promise<ModelBundle> {
    const b = await this.anyBundle(dir);
    if (b instanceof ModelBundle) return b;
    throw new VarScopeError(
      'BadRequest',
      `${dir} is an Infinity bundle: ${request} works on VAR bundles (for Infinity: inspectBits, evaluateBits, attention; \`varscope inspect\`)`,
    );
  }

  /** An Infinity bundle for `request`, or one line saying the folder holds a VAR bundle. */
  async infinityBundle(dir: string, request: string): Promise<InfinityBundle> {
    const b = await this.anyBundle(dir);
    if (b instanceof InfinityBundle) return b;
    throw new VarScopeError('BadRequest', `${dir} is a VAR bundle: ${request} works on Infinity bundles`);
  }

  /** The bundle of a folder, of its family, loaded once (least recently used ones closed); concurrent first uses share one load. */
  async anyBundle(dir: string): Promise<AnyBundle> {
    const key = path.resolve(dir);
    const open = this.models.get(key);
    if (open) {
      this.models.delete(key); // re-insert: most recently used last
      this.models.set(key, open);
      return open;
    }
    let pending = this.loading.get(key);
    if (!pending) {
      pending = loadBundle(key, this.runtime, { log: (message) => this.emit('log', { level: 'info', message }) }).finally(() =>
        this.loading.delete(key),
      );
      this.loading.set(key, pending);
    }
    const b = await pending;
    if (this.models.get(key) === b) return b; // another caller of the same load put it in place
    if (b instanceof ModelBundle)
      b.onPlacement = (role, g, placement) => {
        this.emit('nodePlacement', { model: key, role, provider: g.provider, placement });
        // On the CPU every node runs on the CPU: nothing to say.
        if (g.provider !== 'cpu')
          this.emit('log', {
            level: nodesOffProvider(placement, g.provider) ? 'warn' : 'info',
            message: `${path.basename(g.file)} (${role}) nodes: ${describePlacement(placement, g.provider)}`,
          });
      };
    while (this.models.size >= MAX_OPEN_MODELS) {
      const [oldKey, old] = this.models.entries().next().value!;
      this.models.delete(oldKey);
      await old.dispose();
    }
    this.models.set(key, b);
    return b;
  }

  /** Read, decode and preprocess an image for a bundle. */
  async modelInput(b: ModelBundle, image: ImageSource, resizeRatio?: number): Promise<ModelInput> {
    const decoded = await this.decoded(image);
    const m = b.manifest;
    return preprocess(decoded, m.normalization, m.vae.imageSize, { resizeRatio });
  }

  /** Read and decode an image. */
  private async decoded(image: ImageSource): Promise<DecodedImage> {
    let bytes: Uint8Array;
    let name: string;
    if ('path' in image) {
      name = image.path;
      bytes = await readCapped(image.path, MAX_IMAGE_BYTES, 'BadImage', 'image');
    } else {
      bytes = image.bytes;
      name = image.name ?? 'image';
    }
    return decodeImage(bytes, this.config.maxImagePixels, name);
  }

  /** Close every bundle and forget runs. */
  async dispose(): Promise<void> {
    for (const r of this.runs.values()) r.cancel();
    this.runs.clear();
    await this.closeModels();
  }

  private async tokens(b: ModelBundle, model: string, image: ImageSource, resizeRatio?: number): Promise<Tokenization> {
    const key = imageKey(model, image, resizeRatio);
    if (key && this.lastTokens?.key === key) return this.lastTokens.raw;
    const input = await this.modelInput(b, image, resizeRatio);
    const raw = await tokenize(b, input.tensor);
    this.lastTokens = { key, input, raw };
    return raw;
  }

  private async closeModels(): Promise<void> {
    this.lastTokens = undefined;
    const all = [...this.models.values()];
    this.models.clear();
    for (const b of all) await b.dispose();
  }
}

/** A run of either family. */
type AnyRun = GenerationRun | BitGenerationRun;

/** The computed step k of a run as an event: with its decoded image, without the in-process logits. */
async function withImage(run: GenerationRun, k: number): Promise<GenerationStep>;
async function withImage(run: AnyRun, k: number): Promise<AnyGenerationStep>;
async function withImage(run: AnyRun, k: number): Promise<AnyGenerationStep> {
  const { logits: _logits, ...rest } = run.stepAt(k);
  const image: RgbaImage = await run.image(k);
  return { ...rest, image };
}

/** A cache key for an image on disk (path + size + mtime); '' (never cached) for bytes. */
function imageKey(model: string, image: ImageSource, resizeRatio?: number): string {
  if (!('path' in image)) return '';
  try {
    const st = fs.statSync(image.path);
    return `${path.resolve(model)}|${path.resolve(image.path)}|${st.size}|${st.mtimeMs}|${resizeRatio ?? 1}`;
  } catch {
    return '';
  }
}

// What the CLI, which runs the engine in-process, uses besides the Engine: nothing outside src/engine imports the
// layers below this file (eslint.config.mjs).
export { GenerationRun } from './generation/generator';
export { inspectImage } from './model/tokenizer';
export { teacherForcedLogits } from './model/teacherForcing';
export { noUsableImagesError, someImagesFailed } from './dataset/folderPass';
export { mergeParts, type NamedPart } from './dataset/shards';
export { MAX_IMAGE_PIXELS_CEILING } from './image/imageDecode';
