/**
 * A small evaluation (two scales, two images) for tests that read and write evaluations without running a model.
 * Built loosely and cast: these tests are about files, and the metric fields change more often than the file format.
 */
import type { BitsDatasetEvaluation, DatasetEvaluation } from '../../../src/shared/evaluation';

/** An evaluation of a checkpoint at `step` with the given top-1 accuracy at every scale. */
export function evaluationOf(p: { step: number | null; accuracy: number }): DatasetEvaluation {
  const baselines = { priorTraining: null, priorFolder: { accuracy: 0.1, nll: 3 }, copyCoarser: null };
  const scale = (scaleIndex: number, pn: number) => ({
    scaleIndex,
    pn,
    tokens: 2 * pn * pn,
    accuracy: p.accuracy,
    top5: 0.9,
    nll: 2,
    entropy: 2.5,
    ece: 0.05,
    reliability: [],
    psnr: 20,
    ssim: 0.5,
    used: 3,
    dead: 5,
    perplexity: 2.8,
    baselines,
  });
  const image = (file: string) => ({ file, classId: 0, accuracy: p.accuracy, nll: 2, psnr: 20, ssim: 0.5, rarity: 1.5 });
  const evaluation = {
    format: 'varscope-evaluation',
    version: 1,
    model: { id: `ckpt-${p.step}`, name: `checkpoint ${p.step}`, dir: `/models/ckpt-${p.step}`, step: p.step },
    folder: '/images',
    labels: { kind: 'none' },
    classMap: [],
    classMatch: null,
    images: 2,
    failed: [],
    cancelled: false,
    elapsedMs: 1234,
    method: { eceBins: 15, priorUniformMix: 0.01, ssim: 'gaussian 11', psnr: 'RGB' },
    scales: [scale(0, 1), scale(1, 2)],
    overall: { accuracy: p.accuracy, top5: 0.9, nll: 2, entropy: 2.5, ece: 0.05, reliability: [] },
    usage: { counts: [[1], [2]], used: 3, dead: 5, perplexity: 2.8 },
    perClass: [],
    perImage: [image('a.png'), image('b.png')],
  };
  return evaluation as unknown as DatasetEvaluation;
}

/**
 * An Infinity evaluation of a checkpoint at `step` (`bits` per token, scales 1×1 and 2×2, two images): bit accuracy
 * `bitAccuracy` at every scale, token accuracy half of it; the baselines the same whatever the checkpoint.
 */
export function bitsEvaluationOf(p: {
  step: number | null;
  bitAccuracy: number;
  bits?: number;
  grids?: Array<[number, number]>;
}): BitsDatasetEvaluation {
  const acc = (bitAccuracy: number) => ({ bitAccuracy, tokenAccuracy: bitAccuracy / 2 });
  const grids = p.grids ?? [
    [1, 1],
    [2, 2],
  ];
  return {
    format: 'varscope-evaluation',
    version: 1,
    family: 'infinity',
    model: { id: `inf-${p.step}`, name: `checkpoint ${p.step}`, dir: `/models/inf-${p.step}`, step: p.step },
    folder: '/images',
    labels: { kind: 'captions' },
    bits: p.bits ?? 16,
    images: 2,
    failed: [],
    cancelled: false,
    elapsedMs: 1000,
    method: { prediction: 'argmax', folderMean: 'pooled' },
    scales: grids.map(([h, w], k) => ({
      scaleIndex: k,
      grid: { h, w },
      tokens: 2 * h * w,
      ...acc(p.bitAccuracy),
      baselines: { majority: acc(0.6), copyCoarser: k ? acc(0.5) : null },
    })),
    overall: acc(p.bitAccuracy),
    perImage: [],
  };
}
