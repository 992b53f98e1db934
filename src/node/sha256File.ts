/** sha256 of a file, streamed in 1 MB pieces; `signal` cancels (Cancelled). */
import { createHash } from 'crypto';
import * as fs from 'fs';
import { VarScopeError } from '../shared/errors';

export function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  return new Promise<string>((resolve, reject) => {
    const s = fs.createReadStream(file, { highWaterMark: 1 << 20 });
    const abort = () => s.destroy(new VarScopeError('Cancelled', 'cancelled'));
    signal?.addEventListener('abort', abort, { once: true });
    s.on('data', (c) => hash.update(c));
    s.on('error', (e) => {
      signal?.removeEventListener('abort', abort);
      reject(e instanceof VarScopeError ? e : new VarScopeError('ModelLoad', `cannot read ${file}: ${e.message}`));
    });
    s.on('end', () => {
      signal?.removeEventListener('abort', abort);
      resolve(hash.digest('hex'));
    });
  });
}
