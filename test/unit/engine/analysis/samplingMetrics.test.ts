/** The sampling grid's per-scale metrics on a hand-made set of samples, each value computed by hand. */
import * as assert from 'assert';
import {
  disagreement,
  distinctCodes,
  meanPairwiseDisagreement,
  samplingScaleMetrics,
  type SampleTokens,
} from '../../../../src/engine/analysis/samplingMetrics';

/** A sample with two scales: 1 token, then 4 tokens; entropies given per scale. */
function sample(classId: number, s0: number, s1: number[], h0 = 1, h1 = [1, 1, 1, 1]): SampleTokens {
  return { classId, tokens: [Int32Array.of(s0), Int32Array.from(s1)], entropy: [Float32Array.of(h0), Float32Array.from(h1)] };
}

describe('sampling grid metrics', () => {
  it('distinct codes, disagreement and the mean over pairs', () => {
    assert.strictEqual(distinctCodes([Int32Array.of(1, 2, 2), Int32Array.of(2, 3)]), 3);
    assert.strictEqual(disagreement(Int32Array.of(1, 2, 3, 4), Int32Array.of(1, 0, 3, 0)), 0.5);
    // pairs: (a,b) 1/4, (a,c) 4/4, (b,c) 3/4 → mean 8/12
    const a = Int32Array.of(1, 2, 3, 4);
    const b = Int32Array.of(1, 2, 3, 5);
    const c = Int32Array.of(9, 9, 9, 5);
    assert.strictEqual(meanPairwiseDisagreement([a, b, c]), 8 / 12);
    assert.strictEqual(meanPairwiseDisagreement([a]), null);
  });

  it('per scale: entropy, distinct codes, diversity within a class, agreement with the first setting', () => {
    // First setting: class 0 (two samples), class 5 (two samples).
    const first = [
      sample(0, 7, [1, 2, 3, 4], 2, [1, 1, 1, 1]),
      sample(0, 7, [1, 2, 3, 5], 2, [1, 1, 1, 1]),
      sample(5, 8, [6, 6, 6, 6], 2, [1, 1, 1, 1]),
      sample(5, 9, [6, 6, 7, 7], 2, [1, 1, 1, 1]),
    ];
    const [f0, f1] = samplingScaleMetrics(first, first);
    assert.deepStrictEqual(f0, { meanEntropy: 2, distinctCodes: 3, diversity: (0 + 1) / 2, agreement: 1 });
    // scale 1: codes {1,2,3,4,5,6,7} = 7; class 0 disagrees at 1 of 4, class 5 at 2 of 4 → (0.25 + 0.5) / 2
    assert.deepStrictEqual(f1, { meanEntropy: 1, distinctCodes: 7, diversity: 0.375, agreement: 1 });

    // A second setting with the same classes and seeds, in the same order.
    const second = [
      sample(0, 7, [1, 2, 0, 0], 3, [0.5, 0.5, 0.5, 0.5]), // scale 1: 2 of 4 equal to the first's
      sample(0, 8, [1, 2, 3, 5], 3, [0.5, 0.5, 0.5, 0.5]), // scale 0 differs; scale 1: 4 of 4
      sample(5, 8, [0, 0, 0, 0], 1, [2, 2, 2, 2]), // scale 1: 0 of 4
      sample(5, 9, [6, 6, 7, 0], 1, [2, 2, 2, 2]), // scale 1: 3 of 4
    ];
    const [s0, s1] = samplingScaleMetrics(second, first);
    // entropy (3 + 3 + 1 + 1) / 4; codes {7, 8, 9}; class 0: 7 vs 8 differ, class 5: 8 vs 9 differ; 3 of 4 agree
    assert.deepStrictEqual(s0, { meanEntropy: 2, distinctCodes: 3, diversity: 1, agreement: 3 / 4 });
    // entropy (8 × 0.5 + 8 × 2) / 16 = 1.25; codes {0,1,2,3,5,6,7} = 7;
    // class 0: [1,2,0,0] vs [1,2,3,5] 2/4, class 5: [0,0,0,0] vs [6,6,7,0] 3/4 → 0.625; agreement (2+4+0+3)/16
    assert.deepStrictEqual(s1, { meanEntropy: 1.25, distinctCodes: 7, diversity: 0.625, agreement: 9 / 16 });
  });

  it('one sample per class has no diversity; a mismatched first setting is refused', () => {
    const one = [sample(0, 1, [1, 1, 1, 1]), sample(3, 2, [2, 2, 2, 2])];
    assert.strictEqual(samplingScaleMetrics(one, one)[1].diversity, null);
    assert.throws(() => samplingScaleMetrics(one, one.slice(1)), /2 samples against 1/);
  });
});
