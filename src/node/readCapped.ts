/**
 * Reading a user's file whole, safely: only regular files (a device such as /dev/zero, a FIFO or a folder would
 * never end or is not data) and only up to a size cap, checked before anything is read.
 */
import * as fs from 'fs';
import type { ErrorCode } from '../shared/errors';
import { VarScopeError } from '../shared/errors';

/** Largest image file read (encoded bytes); varscope.maxImagePixels then bounds the decoded size. */
export const MAX_IMAGE_BYTES = 256 * 2 ** 20;
/** Largest varscope.json read (the official 512 px model's is ~0.5 MB). */
export const MAX_MANIFEST_BYTES = 64 * 2 ** 20;
/** Largest ONNX graph protobuf read for its initializers (weights live in external data files). */
export const MAX_GRAPH_BYTES = 2 * 2 ** 30;

/** The bytes of a regular file of at most `maxBytes`; errors carry `code` and name the file and the problem. */
export async function readCapped(file: string, maxBytes: number, code: ErrorCode, what = 'file'): Promise<Buffer> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw new VarScopeError(code, `cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile())
      throw new VarScopeError(code, `${file} is not a regular file (${kind(st)}); VARScope reads ${what}s from regular files only`);
    if (st.size > maxBytes) throw new VarScopeError(code, `${file} is ${st.size} bytes, more than the ${maxBytes} bytes allowed (${what})`);
    const buf = Buffer.alloc(st.size);
    let at = 0;
    while (at < st.size) {
      const { bytesRead } = await handle.read(buf, at, st.size - at, at);
      if (bytesRead === 0) break; // the file shrank while being read: what is there is checked by the caller
      at += bytesRead;
    }
    return at === st.size ? buf : buf.subarray(0, at);
  } finally {
    await handle.close();
  }
}

function kind(st: fs.Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isFIFO()) return 'a pipe';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}
