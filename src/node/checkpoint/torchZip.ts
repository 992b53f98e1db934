/**
 * torch.save's zip format (torch >= 1.6): `<archive>/data.pkl` (the object, tensors as persistent ids of storages),
 * `<archive>/data/<key>` (each storage's bytes), `<archive>/byteorder`. The pickle is read through an allow-list of
 * our own that mirrors python/varscope/bundle/safe_load.py: tensor and parameter rebuilds, storages, OrderedDict,
 * set, torch.Size, dtypes and plain data; anything else is refused, naming the type. Every storage is checked against
 * its record and every tensor against its storage before a byte of tensor data is read.
 */
import { quoted } from '../../shared/errors';
import { checkpointError, type CheckpointFile } from './checkpointFile';
import { LazyTensor, numelOf, readStrided } from './tensorRead';
import { ITEM_SIZE, type TensorDtype } from './types';
import { unpickle, type PickleHooks } from './unpickler';
import { memberDataOffset, readZipDirectory, type ZipDirectory, type ZipMember } from './zipDirectory';

/** A checkpoint's pickle holds its structure only (about 160 bytes a tensor): the same bound as the Python loader's. */
const MAX_PICKLE_BYTES = 64 << 20;

/** A storage as the pickle declares it: its record in the archive, read only when a tensor on it is. */
export class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: TensorDtype,
    readonly numel: number,
    /** The file offset of its bytes (the record's local header is read once, on the first read). */
    readonly start: () => Promise<number>,
  ) {}
}

/** A global that stands for a value (a tensor type, a storage type, a dtype) or for a function the reader implements. */
class Allowed {
  constructor(
    readonly qualname: string,
    readonly kind: 'function' | 'tensorType' | 'storageType' | 'dtype',
    /** storageType: the storage's dtype (undefined: complex or quantized, which the reader does not read); dtype: its name. */
    readonly dtype?: TensorDtype,
  ) {}

  toString(): string {
    return this.qualname;
  }
}

const STORAGE_DTYPES: Record<string, TensorDtype | undefined> = {
  DoubleStorage: 'float64',
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8', // bytes, as the Python loader reads it
  ComplexDoubleStorage: undefined,
  ComplexFloatStorage: undefined,
  QUInt8Storage: undefined,
  QInt8Storage: undefined,
  QInt32Storage: undefined,
  QUInt4x2Storage: undefined,
  QUInt2x4Storage: undefined,
};

const DTYPES: TensorDtype[] = ['float16', 'bfloat16', 'float32', 'float64', 'uint8', 'int8', 'int16', 'int32', 'int64', 'bool'];

/** The allow-list (safe_load.py's _allowed_globals), keyed "module.name". */
const ALLOWED = new Map<string, Allowed>();
for (const q of [
  'collections.OrderedDict',
  'torch.Size',
  'builtins.set',
  'builtins.frozenset',
  '_codecs.encode',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  'torch._tensor._rebuild_from_type_v2',
])
  ALLOWED.set(q, new Allowed(q, 'function'));
for (const q of ['torch.Tensor', 'torch._tensor.Tensor', 'torch.nn.parameter.Parameter']) ALLOWED.set(q, new Allowed(q, 'tensorType'));
for (const [name, dtype] of Object.entries(STORAGE_DTYPES))
  ALLOWED.set(`torch.${name}`, new Allowed(`torch.${name}`, 'storageType', dtype));
for (const d of DTYPES) ALLOWED.set(`torch.${d}`, new Allowed(`torch.${d}`, 'dtype', d));
/** Allowed in Python, not here: tensors that have no bytes of their own to read. */
const NO_BYTES = new Set([
  'torch._utils._rebuild_sparse_tensor',
  'torch._utils._rebuild_meta_tensor_no_storage',
  'torch.serialization._get_layout',
]);
/** Protocol 2 names Python 3's modules by their Python 2 names (pickle's fix_imports). */
const PY2_MODULES: Record<string, string> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

/** What a forbidden global gets: the Python exporter's words for the same refusal. */
function unsafeMessage(qualname: string): string {
  return (
    `a PyTorch checkpoint that holds a Python object of type ${qualname}, which is not plain data; VARScope loads only ` +
    'tensors and plain containers (dict, list, tuple, set, str, bytes, numbers, None, torch.Size) so that opening a file ' +
    "never runs code from it. Save the model's state_dict (with its optimizer state and plain-dict args, as the official " +
    'trainer does) instead'
  );
}

/** The object a torch.save zip file holds, its tensors LazyTensors; throws a one-line refusal. */
export async function readTorchZip(f: CheckpointFile): Promise<unknown> {
  const dir = await readZipDirectory(f);
  const names = [...dir.members.keys()];
  if (names.some((n) => n.endsWith('/constants.pkl')) && names.some((n) => n.includes('/code/'))) {
    throw checkpointError(
      f.file,
      'a TorchScript archive (torch.jit.save), not a checkpoint of weights; save the state_dict with torch.save(model.state_dict(), path)',
    );
  }
  if (!names.some((n) => n.endsWith('data.pkl')))
    throw checkpointError(f.file, 'a zip archive, but not a PyTorch checkpoint (no data.pkl inside)');
  const compressed = dir.order.find((m) => m.method !== 0);
  if (compressed) {
    throw checkpointError(
      f.file,
      `zip member ${quoted(compressed.name)} is compressed (zip method ${compressed.method}); torch.save stores its members uncompressed, so ` +
        'the archive was rewritten: the Python export path reads it, or save it again with torch.save',
    );
  }
  const first = dir.order[0].name;
  // torch looks every record up in the folder of the archive's first member (PyTorchStreamReader's archive name).
  const prefix = first.includes('/') ? first.slice(0, first.indexOf('/') + 1) : '';
  const pkl = dir.members.get(`${prefix}data.pkl`);
  if (!pkl) throw checkpointError(f.file, `damaged PyTorch checkpoint: no zip member ${quoted(`${prefix}data.pkl`)}`);
  if (pkl.size > MAX_PICKLE_BYTES) {
    throw checkpointError(
      f.file,
      `damaged PyTorch checkpoint: its data.pkl is ${pkl.size} bytes, past the ${MAX_PICKLE_BYTES} a checkpoint's pickle holds`,
    );
  }
  const bigEndian = (await byteOrder(f, dir, dir.members.get(`${prefix}byteorder`))) === 'big';
  const data = await f.read(await memberDataOffset(f, dir, pkl), pkl.size, 'data.pkl');
  return unpickle(data, torchHooks(f, dir, `${prefix}data/`, bigEndian), (m) =>
    checkpointError(f.file, `damaged PyTorch checkpoint: ${m}`),
  );
}

async function byteOrder(f: CheckpointFile, dir: ZipDirectory, m: ZipMember | undefined): Promise<'little' | 'big'> {
  if (!m) return 'little'; // torch before 1.10 wrote none, and only little-endian
  if (m.size > 16) throw checkpointError(f.file, `damaged PyTorch checkpoint: its byteorder record is ${m.size} bytes`);
  const text = (await f.read(await memberDataOffset(f, dir, m), m.size, 'the byteorder record')).toString('latin1');
  if (text !== 'little' && text !== 'big') throw checkpointError(f.file, `damaged PyTorch checkpoint: byteorder ${quoted(text)}`);
  return text;
}

/** The allow-list as pickle hooks: storages from `folder` of the archive. */
function torchHooks(f: CheckpointFile, dir: ZipDirectory, folder: string, bigEndian: boolean): PickleHooks {
  const damaged = (m: string) => checkpointError(f.file, `damaged PyTorch checkpoint: ${m}`);
  const storages = new Map<string, StorageRef>();

  const tensor = (storage: unknown, offset: unknown, size: unknown, stride: unknown): LazyTensor => {
    if (!(storage instanceof StorageRef)) throw damaged(`a tensor built on ${brief(storage)}, not a storage`);
    const where = `a tensor of size ${brief(size)}, stride ${brief(stride)} at offset ${brief(offset)}`;
    if (!isSizes(size) || !isSizes(stride) || size.length !== stride.length || !isSizes([offset])) {
      throw damaged(`${where} of storage ${quoted(storage.key)}`);
    }
    const count = numelOf(size);
    const at = offset as number;
    const end = count === 0 ? 0 : at + 1 + size.reduce((a, n, i) => a + (n - 1) * stride[i], 0);
    if (!Number.isSafeInteger(count) || !Number.isSafeInteger(end) || Math.max(end, at) > storage.numel) {
      throw damaged(`${where} reaches element ${Math.max(end, at)} of storage ${quoted(storage.key)}, which holds ${storage.numel}`);
    }
    const layout = { dtype: storage.dtype, shape: size, stride, offset: at };
    return new LazyTensor(storage.dtype, size, async () =>
      readStrided(f, await storage.start(), layout, bigEndian, `storage ${quoted(storage.key)}`),
    );
  };

  const call = (fn: unknown, args: unknown[]): unknown => {
    if (!(fn instanceof Allowed) || fn.kind !== 'function') throw damaged(`it calls ${brief(fn)}, which is no function`);
    switch (fn.qualname) {
      case 'collections.OrderedDict': {
        const d = new Map();
        if (args.length && Array.isArray(args[0]))
          for (const pair of args[0]) if (Array.isArray(pair) && pair.length === 2) d.set(pair[0], pair[1]);
        return d;
      }
      case 'builtins.set':
      case 'builtins.frozenset':
        return new Set(Array.isArray(args[0]) ? args[0] : []);
      case 'torch.Size':
        if (!isSizes(args[0])) throw damaged(`torch.Size of ${brief(args[0])}`);
        return Object.freeze([...args[0]]);
      case '_codecs.encode':
        if (typeof args[0] !== 'string' || !['latin1', 'latin-1'].includes(String(args[1])))
          throw damaged(`_codecs.encode of ${brief(args)}`);
        return Buffer.from(args[0], 'latin1');
      case 'torch._utils._rebuild_tensor':
      case 'torch._utils._rebuild_tensor_v2':
        return tensor(args[0], args[1], args[2], args[3]);
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state':
        if (!(args[0] instanceof LazyTensor)) throw damaged(`a parameter of ${brief(args[0])}, not a tensor`);
        return args[0];
      case 'torch._tensor._rebuild_from_type_v2': {
        // (func, new_type, args, state): torch >= 2.0 wraps tensors with Python state in it
        const [inner, type, innerArgs] = args;
        if (!(type instanceof Allowed) || type.kind !== 'tensorType' || !Array.isArray(innerArgs))
          throw damaged(`_rebuild_from_type_v2 of ${brief(type)}`);
        return call(inner, innerArgs);
      }
    }
    throw damaged(`it calls ${fn.qualname}`);
  };

  return {
    global(module, name) {
      const qualname = `${PY2_MODULES[module] ?? module}.${name}`;
      const found = ALLOWED.get(qualname);
      if (found) return found;
      if (NO_BYTES.has(qualname)) {
        throw checkpointError(
          f.file,
          `holds a sparse or meta tensor (${qualname}), which has no bytes the TypeScript reader reads; the Python export path reads it`,
        );
      }
      throw checkpointError(f.file, unsafeMessage(`${quoted(module, 60).slice(1, -1)}.${quoted(name, 60).slice(1, -1)}`));
    },
    call,
    build(obj, state) {
      // OrderedDict keeps attributes (a state_dict's _metadata) in its state: not data the reader needs.
      if (obj instanceof Map && (state instanceof Map || state === null || Array.isArray(state))) return;
      throw damaged(`it sets the state of ${brief(obj)}`);
    },
    persistent(pid) {
      // ('storage', storage type, key, location, numel)
      if (
        !Array.isArray(pid) ||
        pid.length !== 5 ||
        !(pid[0] === 'storage' || (Buffer.isBuffer(pid[0]) && pid[0].toString('latin1') === 'storage'))
      ) {
        throw damaged(`a persistent id that is no storage (${brief(pid)})`);
      }
      const [, type, key, , numel] = pid;
      if (typeof key !== 'string') throw damaged(`a storage key ${brief(key)} that is no string`);
      if (!(type instanceof Allowed) || type.kind !== 'storageType') throw damaged(`storage ${quoted(key)} of type ${brief(type)}`);
      if (!type.dtype)
        throw checkpointError(
          f.file,
          `storage ${quoted(key)} is a ${type.qualname}, whose dtype the TypeScript reader does not read; the Python export path reads it`,
        );
      if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0)
        throw damaged(`storage ${quoted(key)} declares ${brief(numel)} elements`);
      const record = dir.members.get(folder + key);
      if (!record) throw damaged(`storage ${quoted(key)} has no record ${quoted(`data/${key}`)}`);
      const nbytes = numel * ITEM_SIZE[type.dtype];
      if (nbytes !== record.size) {
        throw damaged(
          `storage ${quoted(key)} declares ${numel} ${type.dtype} elements (${nbytes} bytes), but its record data/${key} holds ${record.size}`,
        );
      }
      const known = storages.get(key);
      if (known) {
        if (known.dtype !== type.dtype || known.numel !== numel) {
          throw damaged(`storage ${quoted(key)} declared as ${known.numel} ${known.dtype} and as ${numel} ${type.dtype} elements`);
        }
        return known;
      }
      let start: Promise<number> | undefined;
      const ref = new StorageRef(key, type.dtype, numel, () => (start ??= memberDataOffset(f, dir, record)));
      storages.set(key, ref);
      return ref;
    },
  };
}

/** Whether v is a list of non-negative integers (a size, a stride, an offset). */
function isSizes(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0);
}

/** A short description of a value from the pickle, for a refusal. */
function brief(v: unknown): string {
  if (v instanceof Allowed) return v.qualname;
  if (v instanceof StorageRef) return `storage ${quoted(v.key)}`;
  if (v instanceof LazyTensor) return 'a tensor';
  if (Array.isArray(v)) return `(${v.slice(0, 6).map(brief).join(', ')}${v.length > 6 ? ', …' : ''})`;
  if (v instanceof Map) return `a dict of ${v.size}`;
  if (typeof v === 'string') return quoted(v, 40);
  if (Buffer.isBuffer(v)) return `${v.length} bytes`;
  return String(v);
}
