/**
 * Step-wise generation: one scale per step with the KV-cached transformerStep graph, CFG with the official
 * ramp, official top-k/top-p semantics, the engine's seeded Rng. Keeps what each scale needs to go back
 * (tokens, f̂, next input, Rng state); the KV cache is append-only, so going back slices it.
 */
import type { GenerationSettings, GenerationStep } from '../../shared/results';
import { VarScopeError } from '../../shared/errors';
import { samplingSettingsError } from '../../shared/samplingBounds';
import type { ModelBundle } from '../bundle/bundle';
import type { Graph } from '../runtime/graph';
import { decodeLatents } from '../model/tokenizer';
import { toRgba } from '../image/pixels';
import { Rng } from '../model/rng';
import { cfgCombine, cfgRatio, sampleScale } from '../model/sampler';
import { asF32, f32, i64 } from '../runtime/tensor';
import { openKvCache, type KvCache } from './kvCache';
import { SteppedRun } from './steppedRun';

/** Options of a run. */
export interface GenerationOptions {
  /** Per scale, tokens to force (-1 = sample); the draw still happens so the stream of randoms is unchanged. */
  forced?: Array<Int32Array | undefined>;
  /** Keep each step's CFG-combined logits [l, V] (parity tests, analyses). */
  keepLogits?: boolean;
  /** Recompute the whole prefix with the teacher-forced graph at each step instead of the KV cache (benchmark). */
  fullRecompute?: boolean;
}

/** A computed step plus what only in-process callers use. */
export interface StepOutput extends Omit<GenerationStep, 'image'> {
  /** [l, V] CFG-combined logits when keepLogits. */
  logits?: Float32Array;
}

interface Snapshot {
  tokens: Int32Array;
  sampledProb: Float32Array;
  top1Prob: Float32Array;
  entropy: Float32Array;
  /** [1, C, h, w] f̂ after this scale */
  fHat: Float32Array;
  /** [1, pnNext², C] input of the next scale (area-down of f̂) */
  nextInput: Float32Array;
  rngState: Uint32Array;
  logits?: Float32Array;
  /** decode(fHat), once asked for */
  image?: GenerationStep['image'];
}

/** One VAR generation: step forward, go back, cancel (steppedRun.ts). */
export class GenerationRun extends SteppedRun<StepOutput> {
  private readonly snaps: Snapshot[] = [];
  /** The KV cache of the scales computed (kvCache.ts), opened at the first step. */
  private cache: KvCache | undefined;
  /** Scales the KV cache serves (a cache on the GPU cannot be cut back: truncate drops it, stepLogits rebuilds it). */
  private cachedScales = 0;
  private readonly rng: Rng;
  private readonly startState: Uint32Array;

  constructor(
    readonly bundle: ModelBundle,
    runId: string,
    readonly settings: GenerationSettings,
    private readonly opts: GenerationOptions = {},
  ) {
    super(runId);
    const m = bundle.manifest;
    const { numClasses, nullClass } = m.var;
    const c = settings.classId;
    if (!Number.isInteger(c) || c < 0 || (c >= numClasses && c !== nullClass))
      throw new VarScopeError('BadRequest', `class ${c} outside 0..${numClasses - 1}`);
    const problem = samplingSettingsError({ ...settings });
    if (problem) throw new VarScopeError('BadRequest', problem);
    this.rng = new Rng(settings.seed);
    this.startState = this.rng.getState();
  }

  get scaleCount(): number {
    return this.bundle.manifest.patchNums.length;
  }

  get current(): number {
    return this.snaps.length - 1;
  }

  /** Tokens of every computed scale. */
  get tokens(): Int32Array[] {
    return this.snaps.map((s) => s.tokens);
  }

  /** f̂ after the last computed scale [1, C, h, w] (zeros before the first step). */
  get fHat(): Float32Array {
    const { Cvae: C, latentSize: h } = this.bundle.manifest.vae;
    return this.snaps.length ? this.snaps[this.snaps.length - 1].fHat : new Float32Array(C * h * h);
  }

  /** Bytes of the engine's own buffers holding the KV cache (0 before the first step or on a GPU). */
  get cacheBytes(): number {
    return this.cache?.hostBytes ?? 0;
  }

  /** Positions the KV cache holds (0 before the first step). */
  get cachedPositions(): number {
    return this.cache?.length ?? 0;
  }

  /**
   * The teacher-forcing input of the computed scales, [B, L - firstL, C] (each sample the same): the next-scale
   * inputs of scales 0..upTo-1 at the rows of scales 1..upTo, zeros after.
   */
  teacherForcingInput(upTo = this.current + 1, B = 1): Float32Array {
    const m = this.bundle.manifest;
    const C = m.vae.Cvae;
    const rows = m.tokenCount - m.firstL;
    const vi = new Float32Array(B * rows * C);
    for (let k = 1; k <= Math.min(upTo, m.patchNums.length - 1); k++) {
      const [b] = m.beginEnds[k];
      for (let bb = 0; bb < B; bb++) vi.set(this.snaps[k - 1].nextInput, bb * rows * C + (b - m.firstL) * C);
    }
    return vi;
  }

  async image(scaleIndex = this.current): Promise<GenerationStep['image']> {
    const snap = this.snaps[scaleIndex];
    if (!snap) throw new VarScopeError('BadRequest', `scale ${scaleIndex} of ${this.runId} is not computed`);
    if (!snap.image) snap.image = toRgba(await decodeLatents(this.bundle, snap.fHat, 1), this.bundle.manifest.vae.imageSize);
    return snap.image;
  }

  stepAt(k: number): StepOutput {
    if (!this.snaps[k]) throw new VarScopeError('BadRequest', `scale ${k} of ${this.runId} is not computed`);
    return this.output(k);
  }

  /** f̂ after the computed scale k [1, C, h, w]. */
  fHatAt(k: number): Float32Array {
    if (!this.snaps[k]) throw new VarScopeError('BadRequest', `scale ${k} of ${this.runId} is not computed`);
    return this.snaps[k].fHat;
  }

  /** decode(f̂ after scale k) as [3, S, S] in [-1, 1]. */
  async imageTensor(scaleIndex = this.current): Promise<Float32Array> {
    return decodeLatents(this.bundle, this.snaps[scaleIndex].fHat, 1);
  }

  private output(k: number): StepOutput {
    const s = this.snaps[k];
    return dropUndefined({
      runId: this.runId,
      scaleIndex: k,
      pn: this.bundle.manifest.patchNums[k],
      tokens: s.tokens,
      sampledProb: s.sampledProb,
      top1Prob: s.top1Prob,
      entropy: s.entropy,
      logits: s.logits,
    });
  }

  /** Forget scales after k; the KV cache keeps its prefix up to the end of scale k. */
  protected truncate(k: number): void {
    this.snaps.length = k + 1;
    this.rng.setState(this.snaps[k].rngState);
    const Lp = this.bundle.manifest.beginEnds[k][1];
    if (!this.cache || this.cache.truncate(Lp)) this.cachedScales = Math.min(this.cachedScales, k + 1);
    else this.cachedScales = 0;
  }

  protected async computeNext(): Promise<void> {
    const m = this.bundle.manifest;
    const { Cvae: C, latentSize: h, vocabSize: V } = m.vae;
    const SN = m.patchNums.length;
    const si = this.current + 1;
    const pn = m.patchNums[si];
    const l = pn * pn;
    if (si === 0) this.rng.setState(this.startState);
    const useCfg = this.settings.cfg > 0;
    const B = useCfg ? 2 : 1;
    const labels = useCfg ? [this.settings.classId, m.var.nullClass] : [this.settings.classId];
    const logitsB = this.opts.fullRecompute ? await this.recomputeLogits(si, B, labels) : await this.stepLogits(si, B, labels);
    const t = cfgRatio(this.settings.cfg, si, SN);
    const combined = useCfg ? cfgCombine(logitsB.subarray(0, l * V), logitsB.subarray(l * V, 2 * l * V), t) : logitsB.slice(0, l * V);
    const sampled = sampleScale(combined, V, this.settings.topK, this.settings.topP, this.rng, this.opts.forced?.[si]);
    const ls = await this.bundle.graph('latentStep');
    const nextK = Math.min(si + 1, SN - 1);
    const prev = this.fHat;
    const out = await ls.run({
      fHat: f32([1, C, h, h], prev),
      tokens: i64([1, l], sampled.tokens),
      up: f32([h, pn], this.bundle.up[si]),
      down: f32([m.patchNums[nextK], h], this.bundle.down[nextK]),
      phiIndex: i64([], [m.phiIndexPerScale[si]]),
    });
    this.snaps.push({
      ...sampled,
      fHat: asF32(out.fHatNext, 'latentStep.fHatNext'),
      nextInput: asF32(out.nextInput, 'latentStep.nextInput'),
      rngState: this.rng.getState(),
      logits: this.opts.keepLogits ? combined : undefined,
    });
  }

  /**
   * logits [B, l, V] of scale si from the KV-cached step graph; appends this scale to the cache. A cache dropped by a
   * step back (on the GPU) is first rebuilt from the scales kept.
   */
  private async stepLogits(si: number, B: number, labels: number[]): Promise<Float32Array> {
    const g = await this.bundle.graph('transformerStep');
    while (this.cachedScales < si) await this.cacheStep(g, this.cachedScales, B, labels);
    return this.cacheStep(g, si, B, labels);
  }

  /** One run of the step graph at scale si on a cache of scales 0..si-1; the cache then serves 0..si. */
  private async cacheStep(g: Graph, si: number, B: number, labels: number[]): Promise<Float32Array> {
    const m = this.bundle.manifest;
    const C = m.vae.Cvae;
    const l = si === 0 ? 1 : m.patchNums[si] ** 2;
    const x = new Float32Array(B * l * C); // [B, l, C]; at scale 0 ignored (class token)
    if (si > 0) {
      const ni = this.snaps[si - 1].nextInput;
      for (let b = 0; b < B; b++) x.set(ni, b * l * C);
    }
    this.cache ??= openKvCache(g, m, B);
    const feeds = { classLabel: i64([B], labels), x: f32([B, l, C], x), scaleIndex: i64([], [si]) };
    const logits = await this.cache.step(g, feeds, si < m.patchNums.length - 1);
    this.cachedScales = si + 1;
    return asF32(logits, 'transformerStep.logits');
  }

  /** logits [B, l, V] of scale si by running the full teacher-forced graph on the prefix (no cache). */
  private async recomputeLogits(si: number, B: number, labels: number[]): Promise<Float32Array> {
    const m = this.bundle.manifest;
    const { Cvae: C, vocabSize: V } = m.vae;
    const L = m.tokenCount;
    const rows = L - m.firstL;
    const vi = this.teacherForcingInput(si, B); // rows after scale si stay 0 (masked anyway)
    const g = await this.bundle.graph('transformer');
    const out = await g.run({ classLabel: i64([B], labels), varInput: f32([B, rows, C], vi) }, ['logits']);
    const all = asF32(out.logits, 'transformer.logits'); // [B, L, V]
    const [b, e] = m.beginEnds[si];
    const l = e - b;
    const res = new Float32Array(B * l * V);
    for (let bb = 0; bb < B; bb++) res.set(all.subarray((bb * L + b) * V, (bb * L + e) * V), bb * l * V);
    return res;
  }
}

/** Drop undefined fields (they would cross the process boundary as explicit undefined). */
function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}
