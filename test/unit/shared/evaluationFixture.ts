/**
 * A small evaluation (two scales, two images) for tests that read and write evaluations without running a model.
 * Built loosely and cast: these tests are about files, and the metric fields change more often than the file format.
 */
import type { DatasetEvaluation } from '../../../src/shared/evaluation';

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
