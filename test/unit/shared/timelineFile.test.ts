/** The timeline file type: the one format name, the evaluations as given. */
import * as assert from 'assert';
import { TIMELINE_FORMAT, timelineFile } from '../../../src/shared/timelineFile';
import { evaluationOf } from './evaluationFixture';

describe('shared/timelineFile', () => {
  it('wraps evaluations in the given order under the timeline format, version 1', () => {
    const [a, b] = [evaluationOf({ step: 900, accuracy: 0.5 }), evaluationOf({ step: 100, accuracy: 0.2 })];
    const file = timelineFile([a, b]);
    assert.deepStrictEqual(file, { format: 'varscope-timeline', version: 1, evaluations: [a, b] });
    assert.strictEqual(file.format, TIMELINE_FORMAT);
  });
});
