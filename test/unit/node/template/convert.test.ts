/**
 * Checkpoint dtypes to stored dtypes: float32 -> float16 equals numpy's astype (round half to even, subnormals,
 * overflow, NaN) on every tie case and on random bit patterns; float16 and bfloat16 widen exactly; strided views.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { floatBitsToHalf, gatherView, halfToFloat, toFloat16Bits, toFloat32, toIntegers } from '../../../../src/node/template/convert';

const PYTHON = '/usr/bin/python3'; // PyTorch 1.13 and numpy, as the other tests that run Python

const bitsOf = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0];

describe('template dtype conversion', () => {
  it('float32 -> float16 rounds half to even at ties, in subnormals and at the overflow edge', () => {
    const cases: Array<[number, number]> = [
      [1, 0x3c00],
      [1 + 2 ** -11, 0x3c00], // a tie: to the even 1.0
      [1 + 3 * 2 ** -11, 0x3c02], // a tie: to the even 1 + 2^-9
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // above the tie
      [65504, 0x7bff],
      [65519, 0x7bff],
      [65520, 0x7c00], // rounds up to infinity
      [-Infinity, 0xfc00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // a tie with 0: to even 0
      [3 * 2 ** -25, 0x0002], // a tie between 1 and 2 subnormal units: to even 2
      [2 ** -25 * (1 + 2 ** -20), 0x0001],
      [2 ** -14 - 2 ** -25, 0x0400], // the largest value below the normal range rounds up into it
      [-0, 0x8000],
    ];
    for (const [v, h] of cases) assert.strictEqual(floatBitsToHalf(bitsOf(v)), h, `${v}`);
    assert.ok(Number.isNaN(halfToFloat(floatBitsToHalf(bitsOf(NaN)))));
  });

  it("float32 -> float16 equals numpy's astype on 200000 random bit patterns", () => {
    const n = 200000;
    const bits = new Uint32Array(n);
    let s = 12345;
    for (let i = 0; i < n; i++) bits[i] = s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-half-'));
    try {
      fs.writeFileSync(path.join(dir, 'in.bin'), new Uint8Array(bits.buffer));
      const script = 'import numpy as np,sys; np.seterr(all="ignore"); np.fromfile(sys.argv[1], "<f4").astype("<f2").tofile(sys.argv[2])';
      execFileSync(PYTHON, ['-c', script, path.join(dir, 'in.bin'), path.join(dir, 'out.bin')]);
      const want = new Uint16Array(new Uint8Array(fs.readFileSync(path.join(dir, 'out.bin'))).buffer);
      const got = toFloat16Bits(new Float32Array(bits.buffer));
      const wrong = got.findIndex((h, i) => h !== want[i]);
      assert.strictEqual(wrong, -1, wrong < 0 ? '' : `bits 0x${bits[wrong].toString(16)}: ${got[wrong]} vs numpy ${want[wrong]}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('float16, bfloat16 and float64 give float32; integers keep their values; an unaligned buffer reads the same', () => {
    const half = Buffer.from(Uint16Array.of(0x3c00, 0xc000, 0x0001, 0x7bff).buffer);
    assert.deepStrictEqual(Array.from(toFloat32(half, 'float16', 4)), [1, -2, 2 ** -24, 65504]);
    const bf = Buffer.from(Uint16Array.of(0x3f80, 0xc040, 0x7f80).buffer);
    assert.deepStrictEqual(Array.from(toFloat32(bf, 'bfloat16', 3)), [1, -3, Infinity]);
    assert.deepStrictEqual(Array.from(toFloat32(Buffer.from(Float64Array.of(0.1, 1 + 2 ** -30).buffer), 'float64', 2)), [
      Math.fround(0.1),
      1,
    ]);
    const unaligned = Buffer.alloc(13).subarray(1);
    Buffer.from(Float32Array.of(1.5, -2, 3).buffer).copy(unaligned);
    assert.deepStrictEqual(Array.from(toFloat32(unaligned, 'float32', 3)), [1.5, -2, 3]);
    assert.deepStrictEqual(Array.from(toIntegers(Buffer.from(Int32Array.of(-7, 9).buffer), 'int32', 2)), [-7n, 9n]);
  });

  it('a strided view picks a transpose', () => {
    const m = Float32Array.of(1, 2, 3, 4, 5, 6); // [2, 3]
    assert.deepStrictEqual(Array.from(gatherView(m, [3, 2], [1, 3], 0)), [1, 4, 2, 5, 3, 6]);
    assert.deepStrictEqual(Array.from(gatherView(m, [2], [1], 4)), [5, 6]);
  });
});
