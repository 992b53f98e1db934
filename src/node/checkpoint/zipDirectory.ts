/**
 * The central directory of a zip archive, parsed from the file's end without reading its members (ZIP64 included:
 * torch.save writes its end records always, and a member or offset past 4 GB only there). Members must be stored:
 * torch.save never compresses, and a stored member is read at its offset with no inflating.
 */
import { quoted } from '../../shared/errors';
import { checkpointError, type CheckpointFile } from './checkpointFile';

/** One member of the archive. */
export interface ZipMember {
  name: string;
  /** Bytes in the file (compressed; a stored member's size). */
  size: number;
  /** The zip compression method: 0 stored (torch.save's), 8 deflated (TorchScript's code, a re-zipped archive). */
  method: number;
  /** Offset of its local header; its data follows the header's name and extra field. */
  headerOffset: number;
}

/** The archive's members by name, in directory order, and where the directory starts (every member ends before). */
export interface ZipDirectory {
  members: Map<string, ZipMember>;
  order: ZipMember[];
  directoryOffset: number;
}

const END = 0x06054b50;
const END64 = 0x06064b50;
const END64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const ZIP64_EXTRA = 0x0001;
/** A checkpoint's directory is ~100 bytes a member (a d36 trainer checkpoint: a few thousand members). */
const MAX_DIRECTORY = 64 << 20;
const U32 = 0xffffffff;

/** Whether the first bytes of a file are a zip local header. */
export function isZipStart(head: Buffer): boolean {
  return head.length >= 4 && head.readUInt32LE(0) === LOCAL;
}

/** The directory of `f`'s zip archive, every member checked to lie inside the file, before the directory. */
export async function readZipDirectory(f: CheckpointFile): Promise<ZipDirectory> {
  const fail = (m: string) => checkpointError(f.file, `not a complete zip archive (${m})`);
  const tailLength = Math.min(f.size, 22 + 0xffff + 20);
  const tail = await f.read(f.size - tailLength, tailLength, 'the zip end record');
  let end = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === END && i + 22 + tail.readUInt16LE(i + 20) === tail.length) {
      end = i;
      break;
    }
  }
  if (end < 0) throw fail('no end-of-directory record at its end: truncated, or still being written');
  const endAt = f.size - tailLength + end;
  let count = tail.readUInt16LE(end + 10);
  let dirSize = tail.readUInt32LE(end + 12);
  let dirOffset = tail.readUInt32LE(end + 16);
  let dirEnd = endAt;
  if (tail.readUInt16LE(end + 4) !== 0 || tail.readUInt16LE(end + 6) !== 0) throw fail('an archive split over several disks');
  if (end >= 20 && tail.readUInt32LE(end - 20) === END64_LOCATOR) {
    const at = u64(tail, end - 12, 'ZIP64 end record offset', fail);
    if (at + 56 > endAt - 20) throw fail(`its ZIP64 end record offset ${at} is past the end records`);
    const rec = await f.read(at, 56, 'the ZIP64 end record');
    if (rec.readUInt32LE(0) !== END64) throw fail(`no ZIP64 end record at byte ${at}`);
    count = u64(rec, 32, 'member count', fail);
    dirSize = u64(rec, 40, 'directory size', fail);
    dirOffset = u64(rec, 48, 'directory offset', fail);
    dirEnd = at;
  } else if (count === 0xffff || dirSize === U32 || dirOffset === U32) {
    throw fail('its end record defers to a ZIP64 record that is missing');
  }
  if (dirOffset + dirSize > dirEnd) throw fail(`its directory (bytes ${dirOffset}..${dirOffset + dirSize}) runs past byte ${dirEnd}`);
  if (dirSize > MAX_DIRECTORY) throw fail(`a ${dirSize}-byte directory, more than the ${MAX_DIRECTORY} bytes a checkpoint's holds`);
  const dir = await f.read(dirOffset, dirSize, 'the zip directory');
  const members = new Map<string, ZipMember>();
  const order: ZipMember[] = [];
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (p + 46 > dir.length || dir.readUInt32LE(p) !== CENTRAL)
      throw fail(`directory entry ${n} of ${count} is not where the directory says`);
    const flags = dir.readUInt16LE(p + 8);
    const method = dir.readUInt16LE(p + 10);
    let compressed: number = dir.readUInt32LE(p + 20);
    let size: number = dir.readUInt32LE(p + 24);
    const nameLength = dir.readUInt16LE(p + 28);
    const extraLength = dir.readUInt16LE(p + 30);
    const commentLength = dir.readUInt16LE(p + 32);
    let headerOffset: number = dir.readUInt32LE(p + 42);
    const next = p + 46 + nameLength + extraLength + commentLength;
    if (next > dir.length) throw fail(`directory entry ${n} runs past the directory`);
    const name = dir.toString(flags & 0x800 ? 'utf8' : 'latin1', p + 46, p + 46 + nameLength);
    const where = `zip member ${quoted(name)}`;
    // ZIP64: the fields saturated at 0xffffffff follow in the extra field, in this order.
    if (size === U32 || compressed === U32 || headerOffset === U32) {
      const extra = zip64Extra(dir.subarray(p + 46 + nameLength, p + 46 + nameLength + extraLength));
      if (!extra) throw fail(`${where} has 4 GB fields but no ZIP64 extra field`);
      let at = 0;
      const field = (what: string) => {
        if (at + 8 > extra.length) throw fail(`${where}: its ZIP64 extra field lacks the ${what}`);
        const v = u64(extra, at, what, fail);
        at += 8;
        return v;
      };
      if (size === U32) size = field('size');
      if (compressed === U32) compressed = field('compressed size');
      if (headerOffset === U32) headerOffset = field('header offset');
    }
    if (flags & 1) throw checkpointError(f.file, `${where} is encrypted; torch.save never encrypts`);
    if (method === 0 && compressed !== size) throw fail(`${where} is stored (${compressed} bytes) but declares ${size} bytes`);
    if (headerOffset + 30 + nameLength + compressed > dirOffset) {
      throw fail(`${where} declares ${compressed} bytes at offset ${headerOffset}, past the start of the directory at byte ${dirOffset}`);
    }
    if (members.has(name)) throw fail(`${where} appears twice`);
    const m = { name, size: compressed, method, headerOffset };
    members.set(name, m);
    order.push(m);
    p = next;
  }
  return { members, order, directoryOffset: dirOffset };
}

/** The file offset of a member's data, from its local header (whose extra field may differ from the directory's). */
export async function memberDataOffset(f: CheckpointFile, dir: ZipDirectory, m: ZipMember): Promise<number> {
  const head = await f.read(m.headerOffset, 30, `the local header of zip member ${quoted(m.name)}`);
  if (head.readUInt32LE(0) !== LOCAL)
    throw checkpointError(f.file, `not a complete zip archive (no local header of ${quoted(m.name)} at byte ${m.headerOffset})`);
  const data = m.headerOffset + 30 + head.readUInt16LE(26) + head.readUInt16LE(28);
  if (data + m.size > dir.directoryOffset) {
    throw checkpointError(
      f.file,
      `damaged zip archive: member ${quoted(m.name)} (${m.size} bytes from byte ${data}) runs into the directory at byte ${dir.directoryOffset}`,
    );
  }
  return data;
}

/** The body of the ZIP64 extra field (id 1) among a directory entry's extra fields, if there is one. */
function zip64Extra(extra: Buffer): Buffer | undefined {
  for (let p = 0; p + 4 <= extra.length;) {
    const id = extra.readUInt16LE(p);
    const n = extra.readUInt16LE(p + 2);
    if (id === ZIP64_EXTRA) return extra.subarray(p + 4, Math.min(p + 4 + n, extra.length));
    p += 4 + n;
  }
  return undefined;
}

function u64(buf: Buffer, at: number, what: string, fail: (m: string) => Error): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`its ${what} is ${v}`);
  return Number(v);
}
