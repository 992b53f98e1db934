/**
 * A sampling grid through the engine's own generation: every sample is a GenerationRun (the run `generate` makes,
 * which the parity tests check against PyTorch), so sample j of a class under a setting is exactly `generate` with
 * that class, setting and seed `seed + j`. Then the per-scale metrics of each setting (analysis/samplingMetrics.ts).
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
import type { ModelBundle } from '../bundle/bundle';
import { samplingScaleMetrics, type SampleTokens } from '../analysis/samplingMetrics';
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
