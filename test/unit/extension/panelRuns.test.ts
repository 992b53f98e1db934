/** Which panel owns each run: events go to the owner, a run does not outlive its engine process, closing a panel ends its runs. */
import * as assert from 'assert';
import { PanelRuns } from '../../../src/extension/panelRuns';

describe('extension/panelRuns', () => {
  it('finds the panel that started a run, until it is forgotten', () => {
    const runs = new PanelRuns<string>();
    runs.started('gen-1', 'panel A', 0);
    runs.started('gen-2', 'panel B', 0);
    assert.strictEqual(runs.ownerOf('gen-1'), 'panel A');
    assert.strictEqual(runs.ownerOf('gen-2'), 'panel B');
    assert.strictEqual(runs.ownerOf('gen-3'), undefined);
    runs.forget('gen-1');
    assert.strictEqual(runs.ownerOf('gen-1'), undefined);
  });

  it('a run outlives nothing in its own process; after a restart it is gone; unknown runs are not judged', () => {
    const runs = new PanelRuns<string>();
    runs.started('gen-1', 'panel A', 2);
    assert.strictEqual(runs.outlived('gen-1', 2), false);
    assert.strictEqual(runs.outlived('gen-1', 3), true);
    assert.strictEqual(runs.outlived('never-started', 3), false);
  });

  it('closing a panel forgets its runs only, and returns them to cancel', () => {
    const runs = new PanelRuns<object>();
    const [a, b] = [{}, {}];
    runs.started('gen-1', a, 0);
    runs.started('gen-2', b, 0);
    runs.started('gen-3', a, 1);
    assert.deepStrictEqual(runs.closed(a), ['gen-1', 'gen-3']);
    assert.strictEqual(runs.ownerOf('gen-3'), undefined);
    assert.strictEqual(runs.ownerOf('gen-2'), b);
    assert.deepStrictEqual(runs.closed(a), []);
  });
});
