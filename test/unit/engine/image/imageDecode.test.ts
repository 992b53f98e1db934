/**
 * Image decoding and the official preprocessing: every kind of bad or unusual file gets a typed error or the
 * right pixels; fixture PNGs give exactly the reference model input.
 */
import * as assert from 'assert';
import * as bmp from 'bmp-ts';
import * as zlib from 'zlib';
import sharp from 'sharp';
import { decodeImage } from '../../../../src/engine/image/imageDecode';
import { preprocess, preprocessToSize, pyRound } from '../../../../src/engine/image/preprocess';
import { VarScopeError } from '../../../../src/shared/errors';
import * as fs from 'fs';
import { fixture } from '../../fixtures';
import { npyFloats, readNpy } from '../../npy';
import { PNG_SIGNATURE, pngChunk, pngHeader } from '../../png';

const NORM = { mean: 0.5, std: 0.5, background: [255, 255, 255] as [number, number, number] };

async function rejectsBadImage(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof VarScopeError, `expected VarScopeError, got ${String(e)}`);
    assert.strictEqual(e.code, 'BadImage');
    assert.match(e.message, pattern);
    return true;
  });
}

/** A PNG whose header claims w×h but carries almost no data. */
function pngHeaderOnly(w: number, h: number): Buffer {
  return Buffer.concat([
    PNG_SIGNATURE,
    pngHeader(w, h, 2),
    pngChunk('IDAT', zlib.deflateSync(Buffer.alloc(10))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

function noise(w: number, h: number, channels: number, seed = 1): Buffer {
  const b = Buffer.alloc(w * h * channels);
  let s = seed;
  for (let i = 0; i < b.length; i++) b[i] = (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
  return b;
}

describe('image decoding', () => {
  it('0 bytes -> BadImage "empty"', () => rejectsBadImage(decodeImage(new Uint8Array(0), 1e8, 'x.png'), /empty/));

  it('not an image -> BadImage', () => rejectsBadImage(decodeImage(Buffer.from('hello, this is text'), 1e8, 'x.png'), /not an image/));

  it('truncated PNG -> BadImage', async () => {
    const png = await sharp(noise(64, 64, 3), { raw: { width: 64, height: 64, channels: 3 } })
      .png()
      .toBuffer();
    await rejectsBadImage(decodeImage(png.subarray(0, Math.floor(png.length / 2)), 1e8, 'cut.png'), /truncated|corrupt|decoded/);
  });

  it('truncated JPEG -> BadImage', async () => {
    const jpg = await sharp(noise(64, 64, 3), { raw: { width: 64, height: 64, channels: 3 } })
      .jpeg()
      .toBuffer();
    await rejectsBadImage(decodeImage(jpg.subarray(0, Math.floor(jpg.length / 2)), 1e8, 'cut.jpg'), /truncated|corrupt|decoded/);
  });

  it('a 30000x30000 header is refused before decoding (maxImagePixels)', () =>
    rejectsBadImage(decodeImage(pngHeaderOnly(30000, 30000), 100_000_000, 'bomb.png'), /30000x30000.*maxImagePixels/));

  it('a setting above the decoder ceiling does not raise it: 20000x20000 is refused from the header, naming the ceiling', () =>
    rejectsBadImage(
      decodeImage(pngHeaderOnly(20000, 20000), 1_000_000_000, 'bomb.png'),
      /bomb\.png is 20000x20000 = 400000000 pixels, more than 268402689, the most VARScope decodes/,
    ));

  it('16-bit PNG decodes to 8 bits', async () => {
    const px = noise(4, 4, 3, 5);
    const png = await sharp(px, { raw: { width: 4, height: 4, channels: 3 } })
      .toColourspace('rgb16')
      .png()
      .toBuffer();
    assert.strictEqual((await sharp(png).metadata()).depth, 'ushort');
    const d = await decodeImage(png, 1e8);
    for (let i = 0; i < 16; i++)
      for (let c = 0; c < 3; c++)
        assert.ok(Math.abs(d.data[i * 4 + c] - px[i * 3 + c]) <= 1, `pixel ${i}: ${d.data[i * 4 + c]} vs ${px[i * 3 + c]}`);
  });

  it('CMYK JPEG decodes to RGB', async () => {
    const jpg = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 30, b: 30 } } })
      .toColourspace('cmyk')
      .jpeg()
      .toBuffer();
    assert.strictEqual((await sharp(jpg).metadata()).space, 'cmyk');
    const d = await decodeImage(jpg, 1e8);
    assert.ok(d.data[0] > 150 && d.data[1] < 90 && d.data[2] < 90, `got ${d.data.subarray(0, 3).join(',')}`);
  });

  it('animated GIF -> its first frame', async () => {
    const red = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 255, g: 0, b: 0 } } })
      .png()
      .toBuffer();
    const blue = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 0, g: 0, b: 255 } } })
      .png()
      .toBuffer();
    const gif = await sharp([red, blue], { join: { animated: true } })
      .gif()
      .toBuffer();
    assert.strictEqual((await sharp(gif).metadata()).pages, 2);
    const d = await decodeImage(gif, 1e8);
    assert.deepStrictEqual([d.width, d.height, ...d.data.subarray(0, 3)], [8, 8, 255, 0, 0]);
  });

  it('EXIF orientation 6 is applied (40x20 stored -> 20x40 upright, top-left marker moves to top-right)', async () => {
    const px = Buffer.alloc(40 * 20 * 3);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) px[(y * 40 + x) * 3] = 255; // red marker at stored top-left
    const jpg = await sharp(px, { raw: { width: 40, height: 20, channels: 3 } })
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const d = await decodeImage(jpg, 1e8);
    assert.deepStrictEqual([d.width, d.height], [20, 40]);
    assert.ok(d.data[(1 * 20 + 18) * 4] > 200, 'marker at the top-right after a 90° clockwise turn');
    assert.ok(d.data[(1 * 20 + 1) * 4] < 60);
  });

  it('BMP (24-bit) decodes exactly and is opaque', async () => {
    const w = 5;
    const h = 3;
    const abgr = Buffer.alloc(w * h * 4);
    for (let i = 0; i < w * h; i++) abgr.set([0, (i * 7) & 255, (i * 13) & 255, (i * 29) & 255], i * 4); // A, B, G, R
    const file = bmp.encode({ data: abgr, width: w, height: h, bitPP: 24 }).data;
    const d = await decodeImage(file, 1e8, 'x.bmp');
    assert.strictEqual(d.format, 'bmp');
    assert.strictEqual(d.hadAlpha, false);
    for (let i = 0; i < w * h; i++)
      assert.deepStrictEqual([...d.data.subarray(i * 4, i * 4 + 4)], [(i * 29) & 255, (i * 13) & 255, (i * 7) & 255, 255]);
  });

  it('BMP header over the pixel limit and truncated BMP -> BadImage', async () => {
    const file = Buffer.from(bmp.encode({ data: Buffer.alloc(64 * 64 * 4), width: 64, height: 64, bitPP: 24 }).data);
    await rejectsBadImage(decodeImage(file, 1000, 'big.bmp'), /4096 pixels/);
    await rejectsBadImage(decodeImage(file.subarray(0, 200), 1e8, 'cut.bmp'), /truncated|corrupt/);
  });
});

describe('preprocessing', () => {
  for (const i of [0, 1, 2]) {
    it(`img${i}.png gives exactly the reference model input (img${i}_input.npy)`, async () => {
      const d = await decodeImage(fs.readFileSync(fixture(`img${i}.png`)), 1e8);
      const { tensor, prepared } = await preprocess(d, NORM, 256);
      assert.strictEqual(prepared.resized, false);
      assert.deepStrictEqual(prepared.crop, { x: 0, y: 0, size: 256 });
      const ref = npyFloats(readNpy(fixture(`img${i}_input.npy`)));
      let diff = 0;
      for (let j = 0; j < ref.length; j++) if (ref[j] !== tensor[j]) diff++;
      assert.strictEqual(diff, 0, `${diff} values differ`);
    });
  }

  it('non-square: short side resized, centre crop reported in source pixels', async () => {
    const png = await sharp(noise(300, 200, 3), { raw: { width: 300, height: 200, channels: 3 } })
      .png()
      .toBuffer();
    const { prepared, tensor } = await preprocess(await decodeImage(png, 1e8), NORM, 256);
    // short side 200 -> 256, long side int(256 * 300 / 200) = 384, left = round((384 - 256) / 2) = 64 -> 50 source px
    assert.deepStrictEqual(prepared.crop, { x: 50, y: 0, size: 200 });
    assert.strictEqual(prepared.resized, true);
    assert.strictEqual(tensor.length, 3 * 256 * 256);
    assert.ok(tensor.every((v) => v >= -1 && v <= 1));
  });

  it('Infinity (preprocessToSize): resized to cover H × W, the other side truncated, centre crop floored, alpha dropped', async () => {
    const px = Buffer.alloc(400 * 200 * 4);
    for (let i = 0; i < 400 * 200; i++) px.set([30, 60, 90, i % 400 < 200 ? 0 : 255], i * 4);
    const png = await sharp(px, { raw: { width: 400, height: 200, channels: 4 } })
      .png()
      .toBuffer();
    const { prepared, tensor } = await preprocessToSize(await decodeImage(png, 1e8), { mean: 0.5, std: 0.5 }, 240, 320);
    // w/h 2 > 320/240: height 240, width int(2 * 240) = 480, left (480 - 320) // 2 = 80 -> 80 / 1.2 source px
    assert.deepStrictEqual(prepared.crop, { x: 80 / 1.2, y: 0, width: 320 / 1.2, height: 200 });
    assert.deepStrictEqual([prepared.input.width, prepared.input.height, tensor.length], [320, 240, 3 * 240 * 320]);
    // PIL's convert('RGB') keeps the colour under a transparent pixel: the flat colour everywhere
    assert.deepStrictEqual([...prepared.input.data.subarray(0, 4)], [30, 60, 90, 255]);
    assert.strictEqual(tensor[0], Math.fround(Math.fround(Math.fround(30 / 255) - 0.5) / 0.5));
  });

  it('alpha is composited over the manifest background', async () => {
    const px = Buffer.alloc(256 * 256 * 4);
    for (let i = 0; i < 256 * 256; i++) px.set(i < 128 * 256 ? [0, 0, 0, 0] : [0, 0, 0, 128], i * 4);
    const png = await sharp(px, { raw: { width: 256, height: 256, channels: 4 } })
      .png()
      .toBuffer();
    const d = await decodeImage(png, 1e8);
    assert.strictEqual(d.hadAlpha, true);
    const { prepared } = await preprocess(d, { mean: 0.5, std: 0.5, background: [10, 200, 40] }, 256);
    const p = prepared.input.data;
    assert.deepStrictEqual([...p.subarray(0, 3)], [10, 200, 40]); // alpha 0 -> background
    const j = 200 * 256 * 4;
    assert.deepStrictEqual(
      [...p.subarray(j, j + 3)],
      [10, 200, 40].map((b) => Math.round((b * 127) / 255)),
    ); // alpha 128 over black
  });

  it('Python round() is half-to-even (torchvision CenterCrop offsets)', () => {
    assert.deepStrictEqual([0.5, 1.5, 2.5, 3.4, 3.6].map(pyRound), [0, 2, 2, 3, 4]);
  });
});
