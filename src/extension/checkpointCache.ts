/**
 * Bundles exported from checkpoints, kept in the extension's global storage and keyed by the checkpoints' content
 * (sha256, streamed; remembered per path + size + mtime so a second open hashes nothing). An export writes into a
 * temporary folder inside the cache and is renamed into place only when it succeeded, so a cancel or a failure
 * leaves the cache as it was. No `vscode` import: the unit tests drive it directly.
 */
import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { sha256File } from '../node/sha256File';
import { VarScopeError } from '../shared/errors';

/** Where remembered hashes live (the extension passes its globalState). */
export interface HashMemo {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void> | Promise<void> | void;
}

const MEMO_KEY = 'varscope.checkpointHashes';
const ENTRY = /^[0-9a-f]{24}$/;
const PARTIAL = /^\.tmp-[0-9a-f]+$/;
const MAX_MEMO = 200;
// Global storage is shared by every window: a temporary folder younger than this may be another window's export.
const PARTIAL_STALE_MS = 24 * 3600 * 1000;

/** A cache of exported bundles under one folder that belongs to VARScope alone. */
export class CheckpointCache {
  private readonly building = new Set<string>();

  constructor(
    /** The cache folder (globalStorage/checkpoints). */
    readonly root: string,
    private readonly memo: HashMemo,
    /** Changes with the exporter (the extension version), so a new exporter never reuses an old bundle. */
    private readonly salt: string,
  ) {}

  /** sha256 of a file, streamed; remembered by real path, size and mtime. */
  async hashFile(file: string, signal?: AbortSignal): Promise<string> {
    const real = fs.realpathSync(file);
    const st = fs.statSync(real);
    if (!st.isFile()) throw new VarScopeError('ModelLoad', `${file} is not a regular file`);
    const stamp = `${real}|${st.size}|${st.mtimeMs}`;
    const memo = this.memo.get<Record<string, string>>(MEMO_KEY) ?? {};
    if (memo[stamp]) return memo[stamp];
    const digest = await sha256File(real, signal);
    // Drop stamps of older versions of the same file, and keep the memo small.
    const kept = Object.entries(memo)
      .filter(([k]) => !k.startsWith(`${real}|`))
      .slice(-(MAX_MEMO - 1));
    await this.memo.update(MEMO_KEY, Object.fromEntries([...kept, [stamp, digest]]));
    return digest;
  }

  /** The cache key of a (VAE, VAR) pair of content hashes. */
  keyOf(vaeSha: string, varSha: string): string {
    return createHash('sha256').update(`${this.salt}\n${vaeSha}\n${varSha}`).digest('hex').slice(0, 24);
  }

  /** The bundle folder of a key (it may not exist yet). */
  bundleDir(key: string): string {
    return path.join(this.root, key);
  }

  /** True when the key's bundle is complete in the cache. */
  has(key: string): boolean {
    return fs.existsSync(path.join(this.bundleDir(key), 'varscope.json'));
  }

  /**
   * Produces the key's bundle: `produce(out)` writes a bundle folder at `out` (inside a fresh temporary folder of
   * the cache), which is renamed into place after it resolves. Whatever happens, the temporary folder goes.
   */
  async build(key: string, produce: (out: string) => Promise<void>): Promise<string> {
    fs.mkdirSync(this.root, { recursive: true });
    const tmp = path.join(this.root, `.tmp-${randomBytes(6).toString('hex')}`);
    fs.mkdirSync(tmp);
    this.building.add(tmp);
    try {
      const out = path.join(tmp, 'bundle');
      await produce(out);
      if (!fs.existsSync(path.join(out, 'varscope.json'))) throw new VarScopeError('ModelLoad', 'the export wrote no bundle');
      const dest = this.bundleDir(key);
      if (fs.existsSync(dest)) fs.rmSync(dest, { recursive: true, force: true }); // an entry without its manifest
      fs.renameSync(out, dest);
      return dest;
    } finally {
      this.building.delete(tmp);
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }

  /** Removes temporary folders left by an editor that was killed mid-export (a day old: not another window's). */
  sweepPartials(): void {
    for (const name of this.names()) if (this.stalePartial(name)) fs.rmSync(path.join(this.root, name), { recursive: true, force: true });
  }

  private stalePartial(name: string): boolean {
    const dir = path.join(this.root, name);
    if (!PARTIAL.test(name) || this.building.has(dir)) return false;
    try {
      return Date.now() - fs.statSync(dir).mtimeMs > PARTIAL_STALE_MS;
    } catch {
      return false;
    }
  }

  /** Number of cached bundles and the bytes the cache holds. */
  usage(): { entries: number; bytes: number } {
    const names = this.names().filter((n) => ENTRY.test(n) || PARTIAL.test(n));
    return {
      entries: names.filter((n) => ENTRY.test(n)).length,
      bytes: names.reduce((s, n) => s + folderBytes(path.join(this.root, n)), 0),
    };
  }

  /** Deletes every cached bundle and stale temporary folder (only folders this cache made); returns what it freed. */
  clear(except: string[] = []): { entries: number; bytes: number } {
    const keep = new Set(except.map((d) => path.resolve(d)));
    let entries = 0;
    let bytes = 0;
    for (const name of this.names()) {
      const dir = path.join(this.root, name);
      if (!(ENTRY.test(name) || this.stalePartial(name)) || keep.has(dir)) continue;
      bytes += folderBytes(dir);
      if (ENTRY.test(name)) entries++;
      fs.rmSync(dir, { recursive: true, force: true });
    }
    return { entries, bytes };
  }

  private names(): string[] {
    try {
      return fs.readdirSync(this.root);
    } catch {
      return [];
    }
  }
}

/** Total size of the regular files under a folder (links are not followed). */
export function folderBytes(dir: string): number {
  let total = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += folderBytes(p);
    else if (e.isFile()) total += fs.lstatSync(p).size;
  }
  return total;
}
