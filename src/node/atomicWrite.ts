/**
 * Whole-or-absent file writes: every file VARScope writes goes to a temporary file beside its target, is fsynced,
 * then renamed over the target. A full disk, a write error or a kill mid-write leaves the previous file as it was.
 */
import * as fs from 'fs';
import * as path from 'path';
import { VarScopeError } from '../shared/errors';

/** Temporary files being written right now; a signal handler removes them (removePendingTemps) before exiting. */
const pending = new Set<string>();

/** What can be written: text (UTF-8) or bytes. */
export type FileData = string | Uint8Array;

/** The file a write to `file` really replaces: a symlink's target, so the link itself stays a link. */
function realTarget(file: string): string {
  const abs = path.resolve(file);
  try {
    return fs.realpathSync(abs);
  } catch {
    return abs; // does not exist yet
  }
}

function tempBeside(target: string): string {
  const rand = Math.floor(Math.random() * 0x100000000)
    .toString(16)
    .padStart(8, '0');
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${rand}.tmp`);
}

/** The mode the new file gets: the old file's, else the usual 0o666 less the umask (applied by open). */
function modeOf(target: string): number | undefined {
  try {
    return fs.statSync(target).mode & 0o7777;
  } catch {
    return undefined;
  }
}

function syncDir(dir: string): void {
  // Makes the rename itself durable; some platforms (Windows) cannot open a folder, which is fine.
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // best effort
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function writeError(target: string, e: unknown): VarScopeError {
  const err = e as NodeJS.ErrnoException;
  const why =
    err.code === 'ENOSPC'
      ? 'no space left on the device'
      : err.code === 'EFBIG'
        ? 'file too large for this file system or limit'
        : (err.code ?? err.message);
  return new VarScopeError('Internal', `cannot write ${target}: ${why}; the previous file (if any) is unchanged`, err.stack);
}

/** Write `data` to `file` whole or not at all (temp file beside it, fsync, rename); the folder must exist. */
export function writeFileAtomicSync(file: string, data: FileData): void {
  const target = realTarget(file);
  const tmp = tempBeside(target);
  const mode = modeOf(target);
  pending.add(tmp);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', mode ?? 0o666);
    if (mode !== undefined) fs.fchmodSync(fd, mode); // open's mode is masked by the umask; keep the old file's
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    for (let off = 0; off < bytes.byteLength;) off += fs.writeSync(fd, bytes, off, bytes.byteLength - off);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, target);
    pending.delete(tmp);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    pending.delete(tmp);
    throw writeError(target, e);
  }
  syncDir(path.dirname(target));
}

/** Write `data` to `file` whole or not at all (temp file beside it, fsync, rename); the folder must exist. */
export async function writeFileAtomic(file: string, data: FileData): Promise<void> {
  const target = realTarget(file);
  const tmp = tempBeside(target);
  const mode = modeOf(target);
  pending.add(tmp);
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(tmp, 'wx', mode ?? 0o666);
    if (mode !== undefined) await fh.chmod(mode);
    await fh.writeFile(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fs.promises.rename(tmp, target);
    pending.delete(tmp);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await fs.promises.rm(tmp, { force: true });
    pending.delete(tmp);
    throw writeError(target, e);
  }
  syncDir(path.dirname(target));
}

/** Remove the temporary files of writes still in progress (called on SIGINT / SIGTERM before exiting). */
export function removePendingTemps(): void {
  for (const tmp of pending) fs.rmSync(tmp, { force: true });
  pending.clear();
}
