/**
 * A training run's timeline of either family (src/shared/timeline.ts): an Infinity run's curves (bit and token
 * accuracy per scale, of the model and of each baseline) and its CSV, and the one-line refusals of checkpoints that
 * cannot share a timeline (another family, bit width or schedule).
 */
import * as assert from 'assert';
import { timelineCsv } from '../../../src/shared/evaluationCsv';
import { shapeOfEvaluation, timelineMismatch, timelineOf } from '../../../src/shared/timeline';
import { bitsEvaluationOf, evaluationOf } from './evaluationFixture';

describe('shared/timeline', () => {
  const late = bitsEvaluationOf({ step: 1200, bitAccuracy: 0.8 });
  const early = bitsEvaluationOf({ step: 500, bitAccuracy: 0.6 });

  it("an Infinity run: ordered by step, one curve per scale of the model's and of each baseline's accuracy", () => {
    const t = timelineOf([late, early]);
    assert.strictEqual(t.family, 'infinity');
    assert.deepStrictEqual(
      [t.axis, t.byStep, t.bits, t.scaleNames, t.points.map((p) => [p.step, p.label, p.model])],
      [
        'training step',
        true,
        16,
        ['1×1', '2×2'],
        [
          [500, 'step 500', '/models/inf-500'],
          [1200, 'step 1200', '/models/inf-1200'],
        ],
      ],
    );
    assert.deepStrictEqual(t.series('bitAccuracy'), [
      [0.6, 0.8],
      [0.6, 0.8],
    ]);
    assert.deepStrictEqual(t.series('tokenAccuracy'), [
      [0.3, 0.4],
      [0.3, 0.4],
    ]);
    assert.deepStrictEqual(t.series('bitAccuracy', 'majority'), [
      [0.6, 0.6],
      [0.6, 0.6],
    ]);
    assert.deepStrictEqual(t.series('tokenAccuracy', 'copyCoarser'), [
      [NaN, NaN],
      [0.25, 0.25],
    ]);
    assert.deepStrictEqual(t.overall('bitAccuracy'), [0.6, 0.8]);
  });

  it('an Infinity run as CSV: one row per checkpoint and scale, the copy baseline empty at the first scale', () => {
    assert.strictEqual(
      timelineCsv([late, early]),
      [
        'family,step,model,scale,grid,bit_accuracy,token_accuracy,majority_bit_accuracy,majority_token_accuracy,copy_coarser_bit_accuracy,copy_coarser_token_accuracy',
        'infinity,500,/models/inf-500,0,1×1,0.6,0.3,0.6,0.3,,',
        'infinity,500,/models/inf-500,1,2×2,0.6,0.3,0.6,0.3,0.5,0.25',
        'infinity,1200,/models/inf-1200,0,1×1,0.8,0.4,0.6,0.3,,',
        'infinity,1200,/models/inf-1200,1,2×2,0.8,0.4,0.6,0.3,0.5,0.25',
        '',
      ].join('\n'),
    );
  });

  it('checkpoints of another family, bit width or schedule are refused in one line naming both', () => {
    const shapes = (...es: Parameters<typeof shapeOfEvaluation>[0][]) => es.map(shapeOfEvaluation);
    assert.strictEqual(timelineMismatch(shapes(early, late)), undefined);
    assert.strictEqual(
      timelineMismatch(shapes(evaluationOf({ step: 1, accuracy: 0.1 }), evaluationOf({ step: 2, accuracy: 0.2 }))),
      undefined,
    );
    assert.strictEqual(
      timelineMismatch(shapes(early, evaluationOf({ step: 2, accuracy: 0.2 }))),
      "checkpoint 2 is a VAR checkpoint and checkpoint 500 an Infinity one: a timeline's checkpoints are of one family",
    );
    assert.strictEqual(
      timelineMismatch(shapes(early, bitsEvaluationOf({ step: 9, bitAccuracy: 0.5, bits: 32 }))),
      "checkpoint 9 has 32 bits per token and checkpoint 500 16: a timeline's checkpoints have one bit width",
    );
    assert.strictEqual(
      timelineMismatch(
        shapes(
          early,
          late,
          bitsEvaluationOf({
            step: 9,
            bitAccuracy: 0.5,
            grids: [
              [1, 1],
              [2, 3],
            ],
          }),
        ),
      ),
      "checkpoint 9 has the scales 1×1,2×3 and checkpoint 500 1×1,2×2: a timeline's checkpoints have one schedule",
    );
  });
});
