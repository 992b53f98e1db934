/**
 * Step-wise Infinity generation, as the official autoregressive_infer_cfg: one scale per run of the infinityStep graph
 * with its KV cache, the batch doubled with the unconditional caption features when any cfg differs from 1, CFG on
 * the logits or inside the network (cfgLayer), 1 / tau, top-k / top-p per bit (bitSampler.ts), the next scale's input
 * from the summed codes. Keeps what each scale needs to go back (bits, f̂, Rng state); going back cuts the cache.
 */
import type { BitGenerationSettings, BitGenerationStep, RgbaImage } from '../../shared/results';
import type { InfinitySchedule } from '../../shared/manifest';
import { VarScopeError } from '../../shared/errors';
import { bitSamplingSettingsError } from '../../shared/samplingBounds';
import type { InfinityBundle } from '../bundle/infinityBundle';
import { toRgba } from '../image/pixels';
import { guideBitLogits, sampleBits } from '../model/bitSampler';
import { addScaleCodes, decodeBitLatent, nextScaleInput } from '../model/infinityModel';
import { Rng } from '../model/rng';
import { asF32, f32, i64 } from '../runtime/tensor';
import { SteppedRun } from './steppedRun';

/** One caption's T5 features [tokens, width]. */
export interface CaptionFeatures {
  features: Float32Array;
  tokens: number;
}

/** Options of a run. */
export interface BitGenerationOptions {
  /** Per scale, bits to force (0/1 [h·w·d]); the draws still happen, so the stream of randoms is unchanged. */
  forced?: Array<Uint8Array | undefined>;
  /** Keep each step's guided logits [h·w·d·2] (fixture tests). */
  keepLogits?: boolean;
}

/** A computed step plus what only in-process callers use. */
export interface BitStepOutput extends Omit<BitGenerationStep, 'image'> {
  /** [h·w·d·2] the logits the sampler got (after 1 / tau and CFG), when keepLogits. */
  logits?: Float32Array;
}

interface Snapshot {
  step: BitStepOutput;
  /** f̂ after this scale [d, H, W]. */
  fHat: Float32Array;
  rngState: Uint32Array;
  image?: RgbaImage;
}

/** One Infinity generation: step forward, go back, cancel (steppedRun.ts). */
export class BitGenerationRun extends SteppedRun<BitStepOutput> {
  private readonly snaps: Snapshot[] = [];
  private readonly rng: Rng;
  private readonly startState: Uint32Array;
  /** [rows · n, width]: the caption, then (CFG) the unconditional features' first n rows. */
  private readonly features: Float32Array;
  private readonly rows: number;
  private readonly cfgLayer: number;
  /** The KV cache [depth, rows, heads, past, headDim] of the scales computed. */
  private pastKey: Float32Array = new Float32Array(0);
  private pastValue: Float32Array = new Float32Array(0);
  private past = 0;

  private constructor(
    readonly bundle: InfinityBundle,
    readonly schedule: InfinitySchedule,
    runId: string,
    readonly settings: BitGenerationSettings,
    private readonly text: CaptionFeatures,
    unconditional: Float32Array,
    private readonly opts: BitGenerationOptions,
  ) {
    super(runId);
    const width = bundle.manifest.text.featureWidth;
    this.rows = settings.cfgList.some((c) => c !== 1) ? 2 : 1;
    this.features = new Float32Array(this.rows * text.tokens * width);
    this.features.set(text.features);
    if (this.rows === 2) this.features.set(unconditional.subarray(0, text.tokens * width), text.tokens * width);
    const layer = settings.cfgInsertionLayer ?? bundle.manifest.sampling.cfgInsertionLayer;
    const depth = bundle.manifest.infinity.depth;
    if (layer < 0 && depth + layer <= 0)
      throw new VarScopeError(
        'BadRequest',
        `cfgInsertionLayer ${layer} is outside a model of ${depth} blocks (use -1 .. -${depth - 1}, or 0)`,
      );
    this.cfgLayer = layer < 0 ? depth + layer : -1;
    this.rng = new Rng(settings.seed);
    this.startState = this.rng.getState();
  }

  /** A run on the bundle's schedule for settings.hDivW (default its first), settings checked against it. */
  static async open(
    bundle: InfinityBundle,
    runId: string,
    settings: BitGenerationSettings,
    text: CaptionFeatures,
    opts: BitGenerationOptions = {},
  ): Promise<BitGenerationRun> {
    const s = bundle.schedule(settings.hDivW ?? bundle.manifest.schedules[0].hDivW);
    const problem = bitSamplingSettingsError({ ...settings }, s.scales.length);
    if (problem) throw new VarScopeError('BadRequest', problem);
    if (text.tokens > bundle.manifest.unconditionalText.dims[0])
      throw new VarScopeError(
        'BadRequest',
        `the caption has ${text.tokens} tokens, the model reads at most ${bundle.manifest.unconditionalText.dims[0]}`,
      );
    return new BitGenerationRun(bundle, s, runId, settings, text, await bundle.unconditionalText(), opts);
  }

  get scaleCount(): number {
    return this.schedule.scales.length;
  }

  get current(): number {
    return this.snaps.length - 1;
  }

  /** Bits of every computed scale, [h·w·d] each. */
  get bits(): Uint8Array[] {
    return this.snaps.map((s) => s.step.bits);
  }

  /** f̂ after the computed scale k [d, H, W]. */
  fHatAt(k: number): Float32Array {
    if (!this.snaps[k]) throw new VarScopeError('BadRequest', `scale ${k} of ${this.runId} is not computed`);
    return this.snaps[k].fHat;
  }

  stepAt(k: number): BitStepOutput {
    if (!this.snaps[k]) throw new VarScopeError('BadRequest', `scale ${k} of ${this.runId} is not computed`);
    const { logits, ...step } = this.snaps[k].step;
    return logits ? { ...step, logits } : step;
  }

  async image(scaleIndex = this.current): Promise<RgbaImage> {
    const snap = this.snaps[scaleIndex];
    if (!snap) throw new VarScopeError('BadRequest', `scale ${scaleIndex} of ${this.runId} is not computed`);
    const [H, W] = this.schedule.pixelSize;
    snap.image ??= toRgba(await decodeBitLatent(this.bundle, this.schedule, snap.fHat), H, 0, W);
    return snap.image;
  }

  /** Forget scales after k; the KV cache keeps the positions of scales 0..k. */
  protected truncate(k: number): void {
    this.snaps.length = k + 1;
    this.rng.setState(this.snaps[k].rngState);
    const keep = this.schedule.beginEnds[k][1];
    if (keep >= this.past) return; // the last scale's keys are never kept
    const { depth, numHeads, headDim } = this.bundle.manifest.infinity;
    const outer = depth * this.rows * numHeads;
    this.pastKey = cutAxis3(this.pastKey, outer, this.past, keep, headDim);
    this.pastValue = cutAxis3(this.pastValue, outer, this.past, keep, headDim);
    this.past = keep;
  }

  protected async computeNext(): Promise<void> {
    const m = this.bundle.manifest;
    const { depth, numHeads, headDim } = m.infinity;
    const d = m.bits;
    const s = this.schedule;
    const k = this.current + 1;
    const [, h, w] = s.scales[k];
    const l = h * w;
    const rows = this.rows;
    const n = this.text.tokens;
    if (k === 0) this.rng.setState(this.startState);
    const [H, W] = s.latentSize;
    const prev = k === 0 ? new Float32Array(d * H * W) : this.snaps[k - 1].fHat;
    // scale 0's input is ignored (the pooled caption starts); later ones: the summed codes resized to this scale
    const x = k === 0 ? new Float32Array(d) : nextScaleInput(prev, d, H, W, h, w);
    const next = new Float32Array(rows * x.length);
    for (let r = 0; r < rows; r++) next.set(x, r * x.length);
    const cacheDims = [depth, rows, numHeads, this.past, headDim];
    const cfg = this.settings.cfgList[k];
    const step = await this.bundle.graph(s, 'infinityStep');
    const out = await step.run({
      textFeatures: f32([rows * n, m.text.featureWidth], this.features),
      textOffsets: i64([rows + 1], rows === 2 ? [0, n, 2 * n] : [0, n]),
      nextInput: f32([rows, k === 0 ? 1 : l, d], next),
      scaleIndex: i64([], [k]),
      pastKey: f32(cacheDims, this.pastKey),
      pastValue: f32(cacheDims, this.pastValue),
      cfgScale: f32([], Float32Array.of(cfg)),
      cfgLayer: i64([], [this.cfgLayer]),
    });
    if (k < s.scales.length - 1) {
      const outer = depth * rows * numHeads;
      this.pastKey = appendAxis3(this.pastKey, asF32(out.newKey, 'infinityStep.newKey'), outer, this.past, l, headDim);
      this.pastValue = appendAxis3(this.pastValue, asF32(out.newValue, 'infinityStep.newValue'), outer, this.past, l, headDim);
      this.past += l;
    }
    const logits = asF32(out.logits, 'infinityStep.logits'); // [rows, l, d, 2]
    const onLogits = cfg !== 1 && this.cfgLayer < 0;
    const guided = guideBitLogits(logits, l * d * 2, cfg, this.settings.tauList[k], onLogits);
    const sampled = sampleBits(guided, d, this.settings.topK, this.settings.topP, this.rng, this.opts.forced?.[k]);
    const fHat = prev.slice();
    addScaleCodes(fHat, sampled.bits, 0, d, h, w, H, W);
    const stepOut: BitStepOutput = { family: 'infinity', runId: this.runId, scaleIndex: k, h, w, ...sampled };
    if (this.opts.keepLogits) stepOut.logits = guided;
    this.snaps.push({ step: stepOut, fHat, rngState: this.rng.getState() });
  }
}

/** [outer, past, c] and [outer, l, c] joined on the middle axis (the KV cache's token axis). */
function appendAxis3(a: Float32Array, b: Float32Array, outer: number, past: number, l: number, c: number): Float32Array {
  const out = new Float32Array(outer * (past + l) * c);
  for (let o = 0; o < outer; o++) {
    out.set(a.subarray(o * past * c, (o + 1) * past * c), o * (past + l) * c);
    out.set(b.subarray(o * l * c, (o + 1) * l * c), o * (past + l) * c + past * c);
  }
  return out;
}

/** The first `keep` of `past` positions of [outer, past, c]. */
function cutAxis3(a: Float32Array, outer: number, past: number, keep: number, c: number): Float32Array {
  const out = new Float32Array(outer * keep * c);
  for (let o = 0; o < outer; o++) out.set(a.subarray(o * past * c, (o * past + keep) * c), o * keep * c);
  return out;
}
