/** The one place a loaded model's family is narrowed where only a VAR model will do. */
import { VarScopeError } from './errors';
import type { AnyDatasetEvaluation, DatasetEvaluation } from './evaluation';
import type { AnyGenerationStep, AnyModelInfo, GenerationStep, ModelInfo } from './results';

/** `info` as a VAR model, or one line saying `request` works on VAR bundles only (the reverse of the engine's refusal). */
export function varModelOf(info: AnyModelInfo, request: string): ModelInfo {
  if (info.family === 'var') return info;
  throw new VarScopeError(
    'BadRequest',
    `${info.dir} is an Infinity bundle: ${request} works on VAR bundles (for Infinity: \`varscope inspect\`, \`varscope stats\`, the panel's Pyramid, Reconstruction, Residuals, Codebook and teacher-forced Step-through)`,
  );
}

/** Tokens of the longest sequence the model runs (Infinity: its largest schedule), for run-time limits. */
export function longestSequence(info: AnyModelInfo): number {
  return info.family === 'infinity' ? Math.max(...info.schedules.map((s) => s.tokenCount)) : info.tokenCount;
}

/** A generation step as VAR's (a stream or a reply where only VAR runs are started), or one line saying it is not. */
export function varStepOf(step: AnyGenerationStep): GenerationStep {
  if (step.family !== 'infinity') return step;
  throw new VarScopeError('BadRequest', `generation ${step.runId} is an Infinity run: its steps hold bits, not tokens`);
}

/** The schedule of the template ratio nearest h / w (log distance), as the official code picks its template. */
export function nearestSchedule<S extends { hDivW: number }>(schedules: readonly S[], hDivW: number): S {
  const distance = (s: S) => Math.abs(Math.log(s.hDivW / hDivW));
  return schedules.reduce((a, s) => (distance(s) < distance(a) ? s : a));
}

/** An evaluation as a VAR model's, or one line saying `request` works on VAR evaluations only. */
export function varEvaluationOf(r: AnyDatasetEvaluation, request: string): DatasetEvaluation {
  if (r.family !== 'infinity') return r;
  throw new VarScopeError(
    'BadRequest',
    `${r.model.dir} is an Infinity model: ${request} works on VAR evaluations (for Infinity: \`varscope evaluate\`, \`varscope merge\`)`,
  );
}
