/**
 * Bundle files against the sha256 the exporter recorded in varscope.json (`files`). A flipped bit in weights.bin
 * otherwise changes every result silently. Hashing a large bundle takes seconds, so each verified hash is cached
 * by path, size and mtime in a small file of its own (written whole: temp file beside it, fsync, rename): a second
 * open of an unchanged bundle reads no file contents.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { BundleManifest } from '../shared/manifest';
import { VarScopeError } from '../shared/errors';

/** How many files the cache remembers (the oldest are dropped first). */
const CACHE_ENTRIES = 2000;

interface CacheEntry {
  size: number;
  mtimeMs: number;
  sha256: string;
  /** When this entry was written (ms), for dropping the oldest. */
  at: number;
}

/** The cache file: $VARSCOPE_CACHE_DIR, else $XDG_CACHE_HOME/varscope, else ~/.cache/varscope; verified.json there. */
export function defaultCacheFile(): string {
  const dir = process.env.VARSCOPE_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'varscope');
  return path.join(dir, 'verified.json');
}

/** What a verification did: files hashed now and files whose hash came from the cache. */
export interface VerifyReport {
  hashed: string[];
  cached: string[];
}

/**
 * Check every file of `manifest.files` (paths relative to `dir`) against its recorded size and sha256; throws
 * ModelLoad naming the first file that differs and how to re-export the bundle. `reexport` is that advice.
 */
export async function verifyBundleFiles(
  dir: string,
  manifest: BundleManifest,
  reexport: string,
  cacheFile = defaultCacheFile(),
  /** Further checks of a file whose hash matched, run before the hash is cached (so only when it is hashed). */
  deepCheck: (rel: string) => Promise<void> = async () => undefined,
): Promise<VerifyReport> {
  const cache = readCache(cacheFile);
  const report: VerifyReport = { hashed: [], cached: [] };
  let changed = false;
  const fresh: Array<{ rel: string; file: string; entry: CacheEntry }> = [];
  try {
    for (const [rel, want] of Object.entries(manifest.files)) {
      const file = path.resolve(dir, rel);
      let st: fs.Stats;
      try {
        st = await fs.promises.stat(file);
      } catch (e) {
        throw new VarScopeError(
          'ModelLoad',
          `${manifest.id}: bundle file ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)}); ${reexport}`,
        );
      }
      if (!st.isFile()) throw new VarScopeError('ModelLoad', `${manifest.id}: bundle file ${file} is not a regular file`);
      if (st.size !== want.bytes) {
        throw new VarScopeError(
          'ModelLoad',
          `${manifest.id}: ${rel} is ${st.size} bytes, the export recorded ${want.bytes} (the file changed or is incomplete); ${reexport}`,
        );
      }
      const hit = cache[file];
      if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs && hit.sha256 === want.sha256) {
        report.cached.push(rel);
        continue;
      }
      const sha = await sha256File(file);
      if (sha !== want.sha256) {
        throw new VarScopeError(
          'ModelLoad',
          `${manifest.id}: ${rel} does not match the sha256 recorded at export (the file changed or is damaged): ${file}; ${reexport}`,
        );
      }
      fresh.push({ rel, file, entry: { size: st.size, mtimeMs: st.mtimeMs, sha256: sha, at: Date.now() } });
    }
    // Deeper checks once every file is known to be whole; only files that passed them all are remembered, so a
    // cached entry means "verified".
    for (const f of fresh) {
      await deepCheck(f.rel);
      cache[f.file] = f.entry;
      changed = true;
      report.hashed.push(f.rel);
    }
  } finally {
    if (changed) writeCache(cacheFile, cache);
  }
  return report;
}

/** Hex sha256 of a file, streamed. */
export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    fs.createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

function readCache(file: string): Record<string, CacheEntry> {
  try {
    const st = fs.statSync(file);
    if (!st.isFile() || st.size > 16 * 2 ** 20) return {};
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as { entries?: Record<string, CacheEntry> };
    return c && typeof c.entries === 'object' && c.entries ? c.entries : {};
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
      fs.writeSync(fd, JSON.stringify({ version: 1, entries: Object.fromEntries(kept) }));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch {
    fs.rmSync(tmp, { force: true });
  }
}
