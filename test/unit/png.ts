/**
 * PNG files written by hand for the image tests: chunks with their CRC, and the IHDR of a w×h 8-bit image.
 */
import * as zlib from 'zlib';

/** PNG's 8-byte signature. */
export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** One chunk: length, type, data, CRC of type and data. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

/** The IHDR chunk of a w×h image, 8 bits a sample; colourType 0 is grey, 2 is RGB. */
export function pngHeader(w: number, h: number, colourType: 0 | 2): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = colourType;
  return pngChunk('IHDR', ihdr);
}
