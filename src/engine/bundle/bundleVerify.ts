/**
 * Bundle files against the sha256 the exporter recorded in varscope.json (`files`). A flipped bit in weights.bin
 * otherwise changes every result silently. Hashing a large bundle takes seconds, so each verified hash is cached
 * by path and stamp (size, mtime, ctime, inode and device) in a small file of its own (written whole: temp file beside
 * it, fsync, rename): a second open of an unchanged bundle reads no file contents. ctime cannot be set back by
 * `touch -r` or utimes (only by root changing the clock), and a file replaced by another has another inode.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { BundleManifest } from '../../shared/manifest';
import { VarScopeError } from '../../shared/errors';
import { sha256File } from '../../node/sha256File';

/** How many files the cache remembers (the oldest are dropped first). */
const CACHE_ENTRIES = 2000;
/** Format of the cache file (2: entries stamped by size, mtime, ctime, inode and device). */
const CACHE_VERSION = 2;

interface CacheEntry {
  /** The file's stamp when it was hashed (see stamp). */
  stamp: string;
  sha256: string;
  /** When this entry was written (ms), for dropping the oldest. */
  at: number;
}

/** The cache file: $VARSCOPE_CACHE_DIR, else $XDG_CACHE_HOME/varscope, else ~/.cache/varscope; verified.json there. */
export function defaultCacheFile(): string {
  const dir = process.env.VARSCOPE_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'varscope');
  return path.join(dir, 'verified.json');
}

/** What a verification did: files hashed now, files whose hash came from the cache, other names of a file hashed now. */
export interface VerifyReport {
  hashed: string[];
  cached: string[];
  /** Paths naming a file (same device and inode) that an earlier path of `files` named: checked, not hashed again. */
  aliases: string[];
}

/**
 * Check every file of `manifest.files` (paths relative to `dir`) against its recorded size and sha256; throws
 * ModelLoad naming the first file that differs and how to re-export the bundle. `reexport` is that advice.
 */
export async function verifyBundleFiles(
  dir: string,
  manifest: Pick<BundleManifest, 'id' | 'files'>,
  reexport: string,
  cacheFile = defaultCacheFile(),
  /** Further checks of a file whose hash matched, run before the hash is cached (so only when it is hashed). */
  deepCheck: (rel: string) => Promise<void> = async () => undefined,
): Promise<VerifyReport> {
  const cache = readCache(cacheFile);
  const report: VerifyReport = { hashed: [], cached: [], aliases: [] };
  let changed = false;
  const fresh: Array<{ rel: string; file: string; entry: CacheEntry; alias: boolean }> = [];
  /** sha256 of each real file (device and inode) seen in this verification: a file named twice is hashed once. */
  const known = new Map<string, string>();
  try {
    for (const [rel, want] of Object.entries(manifest.files)) {
      const file = path.resolve(dir, rel);
      let st: fs.BigIntStats;
      try {
        st = await fs.promises.stat(file, { bigint: true });
      } catch (e) {
        throw new VarScopeError(
          'ModelLoad',
          `${manifest.id}: bundle file ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)}); ${reexport}`,
        );
      }
      if (!st.isFile()) throw new VarScopeError('ModelLoad', `${manifest.id}: bundle file ${file} is not a regular file`);
      if (st.size !== BigInt(want.bytes)) {
        throw new VarScopeError(
          'ModelLoad',
          `${manifest.id}: ${rel} is ${st.size} bytes, the export recorded ${want.bytes} (the file changed or is incomplete); ${reexport}`,
        );
      }
      const id = `${st.dev}:${st.ino}`;
      const hit = Object.hasOwn(cache, file) ? cache[file] : undefined;
      if (hit && hit.stamp === stamp(st) && hit.sha256 === want.sha256) {
        known.set(id, hit.sha256);
        report.cached.push(rel);
        continue;
      }
      const seen = known.get(id);
      const sha = seen ?? (await sha256File(file));
      known.set(id, sha);
      if (sha !== want.sha256) {
        throw new VarScopeError(
          'ModelLoad',
          `${manifest.id}: ${rel} does not match the sha256 recorded at export (the file changed or is damaged): ${file}; ${reexport}`,
        );
      }
      fresh.push({ rel, file, entry: { stamp: stamp(st), sha256: sha, at: Date.now() }, alias: seen !== undefined });
    }
    // Deeper checks once every file is known to be whole; only files that passed them all are remembered, so a
    // cached entry means "verified".
    for (const f of fresh) {
      await deepCheck(f.rel);
      cache[f.file] = f.entry;
      changed = true;
      (f.alias ? report.aliases : report.hashed).push(f.rel);
    }
  } finally {
    if (changed) writeCache(cacheFile, cache);
  }
  return report;
}

/**
 * What the cache trusts a file by: size, mtime, ctime (set by the kernel on every change, utimes included), inode and
 * device, in nanoseconds and exact integers.
 */
function stamp(st: fs.BigIntStats): string {
  return `${st.size}/${st.mtimeNs}/${st.ctimeNs}/${st.ino}/${st.dev}`;
}

function readCache(file: string): Record<string, CacheEntry> {
  try {
    const st = fs.statSync(file);
    if (!st.isFile() || st.size > 16 * 2 ** 20) return {};
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: number; entries?: Record<string, CacheEntry> };
    // Version 1 stamped files by size and mtime only: its entries are hashed again.
    if (!c || c.version !== CACHE_VERSION || typeof c.entries !== 'object' || !c.entries) return {};
    const entries: Record<string, CacheEntry> = Object.create(null);
    for (const [k, e] of Object.entries(c.entries))
      if (e && typeof e.stamp === 'string' && typeof e.sha256 === 'string' && typeof e.at === 'number') entries[k] = e;
    return entries;
  } catch {
    return {}; // no cache, or an unreadable one: hash again
  }
}

/** Write the cache whole or not at all (temp file beside it, fsync, rename); a failure only costs hashing again. */
function writeCache(file: string, entries: Record<string, CacheEntry>): void {
  const kept = Object.entries(entries)
    .sort((a, b) => b[1].at - a[1].at)
    .slice(0, CACHE_ENTRIES);
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      fs.writeSync(fd, JSON.stringify({ version: CACHE_VERSION, entries: Object.fromEntries(kept) }));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch {
    fs.rmSync(tmp, { force: true });
  }
}
