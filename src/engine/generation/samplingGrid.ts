/**
 * A sampling grid through the engine's own generation: every sample is a GenerationRun (the run `generate` makes,
 * which the parity tests check against PyTorch), so sample j of a class under a setting is exactly `generate` with
 * that class, setting and seed `seed + j`; an Infinity grid's samples are BitGenerationRuns for its caption, so
 * sample j is `generate` with that caption, setting and seed. Then the per-scale metrics of each setting
 * (analysis/samplingMetrics.ts).
 */
import { VarScopeError } from '../../shared/errors';
import {
  clampSetting,
  samplingGridError,
  type GridSample,
  type GridSettingResult,
  type SamplingGridRequest,
  type SamplingGridResult,
} from '../../shared/samplingGrid';
import {
  anySamplingGridError,
  clampBitSetting,
  type BitGridSample,
  type BitGridSettingResult,
  type BitSamplingGridRequest,
  type BitSamplingGridResult,
} from '../../shared/bitSamplingGrid';
import type { ModelBundle } from '../bundle/bundle';
import type { InfinityBundle } from '../bundle/infinityBundle';
import { bitSamplingScaleMetrics, samplingScaleMetrics, type SampleBits, type SampleTokens } from '../analysis/samplingMetrics';
import { BitGenerationRun, type CaptionFeatures } from './bitGenerator';
import { GenerationRun } from './generator';

/** How a grid reports progress and learns it was cancelled. */
export interface GridHooks {
  isCancelled?(): boolean;
  /** After each sample: samples done of the grid's total. */
  onProgress?(done: number, total: number): void;
}

/** Sample the grid on a bundle: settings in order, then classes, then seeds. */
export async function sampleGrid(bundle: ModelBundle, req: SamplingGridRequest, hooks: GridHooks = {}): Promise<SamplingGridResult> {
  const m = bundle.manifest;
  const V = m.vae.vocabSize;
  const problem = samplingGridError({ ...req }, m.var.numClasses);
  if (problem) throw new VarScopeError('BadRequest', problem);
  const total = req.settings.length * req.classes.length * req.samples;
  const SN = m.patchNums.length;
  let done = 0;
  let first: SampleTokens[] = [];
  const settings: GridSettingResult[] = [];
  for (const asked of req.settings) {
    const setting = clampSetting(asked, V);
    const tokens: SampleTokens[] = [];
    const samples: GridSample[] = [];
    for (const classId of req.classes)
      for (let j = 0; j < req.samples; j++) {
        if (hooks.isCancelled?.()) throw new VarScopeError('Cancelled', 'sampling grid cancelled');
        const seed = req.seed + j;
        const run = new GenerationRun(bundle, `grid-${done}`, { classId, seed, ...setting });
        await run.goTo(SN - 1);
        const steps = m.patchNums.map((_, k) => run.stepAt(k));
        tokens.push({ classId, tokens: run.tokens, entropy: steps.map((s) => s.entropy) });
        samples.push({ classId, seed, tokens: run.tokens, image: await run.image() });
        hooks.onProgress?.(++done, total);
      }
    if (!settings.length) first = tokens;
    settings.push({
      setting,
      ...(setting.topK !== asked.topK ? { requestedTopK: asked.topK } : {}),
      scales: samplingScaleMetrics(tokens, first),
      samples,
    });
  }
  return { classes: [...req.classes], samples: req.samples, seed: req.seed, patchNums: [...m.patchNums], vocabSize: V, settings };
}

/** Sample an Infinity grid for its caption's features: settings in order, then seeds. */
export async function sampleBitGrid(
  bundle: InfinityBundle,
  req: BitSamplingGridRequest,
  text: CaptionFeatures,
  hooks: GridHooks = {},
): Promise<BitSamplingGridResult> {
  const m = bundle.manifest;
  const schedule = bundle.schedule(req.hDivW ?? m.schedules[0].hDivW);
  const problem = anySamplingGridError({ ...req }, schedule.scales.length);
  if (problem) throw new VarScopeError('BadRequest', problem);
  const total = req.settings.length * req.samples;
  let done = 0;
  let first: SampleBits[] = [];
  const settings: BitGridSettingResult[] = [];
  for (const asked of req.settings) {
    const setting = clampBitSetting(asked);
    const own: SampleBits[] = [];
    const samples: BitGridSample[] = [];
    for (let j = 0; j < req.samples; j++) {
      if (hooks.isCancelled?.()) throw new VarScopeError('Cancelled', 'sampling grid cancelled');
      const seed = req.seed + j;
      const run = await BitGenerationRun.open(
        bundle,
        `grid-${done}`,
        { family: 'infinity', text: req.text, hDivW: schedule.hDivW, seed, ...asked },
        text,
      );
      await run.goTo(run.scaleCount - 1);
      own.push({ bits: run.bits, entropy: run.bits.map((_, k) => run.stepAt(k).entropy) });
      samples.push({ seed, bits: run.bits, image: await run.image() });
      hooks.onProgress?.(++done, total);
    }
    if (!settings.length) first = own;
    settings.push({
      setting,
      ...(setting.topK !== asked.topK ? { requestedTopK: asked.topK } : {}),
      scales: bitSamplingScaleMetrics(own, first, m.bits),
      samples,
    });
  }
  return {
    family: 'infinity',
    text: req.text,
    schedule: schedule.id,
    scales: schedule.scales.map(([, h, w]) => [h, w] as [number, number]),
    bits: m.bits,
    samples: req.samples,
    seed: req.seed,
    settings,
  };
}
