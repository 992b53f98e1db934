/**
 * safetensors: an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}} (and
 * `__metadata__`), then the tensors' little-endian bytes. Checked as python/varscope/bundle/safe_load.py checks it:
 * the header length inside the file and under 100 MB, known dtypes, every span numel × itemsize inside the data
 * section, and the spans covering it exactly, in order, no gap, no overlap.
 */
import { quoted } from '../../shared/errors';
import { checkpointError, type CheckpointFile } from './checkpointFile';
import { numelOf } from './tensorRead';
import { ITEM_SIZE, type TensorDtype } from './types';

const MAX_HEADER = 100 << 20;

const DTYPES: Record<string, TensorDtype> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};

/** One tensor of a safetensors file: its bytes are `begin..end` of the file. */
export interface SafetensorsTensor {
  name: string;
  dtype: TensorDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Whether a file's first bytes look like safetensors (a header length, then '{'). */
export function isSafetensorsStart(head: Buffer): boolean {
  return head.length >= 9 && head.readBigUInt64LE(0) >= 2n && head[8] === 0x7b;
}

/** The checked tensors of a safetensors file, in header order, with file offsets. */
export async function readSafetensorsHeader(f: CheckpointFile): Promise<SafetensorsTensor[]> {
  const fail = (m: string) => checkpointError(f.file, m);
  if (f.size < 8) throw fail(`not a safetensors file (no 8-byte header length in a ${f.size}-byte file)`);
  const n = (await f.read(0, 8, 'the safetensors header length')).readBigUInt64LE(0);
  if (n > BigInt(Math.min(MAX_HEADER, f.size - 8))) throw fail(`not a safetensors file (header length ${n} for a ${f.size}-byte file)`);
  const headerLength = Number(n);
  const text = (await f.read(8, headerLength, 'the safetensors header')).toString('utf8');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw fail(`not a safetensors file (header is not JSON: ${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw fail('not a safetensors file (header is not a JSON object)');
  const dataStart = 8 + headerLength;
  const dataSize = f.size - dataStart;
  const tensors: SafetensorsTensor[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const where = `safetensors tensor ${quoted(name)}`;
    if (!info || typeof info !== 'object' || Array.isArray(info)) throw fail(`${where}: its header entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPES, dtype)) {
      throw fail(
        `${where}: dtype ${typeof dtype === 'string' ? quoted(dtype) : String(dtype)} is none of ${Object.keys(DTYPES).join(', ')}`,
      );
    }
    if (!isCounts(shape)) throw fail(`${where}: shape ${JSON.stringify(shape)?.slice(0, 80)} is not a list of sizes`);
    if (!isCounts(offsets) || offsets.length !== 2)
      throw fail(`${where}: data_offsets ${JSON.stringify(offsets)?.slice(0, 80)} is not [begin, end]`);
    const count = numelOf(shape);
    if (!Number.isSafeInteger(count)) throw fail(`${where}: shape ${JSON.stringify(shape)} holds more elements than a tensor can`);
    const [begin, end] = offsets;
    if (!(begin <= end && end <= dataSize) || end - begin !== count * ITEM_SIZE[DTYPES[dtype]]) {
      throw fail(`${where}: offsets ${begin}..${end} do not hold [${shape.join(', ')}] ${dtype} inside the ${dataSize}-byte data section`);
    }
    tensors.push({ name, dtype: DTYPES[dtype], shape, begin, end });
  }
  let at = 0;
  let previous = '';
  for (const t of [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end || (a.name < b.name ? -1 : 1))) {
    if (t.begin !== at) {
      const why = t.begin < at ? `overlap those of ${quoted(previous)}` : `leave bytes ${at}..${t.begin} unused`;
      throw fail(`safetensors tensor ${quoted(t.name)}: offsets ${t.begin}..${t.end} ${why}`);
    }
    at = t.end;
    previous = t.name;
  }
  if (at !== dataSize) throw fail(`safetensors data section: bytes ${at}..${dataSize} belong to no tensor`);
  return tensors.map((t) => ({ ...t, begin: dataStart + t.begin, end: dataStart + t.end }));
}

/** Whether v is a list of non-negative safe integers. */
function isCounts(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0);
}
