/**
 * packArrays: what the host posts to a webview keeps every value, and carries all its typed arrays in one buffer
 * (VS Code's webview channel in code-server lost the arrays of a message spread over many buffers).
 */
import * as assert from 'assert';
import { packArrays } from '../../../src/extension/packArrays';

describe('packArrays (host to webview messages)', () => {
  it('copies every typed array into one buffer, aligned, values and types intact', () => {
    const pool = new ArrayBuffer(64); // views into shared memory, as Node's IPC makes them
    const tokens = new Int32Array(pool, 4, 3);
    tokens.set([7, -1, 512]);
    const image = new Uint8ClampedArray(pool, 17, 5);
    image.set([0, 1, 2, 3, 255]);
    const msg = {
      id: 3,
      result: {
        first: { pn: 1, tokens, probs: new Float32Array([0.25, 0.75]) },
        second: { pn: 2, tokens: new Int32Array([1, 2, 3, 4]), big: new BigInt64Array([5n]) },
        image,
        bytes: Buffer.from([9, 8, 7]),
        name: 'x',
        none: null,
        list: [1, 'two'],
      },
    };
    const out = packArrays(msg);
    const views: ArrayBufferView[] = [
      out.result.first.tokens,
      out.result.first.probs,
      out.result.second.tokens,
      out.result.second.big,
      out.result.image,
      out.result.bytes,
    ];
    const buffer = views[0].buffer;
    for (const v of views) {
      assert.strictEqual(v.buffer, buffer, 'one buffer for the whole message');
      assert.strictEqual(v.byteOffset % 8, 0, 'aligned for any element type');
    }
    assert.notStrictEqual(buffer, pool);
    assert.ok(buffer.byteLength < pool.byteLength + 64);
    assert.ok(out.result.first.tokens instanceof Int32Array);
    assert.deepStrictEqual(Array.from(out.result.first.tokens), [7, -1, 512]);
    assert.deepStrictEqual(Array.from(out.result.first.probs), [0.25, 0.75]);
    assert.deepStrictEqual(Array.from(out.result.second.tokens), [1, 2, 3, 4]);
    assert.deepStrictEqual([...out.result.second.big], [5n]);
    assert.ok(out.result.image instanceof Uint8ClampedArray);
    assert.deepStrictEqual(Array.from(out.result.image), [0, 1, 2, 3, 255]);
    assert.strictEqual(Object.getPrototypeOf(out.result.bytes), Uint8Array.prototype, 'a Buffer becomes a Uint8Array');
    assert.deepStrictEqual(Array.from(out.result.bytes), [9, 8, 7]);
    assert.deepStrictEqual([out.id, out.result.name, out.result.none, out.result.list], [3, 'x', null, [1, 'two']]);
    tokens[0] = 99; // a copy: the host's arrays stay its own
    assert.strictEqual(out.result.first.tokens[0], 7);
  });

  it('leaves a message without typed arrays as it is', () => {
    const msg = { id: 1, result: { a: [1, 2], b: 'c' } };
    assert.strictEqual(packArrays(msg), msg);
  });
});
