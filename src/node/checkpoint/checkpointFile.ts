/**
 * A checkpoint file open for reading at offsets: every read is bounds-checked against the size the file had when it
 * was opened, and a file that was rewritten, truncated or replaced since (torch.save writes in place) is refused in
 * one line instead of being read as a mix of two versions.
 */
import * as fs from 'fs';
import { VarScopeError } from '../../shared/errors';

/** Largest single read handed to the OS (fs.read takes at most 2 GB at a time). */
const MAX_READ = 1 << 30;

/** A one-line refusal of a checkpoint file: `file: message`, code ModelLoad. */
export function checkpointError(file: string, message: string): VarScopeError {
  return new VarScopeError('ModelLoad', `${file}: ${message}`);
}

/** A file that changed while it was read (torch.save rewriting it, say): worth reading again once it is still. */
export class FileChangedError extends VarScopeError {
  constructor(file: string, why: string) {
    super('ModelLoad', `${file}: the file changed while it was read (${why}); read it again once it is written`);
  }
}

/** What identifies one version of a file: device and inode (replaced?), size and modification time (rewritten?). */
interface Version {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
}

/** A regular file read at offsets, with the version it had when opened. */
export class CheckpointFile {
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly handle: fs.promises.FileHandle,
    private readonly opened: Version,
  ) {}

  /** The file's size when it was opened. */
  get size(): number {
    return Number(this.opened.size);
  }

  /** Opens `file` (a regular file only). */
  static async open(file: string): Promise<CheckpointFile> {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new VarScopeError(code === 'ENOENT' ? 'ModelNotFound' : 'ModelLoad', `${file}: cannot read (${code ?? String(e)})`);
    }
    const st = await handle.stat({ bigint: true });
    if (!st.isFile()) {
      await handle.close();
      throw checkpointError(file, 'not a regular file');
    }
    return new CheckpointFile(file, handle, { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs });
  }

  /** `length` bytes at `offset`; `what` names them in a refusal. */
  async read(offset: number, length: number, what: string): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    await this.readInto(buf, 0, length, offset, what);
    return buf;
  }

  /** Reads `length` bytes at file `offset` into `buf` at `at`, whole or refused. */
  async readInto(buf: Buffer, at: number, length: number, offset: number, what: string): Promise<void> {
    if (this.closed) throw new VarScopeError('Internal', `${this.file}: ${what} read after the checkpoint was closed`);
    if (offset + length > this.size) {
      throw checkpointError(
        this.file,
        `truncated or damaged: ${what} (bytes ${offset}..${offset + length}) ends past the end of the ${this.size}-byte file`,
      );
    }
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buf, at + done, Math.min(length - done, MAX_READ), offset + done);
      if (bytesRead === 0) {
        await this.checkUnchanged();
        throw checkpointError(this.file, `truncated: ${what} ends at byte ${offset + length}, but the file ends at byte ${offset + done}`);
      }
      done += bytesRead;
    }
  }

  /** Refuses the file if it is no longer the version that was opened (rewritten, truncated or replaced). */
  async checkUnchanged(): Promise<void> {
    const now = await this.handle.stat({ bigint: true });
    let onDisk: fs.BigIntStats | undefined;
    try {
      onDisk = await fs.promises.stat(this.file, { bigint: true });
    } catch {
      onDisk = undefined; // deleted or renamed away: replaced
    }
    const o = this.opened;
    const changed: string[] = [];
    if (now.size !== o.size) changed.push(`its size went from ${o.size} to ${now.size} bytes`);
    else if (now.mtimeNs !== o.mtimeNs) changed.push('it was written to');
    if (!onDisk || onDisk.ino !== o.ino || onDisk.dev !== o.dev) changed.push('another file took its place');
    if (changed.length) {
      throw new FileChangedError(this.file, changed.join(', '));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}
