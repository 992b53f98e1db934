/**
 * Follows the checkpoint files of a training run's folder while the run goes on. The official VAR trainer rewrites
 * `ar-ckpt-last.pth` in place every epoch (torch.save truncates the file, then writes it) and copies it to
 * `ar-ckpt-best.pth`; other trainers write new `.pth` or `.safetensors` files. A version of a file is reported once it
 * is whole: its size, mtime and inode stayed the same for `settleMs` (over two looks, or since its mtime), and its
 * format's end record is valid (`isComplete`). A file still being written, or left half-written by a trainer killed while saving,
 * is waited for, never reported as broken. Model bundles (sub-folders holding varscope.json) count too: a bundle's
 * version is its manifest's, and it is whole once the manifest has stayed unchanged and parses.
 */
import * as fs from 'fs';
import * as path from 'path';
import { bundleCheckpoint } from './checkpointList';

/** What identifies one version of a file on disk. */
export interface FileStamp {
  size: number;
  mtimeMs: number;
  ino: number;
}

/** One whole version of a checkpoint file (`file`) or of a bundle folder (`file` is the folder). */
export interface CheckpointVersion {
  kind: 'file' | 'bundle';
  file: string;
  stamp: FileStamp;
}

const MANIFEST = 'varscope.json';

/** The files a run's folder may hold checkpoints in (not `.bin`: too many other things are). */
export const RUN_CHECKPOINT = /\.(pth|pt|ckpt|safetensors)$/i;

export interface RunFollowerOptions {
  /** How long a file must stay unchanged before it is read (ms). */
  settleMs: number;
  /** Whether the file's bytes form a whole checkpoint (the zip's end record, the safetensors header and size). */
  isComplete: (file: string) => Promise<boolean>;
}

/** Polled by its owner: each `poll()` returns the versions that became whole since the last one. */
export class RunFollower {
  /** Per file: the stamp seen at the last look and when it was first seen. */
  private readonly looks = new Map<string, { stamp: FileStamp; since: number }>();
  /** Per file: the stamp of the version last reported. */
  private readonly reported = new Map<string, FileStamp>();

  constructor(
    readonly dir: string,
    private readonly options: RunFollowerOptions,
  ) {}

  /** The versions that are whole now and were not reported yet, in name order. */
  async poll(now = Date.now()): Promise<CheckpointVersion[]> {
    const found: CheckpointVersion[] = [];
    for (const { kind, file } of this.entries()) {
      const stamp = stampOf(kind === 'bundle' ? path.join(file, MANIFEST) : file);
      if (!stamp) {
        this.looks.delete(file);
        continue;
      }
      const last = this.reported.get(file);
      if (last && sameStamp(last, stamp)) continue;
      // Unchanged for settleMs: over two looks, or (a file already there) since its mtime.
      let look = this.looks.get(file);
      if (!look || !sameStamp(look.stamp, stamp)) this.looks.set(file, (look = { stamp, since: Math.min(now, stamp.mtimeMs) }));
      if (now - look.since < this.options.settleMs) continue;
      const whole = kind === 'bundle' ? manifestParses(file) : await this.options.isComplete(file);
      if (!whole) continue; // half-written: looked at again next time
      const after = stampOf(kind === 'bundle' ? path.join(file, MANIFEST) : file);
      if (!after || !sameStamp(after, stamp)) continue; // changed while checked
      this.reported.set(file, stamp);
      found.push({ kind, file, stamp });
    }
    return found;
  }

  /** Looks at `version` again at the next polls (its read found it changed or cut short meanwhile). */
  retry(version: CheckpointVersion): void {
    const last = this.reported.get(version.file);
    if (last && sameStamp(last, version.stamp)) this.reported.delete(version.file);
    this.looks.delete(version.file);
  }

  /** Checkpoint files and bundle folders, in name order. */
  private entries(): Array<{ kind: CheckpointVersion['kind']; file: string }> {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(this.dir, { withFileTypes: true });
    } catch {
      return []; // the folder is gone for now (a run restarted): nothing to report
    }
    const out: Array<{ kind: CheckpointVersion['kind']; file: string }> = [];
    for (const e of [...names].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const file = path.join(this.dir, e.name);
      if (e.isFile() && RUN_CHECKPOINT.test(e.name)) out.push({ kind: 'file', file });
      else if ((e.isDirectory() || e.isSymbolicLink()) && fs.existsSync(path.join(file, MANIFEST))) out.push({ kind: 'bundle', file });
    }
    return out;
  }
}

/** Whether a bundle's manifest is readable (one being copied in may not be yet). */
function manifestParses(dir: string): boolean {
  try {
    bundleCheckpoint(dir);
    return true;
  } catch {
    return false;
  }
}

/** The stamp of a regular file, or undefined when it is not one (gone, a folder). */
export function stampOf(file: string): FileStamp | undefined {
  try {
    const st = fs.statSync(file);
    return st.isFile() ? { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino } : undefined;
  } catch {
    return undefined;
  }
}

export function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;
}
