/** Open Checkpoint's progress bar: where each exporter stage puts it, and increments that only move it forward. */
import * as assert from 'assert';
import { exportStagePercent, StageProgress } from '../../../src/extension/exportProgress';

describe('extension/exportProgress', () => {
  it('places the stages: load 15, config 25, graphs 25 to 75, verify 85, done 95', () => {
    const at = (stage: 'load' | 'config' | 'graph' | 'verify' | 'done', k?: number, n?: number) =>
      exportStagePercent({ stage, message: stage, k, n });
    assert.strictEqual(at('load'), 15);
    assert.strictEqual(at('config'), 25);
    assert.deepStrictEqual(
      [0, 1, 4, 7].map((k) => at('graph', k, 7)),
      [25, 32, 54, 75],
    );
    assert.strictEqual(at('graph'), 25);
    assert.strictEqual(at('verify'), 85);
    assert.strictEqual(at('done'), 95);
  });

  it('reports the step up to each new target, nothing without one or when it is not ahead', () => {
    const bar = new StageProgress();
    assert.strictEqual(bar.advance(), undefined);
    assert.strictEqual(bar.advance(3), 3);
    assert.strictEqual(bar.advance(5), 2);
    assert.strictEqual(bar.advance(5), undefined);
    assert.strictEqual(bar.advance(4), undefined);
    assert.strictEqual(bar.advance(), undefined);
    assert.strictEqual(bar.advance(100), 95);
  });
});
