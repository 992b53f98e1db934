/**
 * Caption features from a file: .npy [N, width] or [1, N, width] float32, .safetensors with one tensor (float16
 * widened), and one line for anything else.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { featuresBesideImage, readTextFeatures } from '../../../src/node/textFeatures';
import { VarScopeError } from '../../../src/shared/errors';
import { writeNpyFloat32 } from '../npy';

describe('readTextFeatures', () => {
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-text-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('reads .npy [1, N, width] as N tokens', async () => {
    const file = path.join(tmp, 'a.npy');
    const values = Float32Array.from({ length: 12 }, (_, i) => i / 4);
    writeNpyFloat32(file, [1, 3, 4], values);
    const t = await readTextFeatures(file, 4);
    assert.deepStrictEqual([t.tokens, t.width], [3, 4]);
    assert.deepStrictEqual(t.features, values);
  });

  it('reads a .safetensors file of one float16 tensor [N, width]', async () => {
    const file = path.join(tmp, 'a.safetensors');
    const half = Uint16Array.from([0x3c00, 0x4000, 0xbc00, 0x3800]); // 1, 2, -1, 0.5
    const header = Buffer.from(JSON.stringify({ caption: { dtype: 'F16', shape: [2, 2], data_offsets: [0, 8] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    fs.writeFileSync(file, Buffer.concat([len, header, Buffer.from(half.buffer)]));
    const t = await readTextFeatures(file, 2);
    assert.deepStrictEqual(Array.from(t.features), [1, 2, -1, 0.5]);
    assert.strictEqual(t.tokens, 2);
  });

  it('refuses a wrong width, a non-finite value and an unknown extension in one line', async () => {
    const file = path.join(tmp, 'b.npy');
    writeNpyFloat32(file, [2, 3], Float32Array.from([0, 1, 2, 3, NaN, 5]));
    const refusal = async (f: string, width: number) => {
      try {
        await readTextFeatures(f, width);
      } catch (e) {
        assert.ok(e instanceof VarScopeError);
        return e.message;
      }
      throw new Error('not refused');
    };
    assert.strictEqual(await refusal(file, 4), `${file}: shape [2,3] (text features: [N, 4] float32, .npy or .safetensors)`);
    assert.strictEqual(
      await refusal(file, 3),
      `${file}: a non-finite value at element 4 (text features: [N, 3] float32, .npy or .safetensors)`,
    );
    const txt = path.join(tmp, 'c.txt');
    fs.writeFileSync(txt, 'a caption');
    assert.strictEqual(await refusal(txt, 3), `${txt}: unknown extension .txt (text features: [N, 3] float32, .npy or .safetensors)`);
    // a .safetensors larger than any caption is refused before its tensor is read (a sparse file: 256 MiB and 4 KiB of floats)
    const big = path.join(tmp, 'big.safetensors');
    const header = Buffer.from(
      JSON.stringify({ caption: { dtype: 'F32', shape: [2 ** 16 + 1, 2 ** 10], data_offsets: [0, 2 ** 28 + 4096] } }),
    );
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    fs.writeFileSync(big, Buffer.concat([len, header]));
    fs.truncateSync(big, 8 + header.length + 2 ** 28 + 4096);
    assert.match(await refusal(big, 1024), /: 268439552 bytes of features, more than 268435456 \(text features/);
  });
});

describe('featuresBesideImage', () => {
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-beside-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('finds cat.npy, else cat.safetensors, beside cat.png; nothing else counts', () => {
    const image = path.join(tmp, 'cat.png');
    fs.writeFileSync(image, '');
    assert.strictEqual(featuresBesideImage(image), null);
    fs.mkdirSync(path.join(tmp, 'cat.npy')); // a folder of that name is no features file
    fs.writeFileSync(path.join(tmp, 'cat.png.npy'), '');
    fs.writeFileSync(path.join(tmp, 'dog.npy'), '');
    assert.strictEqual(featuresBesideImage(image), null);
    fs.writeFileSync(path.join(tmp, 'cat.safetensors'), '');
    assert.strictEqual(featuresBesideImage(image), path.join(tmp, 'cat.safetensors'));
    fs.rmdirSync(path.join(tmp, 'cat.npy'));
    fs.writeFileSync(path.join(tmp, 'cat.npy'), '');
    assert.strictEqual(featuresBesideImage(image), path.join(tmp, 'cat.npy'));
  });
});
