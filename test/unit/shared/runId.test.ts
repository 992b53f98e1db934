/** Run ids: the prefix says what runs, and ids made in the same millisecond still differ. */
import * as assert from 'assert';
import { newRunId } from '../../../src/shared/runId';

describe('shared/runId', () => {
  it('starts with its prefix (run by default) and differs each time', () => {
    assert.match(newRunId('evaluate'), /^evaluate-[0-9a-z]+-[0-9a-z]+$/);
    assert.match(newRunId(), /^run-/);
    const ids = new Set(Array.from({ length: 1000 }, () => newRunId('gen')));
    assert.ok(ids.size >= 999, `${ids.size} distinct of 1000`);
  });
});
