/**
 * Output paths are checked before the model runs: a path the CLI cannot write (a folder given as a file, a device,
 * /proc, a file given as a folder, an input given as an output) is refused with one line naming it and the problem.
 */
import * as fs from 'fs';
import * as path from 'path';
import { UsageError } from './args';
import { writeFileAtomic } from '../node/atomicWrite';

function refuse(flag: string, p: string, problem: string): never {
  throw new UsageError(`${flag} ${p}: ${problem}`, false);
}

/** stat, or undefined when nothing is there; any other failure (a file used as a folder, no permission) is refused. */
function statOf(flag: string, p: string, at: string): fs.Stats | undefined {
  try {
    return fs.statSync(at, { throwIfNoEntry: false });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    refuse(flag, p, code === 'ENOTDIR' ? 'part of the path is a file, not a folder' : `cannot look at ${at} (${code ?? String(e)})`);
  }
}

/** The nearest folder at or above `p` that exists (what must be writable for `p` to be created). */
function existingAncestor(flag: string, p: string): string {
  let dir = path.resolve(p);
  for (;;) {
    const st = statOf(flag, p, dir);
    if (st) {
      if (!st.isDirectory()) refuse(flag, p, `${dir} is a file, not a folder`);
      return dir;
    }
    const up = path.dirname(dir);
    if (up === dir) refuse(flag, p, 'no folder of it exists');
    dir = up;
  }
}

/** Create and remove an empty file in `dir`: the only check that answers for /proc, read-only mounts and ACLs. */
function probeWritable(flag: string, p: string, dir: string): void {
  const probe = path.join(dir, `.varscope-probe-${process.pid}-${Date.now()}`);
  try {
    fs.closeSync(fs.openSync(probe, 'wx'));
    fs.rmSync(probe, { force: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    refuse(flag, p, `cannot create files in ${dir} (${code})`);
  }
}

/** `file` can be written as a whole new file: not a folder, not a device or pipe, in a folder that accepts files. */
export function checkOutputFile(flag: string, file: string): void {
  const abs = path.resolve(file);
  const st = statOf(flag, file, abs);
  if (st?.isDirectory()) refuse(flag, file, 'is a folder; give a file name');
  if (st && !st.isFile())
    refuse(flag, file, 'is not a regular file (a device, pipe or socket); give a file name, or "-" for stdout where allowed');
  probeWritable(flag, file, existingAncestor(flag, path.dirname(realOrSelf(abs))));
}

/** `dir` is a folder, or can be created as one, and accepts new files. */
export function checkOutputDir(flag: string, dir: string): void {
  const st = statOf(flag, dir, path.resolve(dir));
  if (st && !st.isDirectory()) refuse(flag, dir, 'exists and is not a folder');
  probeWritable(flag, dir, existingAncestor(flag, dir));
}

function realOrSelf(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

/** No output is an input, and no two outputs are the same file: the later write would replace the earlier file. */
export function checkDistinct(outputs: Array<[flag: string, file: string]>, inputs: Array<[what: string, file: string]>): void {
  const seen = new Map<string, string>();
  for (const [what, file] of inputs) seen.set(realOrSelf(path.resolve(file)), what);
  for (const [flag, file] of outputs) {
    const key = realOrSelf(path.resolve(file));
    const other = seen.get(key);
    if (other) refuse(flag, file, `is also ${other}; it would be overwritten`);
    seen.set(key, flag);
  }
}

/** Write an output file of a command whole or not at all, creating its folder (the path was checked beforehand). */
export async function writeOutput(file: string, data: string | Uint8Array): Promise<void> {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  await writeFileAtomic(file, data);
}
