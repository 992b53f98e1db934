/**
 * The checkpoint reader on archives built by hand: a ZIP64 archive (every size and offset in its ZIP64 records) read
 * correctly, views gathered in small chunks, and each kind of bad input refused in one line (a truncated zip, a
 * forbidden global, an unknown opcode, a tensor past its storage, safetensors offsets that overlap or run out, a file
 * changed or replaced while it is read).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { FileChangedError, isCheckpointComplete, readCheckpoint } from '../../../src/node/checkpoint';
import { CheckpointFile } from '../../../src/node/checkpoint/checkpointFile';
import { readStrided } from '../../../src/node/checkpoint/tensorRead';
import { loadRefusal } from '../fixtures';

const u16 = (n: number) => Buffer.from(new Uint16Array([n]).buffer);
const u32 = (n: number) => Buffer.from(new Uint32Array([n]).buffer);
const u64 = (n: number) => Buffer.from(new BigUint64Array([BigInt(n)]).buffer);

/** A member's bytes: given, or `size` bytes of which only the last are written (a sparse file's hole before them). */
type MemberData = Buffer | { size: number; tail: Buffer };

/**
 * A zip of stored members as [file position, bytes] pieces; `zip64`: every size and offset saturated in the directory
 * and given in ZIP64 extra fields.
 */
function storedZipPieces(members: Array<[string, MemberData]>, zip64: boolean): Array<[number, Buffer]> {
  const pieces: Array<[number, Buffer]> = [];
  const central: Buffer[] = [];
  let at = 0;
  const push = (b: Buffer) => {
    pieces.push([at, b]);
    at += b.length;
  };
  for (const [name, data] of members) {
    const n = Buffer.from(name);
    const size = Buffer.isBuffer(data) ? data.length : data.size;
    const crc = Buffer.isBuffer(data) ? zlib.crc32(data) : 0;
    const offset = at;
    const localExtra = zip64 ? Buffer.concat([u16(1), u16(16), u64(size), u64(size)]) : Buffer.alloc(0);
    const size32 = zip64 ? 0xffffffff : size;
    push(
      Buffer.concat([
        u32(0x04034b50),
        u16(45),
        u16(0),
        u16(0),
        u32(0),
        u32(crc),
        u32(size32),
        u32(size32),
        u16(n.length),
        u16(localExtra.length),
        n,
        localExtra,
      ]),
    );
    if (Buffer.isBuffer(data)) push(data);
    else {
      at += data.size - data.tail.length;
      push(data.tail);
    }
    const extra = zip64 ? Buffer.concat([u16(1), u16(24), u64(size), u64(size), u64(offset)]) : Buffer.alloc(0);
    const offset32 = zip64 ? 0xffffffff : offset;
    central.push(
      Buffer.concat([
        u32(0x02014b50),
        u16(45),
        u16(45),
        u16(0),
        u16(0),
        u32(0),
        u32(crc),
        u32(size32),
        u32(size32),
        u16(n.length),
        u16(extra.length),
        u16(0),
        u16(0),
        u16(0),
        u32(0),
        u32(offset32),
        n,
        extra,
      ]),
    );
  }
  const dirOffset = at;
  const dir = Buffer.concat(central);
  push(dir);
  const count = members.length;
  if (zip64) {
    const end64 = at;
    push(
      Buffer.concat([u32(0x06064b50), u64(44), u16(45), u16(45), u32(0), u32(0), u64(count), u64(count), u64(dir.length), u64(dirOffset)]),
    );
    push(Buffer.concat([u32(0x07064b50), u32(0), u64(end64), u32(1)]));
    push(Buffer.concat([u32(0x06054b50), u16(0), u16(0), u16(0xffff), u16(0xffff), u32(0xffffffff), u32(0xffffffff), u16(0)]));
  } else {
    push(Buffer.concat([u32(0x06054b50), u16(0), u16(0), u16(count), u16(count), u32(dir.length), u32(dirOffset), u16(0)]));
  }
  return pieces;
}

/** A zip of stored members, in memory. */
const storedZip = (members: Array<[string, Buffer]>, zip64: boolean) => Buffer.concat(storedZipPieces(members, zip64).map(([, b]) => b));

/** Pickle (protocol 2) pieces. */
const op = (...codes: number[]) => Buffer.from(codes);
const MARK = op(0x28);
const TUPLE = op(0x74);
const str = (s: string) => Buffer.concat([op(0x58), u32(Buffer.byteLength(s)), Buffer.from(s)]);
const int = (n: number) => Buffer.concat([op(0x4a), Buffer.from(new Int32Array([n]).buffer)]);
const global = (module: string, name: string) => Buffer.from(`c${module}\n${name}\n`, 'latin1');
const tuple = (...items: Buffer[]) => Buffer.concat([MARK, ...items, TUPLE]);
const PROTO = op(0x80, 2);
const STOP = op(0x2e);

/** A tensor of a hand-made pickle: on float32 storage `storage` of `numel` elements. */
interface TensorSpec {
  key: string;
  storage: string;
  numel: number;
  size: number[];
  stride: number[];
  offset: number;
}

/** data.pkl of a dict of tensors, as torch.save writes it (protocol 2). */
function statePickle(tensors: TensorSpec[]): Buffer {
  const items = tensors.map((t) => {
    const storage = Buffer.concat([
      tuple(str('storage'), global('torch', 'FloatStorage'), str(t.storage), str('cpu'), int(t.numel)),
      op(0x51),
    ]);
    const hooks = Buffer.concat([global('collections', 'OrderedDict'), op(0x29, 0x52)]);
    const args = tuple(storage, int(t.offset), tuple(...t.size.map(int)), tuple(...t.stride.map(int)), op(0x89), hooks);
    return Buffer.concat([str(t.key), global('torch._utils', '_rebuild_tensor_v2'), args, op(0x52)]);
  });
  return Buffer.concat([PROTO, op(0x7d), MARK, ...items, op(0x75), STOP]);
}

/** data.pkl of {'class_emb.weight': a tensor of `size`, `stride`, `offset` on storage '0' of `numel` float32s}. */
const tensorPickle = (numel: number, size: number[], stride: number[], offset = 0) =>
  statePickle([{ key: 'class_emb.weight', storage: '0', numel, size, stride, offset }]);

/** A torch.save-shaped archive of one pickle and one storage record. */
const torchZip = (pickle: Buffer, storage: Buffer, zip64 = false) =>
  storedZip(
    [
      ['archive/data.pkl', pickle],
      ['archive/byteorder', Buffer.from('little')],
      ['archive/data/0', storage],
    ],
    zip64,
  );

const floats = (n: number) => Buffer.from(Float32Array.from({ length: n }, (_, i) => i + 0.5).buffer);

describe('checkpoint reader: archives built by hand', () => {
  let dir: string;
  let n = 0;
  const write = (data: Buffer, ext = '.pth') => {
    const file = path.join(dir, `f${n++}${ext}`);
    fs.writeFileSync(file, data);
    return file;
  };
  const refusal = (data: Buffer, ext = '.pth') => {
    const file = write(data, ext);
    return loadRefusal(() => readCheckpoint(file), file);
  };
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-ckpt-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads a ZIP64 archive (sizes and offsets only in its ZIP64 records) as the plain one', async () => {
    for (const zip64 of [false, true]) {
      const file = write(torchZip(tensorPickle(6, [3, 2], [1, 3]), floats(6), zip64));
      assert.strictEqual(await isCheckpointComplete(file), true);
      const c = await readCheckpoint(file);
      const t = c.roles.var!.get('class_emb.weight')!;
      assert.deepStrictEqual([t.dtype, t.shape, t.byteLength], ['float32', [3, 2], 24]);
      const x = new Float32Array((await t.read()).buffer.slice(0));
      assert.deepStrictEqual([...x], [0.5, 3.5, 1.5, 4.5, 2.5, 5.5], `zip64 ${zip64}: the transposed view`);
      await c.close();
    }
  });

  it('reads tensors past 4 GB into an archive (a sparse file: storages, offsets and headers only in ZIP64 records)', async () => {
    const big = 5 * 2 ** 30 + 16; // bytes of storage 0: 5 GB of hole, then four floats
    const file = path.join(dir, 'sparse-zip64.pth');
    const pickle = statePickle([
      { key: 'class_emb.weight', storage: '0', numel: big / 4, size: [2, 2], stride: [1, 2], offset: big / 4 - 4 },
      { key: 'blocks.0.x', storage: '1', numel: 3, size: [3], stride: [1], offset: 0 },
    ]);
    const members: Array<[string, MemberData]> = [
      ['archive/data.pkl', pickle],
      ['archive/data/0', { size: big, tail: floats(4) }],
      ['archive/data/1', floats(3)],
    ];
    const fd = fs.openSync(file, 'w');
    try {
      for (const [at, bytes] of storedZipPieces(members, true)) fs.writeSync(fd, bytes, 0, bytes.length, at);
    } finally {
      fs.closeSync(fd);
    }
    assert.ok(fs.statSync(file).size > big && fs.statSync(file).blocks * 512 < 2 ** 20, 'a sparse file past 5 GB');
    const c = await readCheckpoint(file);
    const read = async (key: string) => [...new Float32Array((await c.roles.var!.get(key)!.read()).buffer.slice(0))];
    assert.deepStrictEqual(await read('class_emb.weight'), [0.5, 2.5, 1.5, 3.5]);
    assert.deepStrictEqual(await read('blocks.0.x'), [0.5, 1.5, 2.5]);
    await c.close();
    fs.rmSync(file);
  });

  it('gathers views from chunks of any size as from the whole storage', async () => {
    const file = write(floats(3 * 4 * 5));
    const f = await CheckpointFile.open(file);
    const layouts = [
      { shape: [5, 4, 3], stride: [1, 5, 20], offset: 0 }, // permuted
      { shape: [2, 3, 2], stride: [20, 1, 10], offset: 6 }, // sliced
      { shape: [4, 3], stride: [0, 2], offset: 1 }, // expanded
      { shape: [3, 4, 5], stride: [20, 5, 1], offset: 0 }, // contiguous
    ];
    for (const l of layouts) {
      const want: number[] = [];
      const walk = (d: number, at: number) =>
        d === l.shape.length ? want.push(at + 0.5) : [...Array(l.shape[d]).keys()].forEach((i) => walk(d + 1, at + i * l.stride[d]));
      walk(0, l.offset);
      for (const chunk of [4, 8, 40, 1 << 20]) {
        const got = await readStrided(f, 0, { dtype: 'float32', ...l }, false, 'test', chunk);
        assert.deepStrictEqual(
          [...new Float32Array(got.buffer, got.byteOffset, got.length / 4)],
          want,
          `${JSON.stringify(l)} in chunks of ${chunk}`,
        );
      }
    }
    await f.close();
  });

  it('refuses any global outside the allow-list, naming it', async () => {
    const call = (g: Buffer) => Buffer.concat([PROTO, g, tuple(str('x')), op(0x52), STOP]);
    for (const [module, name] of [
      ['os', 'system'],
      ['argparse', 'Namespace'],
      ['numpy.core.multiarray', '_reconstruct'],
      ['builtins', 'eval'],
      ['torch', 'load'],
    ]) {
      const expected = new RegExp(
        `holds a Python object of type ${name === 'eval' ? 'builtins' : module.replace(/\./g, '\\.')}\\.${name}, which is not plain data`,
      );
      assert.match(await refusal(torchZip(call(global(module, name)), floats(1))), expected);
      // protocol 4 names it with STACK_GLOBAL
      const stackGlobal = Buffer.concat([op(0x8c, module.length), Buffer.from(module), op(0x8c, name.length), Buffer.from(name), op(0x93)]);
      assert.match(await refusal(torchZip(Buffer.concat([op(0x80, 4), stackGlobal, op(0x29, 0x52), STOP]), floats(1))), expected);
    }
  });

  it('refuses malformed pickles in one line: an unknown opcode, memo out of turn, a length past its end, protocol 0 text', async () => {
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.concat([PROTO, op(0xff), STOP]), /unknown opcode 0xff \(byte 2\)/],
      [Buffer.concat([PROTO, op(0x7d, 0x71, 5), STOP]), /stores memo entry 5 after 0/],
      [Buffer.concat([PROTO, op(0x58), u32(1 << 30), STOP]), /ends inside an opcode/],
      [Buffer.concat([PROTO, Buffer.from('I12\n'), STOP]), /uses opcode INT \(0x49\), which torch\.save does not write/],
      [Buffer.concat([PROTO, op(0x68, 3), STOP]), /reads memo entry 3 before storing it/],
      [Buffer.concat([PROTO, op(0x7d)]), /ends inside an opcode/],
    ];
    for (const [pickle, expected] of cases) assert.match(await refusal(torchZip(pickle, floats(1))), expected);
  });

  it('refuses a tensor past its storage and a storage its record does not hold', async () => {
    assert.match(
      await refusal(torchZip(tensorPickle(4, [10], [1]), floats(4))),
      /a tensor of size \(10\), stride \(1\) at offset 0 reaches element 10 of storage "0", which holds 4/,
    );
    assert.match(await refusal(torchZip(tensorPickle(4, [2, 2], [2, 1], 1), floats(4))), /reaches element 5 of storage "0", which holds 4/);
    assert.match(
      await refusal(torchZip(tensorPickle(6, [6], [1]), floats(4))),
      /storage "0" declares 6 float32 elements \(24 bytes\), but its record data\/0 holds 16/,
    );
  });

  it('refuses a zip without data.pkl, a closed checkpoint and a file that is none', async () => {
    assert.match(
      await refusal(storedZip([['a/b.txt', Buffer.from('x')]], false)),
      /a zip archive, but not a PyTorch checkpoint \(no data\.pkl inside\)/,
    );
    assert.match(
      await refusal(Buffer.from('hello, world, not a checkpoint')),
      /not a PyTorch checkpoint \(neither a torch\.save zip file nor safetensors\)/,
    );
    assert.match(await refusal(Buffer.alloc(0)), /empty file \(0 bytes\), not a checkpoint/);
    const c = await readCheckpoint(write(torchZip(tensorPickle(6, [6], [1]), floats(6))));
    await c.close();
    await assert.rejects(c.roles.var!.get('class_emb.weight')!.read(), /read after the checkpoint was closed/);
  });

  it('refuses a truncated zip in one line, wherever it is cut', async () => {
    const whole = torchZip(tensorPickle(6, [6], [1]), floats(6), true);
    for (const cut of [5, 100, whole.length - 60, whole.length - 1]) {
      const file = write(whole.subarray(0, cut));
      assert.strictEqual(await isCheckpointComplete(file), false);
      assert.match(await loadRefusal(() => readCheckpoint(file), file), /not a complete zip archive|truncated|not a PyTorch checkpoint/);
    }
  });

  it('refuses safetensors headers whose offsets overlap, leave a gap or run out of the data, or whose dtype is unknown', async () => {
    const st = (header: object, dataBytes: number) => {
      const h = Buffer.from(JSON.stringify(header));
      return Buffer.concat([u64(h.length), h, Buffer.alloc(dataBytes)]);
    };
    const cases: Array<[Buffer, RegExp]> = [
      [
        st({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12),
        /tensor "b": offsets 4\.\.12 overlap those of "a"/,
      ],
      [
        st({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8),
        /tensor "a": offsets 0\.\.16 do not hold \[4\] F32 inside the 8-byte data section/,
      ],
      [st({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), /do not hold \[3\] F32/],
      [st({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8), /offsets 4\.\.8 leave bytes 0\.\.4 unused/],
      [st({ a: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }, 1), /dtype "F8_E4M3" is none of F64, F32/],
      [Buffer.concat([u64(1 << 20), Buffer.from('{}')]), /header length 1048576 for a 10-byte file/],
    ];
    for (const [data, expected] of cases) assert.match(await refusal(data, '.safetensors'), expected);
  });

  it('refuses a file rewritten, truncated or replaced after it was opened', async () => {
    const data = torchZip(tensorPickle(6, [6], [1]), floats(6));
    const rewrites: Array<[string, (file: string) => void, RegExp]> = [
      [
        'rewritten in place',
        (f) => fs.writeFileSync(f, Buffer.from(data).fill(7, data.length - 40)),
        /the file changed while it was read \(it was written to\)/,
      ],
      ['truncated', (f) => fs.truncateSync(f, 10), /changed while it was read \(its size went from \d+ to 10 bytes\)/],
      [
        'replaced',
        (f) => {
          fs.writeFileSync(`${f}.new`, data);
          fs.renameSync(`${f}.new`, f);
        },
        /changed while it was read \(another file took its place\)/,
      ],
    ];
    for (const [what, change, expected] of rewrites) {
      const file = write(data);
      const c = await readCheckpoint(file);
      const t = c.roles.var!.get('class_emb.weight')!;
      await t.read(); // unchanged: reads
      await new Promise((r) => setTimeout(r, 5)); // a new modification time
      change(file);
      assert.match(await loadRefusal(() => t.read(), what), expected, what);
      const error = await t.read().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof FileChangedError, `${what}: ${String(error)}`);
      await c.close();
    }
  });
});
