/**
 * The training position of an Infinity trainer checkpoint (src/node/trainingStep.ts globalIteration): the official
 * CKPTSaver's g_it from the file's epoch, iter and args.cur_it ("it/iters_train").
 */
import * as assert from 'assert';
import { globalIteration } from '../../../src/node/trainingStep';

describe('node/trainingStep globalIteration', () => {
  it('epoch × the iterations of an epoch (from cur_it) + iter; in epoch 0 the iter alone', () => {
    assert.strictEqual(globalIteration({ epoch: 1, iter: 200, args: { cur_it: '199/1000' } }), 1200);
    assert.strictEqual(globalIteration({ epoch: 3, iter: 50, args: { cur_it: ' 49 / 250 ' } }), 800);
    assert.strictEqual(globalIteration({ epoch: 0, iter: 500 }), 500);
  });

  it('undefined when the file has no position, or the epoch length is needed and unknown', () => {
    assert.strictEqual(globalIteration({}), undefined);
    assert.strictEqual(globalIteration({ epoch: 2 }), undefined);
    assert.strictEqual(globalIteration({ epoch: 2, iter: 5, args: { cur_it: '' } }), undefined); // train.py's default
    assert.strictEqual(globalIteration({ epoch: 2, iter: 5, args: { cur_it: '5/0' } }), undefined);
    assert.strictEqual(globalIteration({ epoch: 2, iter: 5, args: 'not a dict' }), undefined);
  });
});
