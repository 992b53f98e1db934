/**
 * The current model's status through each change, in plain Node: no bundle, a manifest read, opened, failing to
 * open, a node placement for this model or another, and why a request cannot use it.
 */
import * as assert from 'assert';
import * as path from 'path';
import { VarScopeError } from '../../../src/shared/errors';
import type { ModelInfo } from '../../../src/shared/results';
import * as model from '../../../src/extension/modelStatus';

const DIR = path.resolve('/models/emoji');
const SUMMARY = { id: 'emoji', name: 'Emoji', dir: DIR };
const INFO = { family: 'var', name: 'Emoji', provider: 'cpu', providerFallbacks: [] } as unknown as ModelInfo;

/** The VarScopeError `fn` throws. */
function thrown(fn: () => unknown): VarScopeError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof VarScopeError, String(e));
    return e;
  }
  assert.fail('nothing thrown');
}

describe('extension/modelStatus', () => {
  it('no bundle: nothing to open, ModelNotFound for requests', () => {
    const s = model.noModel('no model bundle found');
    assert.deepStrictEqual(s, { dir: null, summary: null, info: null, error: { code: 'ModelNotFound', message: 'no model bundle found' } });
    assert.strictEqual(model.needsOpening(s), false);
    assert.strictEqual(thrown(() => model.openedDir(s)).code, 'ModelNotFound');
    assert.strictEqual(model.noModel().error?.message, 'no model');
  });

  it('a manifest read: to be opened, and says so until it is', () => {
    const s = model.notOpened(DIR, SUMMARY);
    assert.strictEqual(model.needsOpening(s), true);
    const e = thrown(() => model.openedDir(s));
    assert.strictEqual(e.code, 'ModelLoad');
    assert.strictEqual(e.message, '"Emoji" is not opened yet');
  });

  it('opened: the folder for requests, no error, nothing more to open', () => {
    const s = model.opened(model.notOpened(DIR, SUMMARY), INFO);
    assert.strictEqual(s.error, undefined);
    assert.strictEqual(s.info, INFO);
    assert.strictEqual(s.summary, SUMMARY);
    assert.strictEqual(model.needsOpening(s), false);
    assert.strictEqual(model.openedDir(s), DIR);
  });

  it('failing to open keeps the manifest and the reason; it may be opened again', () => {
    const s = model.openFailed(model.notOpened(DIR, SUMMARY), new VarScopeError('ModelLoad', 'weights.bin is truncated'));
    assert.deepStrictEqual(s.error, { code: 'ModelLoad', message: 'weights.bin is truncated' });
    assert.strictEqual(s.summary, SUMMARY);
    assert.strictEqual(model.needsOpening(s), true);
    assert.strictEqual(thrown(() => model.openedDir(s)).message, 'weights.bin is truncated');
  });

  it('an unusable bundle keeps its folder and the reason, and is not opened', () => {
    const s = model.unusable(DIR, new VarScopeError('ModelNotFound', 'not trusted'));
    assert.deepStrictEqual(s, { dir: DIR, summary: null, info: null, error: { code: 'ModelNotFound', message: 'not trusted' } });
    assert.strictEqual(model.needsOpening(s), false);
    assert.strictEqual(thrown(() => model.openedDir(s)).message, 'not trusted');
  });

  it("takes in node placements of its own model's graphs only", () => {
    const s = model.opened(model.notOpened(DIR, SUMMARY), INFO);
    const placement = { cpu: { nodes: 3, ops: { Gather: 3 } } };
    const next = model.withPlacement(s, { model: DIR, role: 'encoder', provider: 'cpu', placement });
    assert.deepStrictEqual((next.info as ModelInfo).nodePlacement, { encoder: placement });
    const both = model.withPlacement(next, { model: DIR, role: 'decoder', provider: 'cpu', placement });
    assert.deepStrictEqual(Object.keys((both.info as ModelInfo).nodePlacement ?? {}), ['encoder', 'decoder']);
    assert.strictEqual((s.info as ModelInfo).nodePlacement, undefined, 'the earlier status is left as it was');
    const other = { model: path.resolve('/models/other'), role: 'encoder', provider: 'cpu', placement };
    assert.strictEqual(model.withPlacement(s, other), s);
    const unopened = model.notOpened(DIR, SUMMARY);
    assert.strictEqual(model.withPlacement(unopened, { ...other, model: DIR }), unopened);
  });
});
