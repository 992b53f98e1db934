/** Sizes in decimal units, as the checkpoint cache reports what it freed. */
import * as assert from 'assert';
import { formatBytes } from '../../../src/extension/formatBytes';

describe('extension/formatBytes', () => {
  it('bytes, kB, MB, GB at powers of a thousand', () => {
    assert.strictEqual(formatBytes(0), '0 bytes');
    assert.strictEqual(formatBytes(999), '999 bytes');
    assert.strictEqual(formatBytes(1000), '1.0 kB');
    assert.strictEqual(formatBytes(12_345), '12.3 kB');
    assert.strictEqual(formatBytes(12_345_678), '12.3 MB');
    assert.strictEqual(formatBytes(1_234_567_890), '1.23 GB');
  });
});
