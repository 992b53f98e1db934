"""Reading checkpoint files without running code from them: PyTorch files (zip or legacy) through torch's own
weights_only loader or, where that refuses plain data (torch 1.13 rejects the floats of a trainer's `args`),
through an allow-list unpickler of ours; safetensors files read directly (no safetensors package needed).
Torch trusts a file's sizes: it inflates what a zip member says, allocates what a pickle says and reads a storage
past its record. So before torch reads anything, every size is checked against the bytes that hold it (zip members,
pickle lengths and memo, storages, tensors), and a damaged file is refused in one line that names the field."""
import inspect
import io
import json
import os
import pickle
import pickletools
import struct
import warnings
import zipfile
from collections import OrderedDict

import torch


class UnsafeCheckpoint(Exception):
    """The file is a real PyTorch checkpoint but holds a Python object that is not plain data."""


class NotACheckpoint(Exception):
    """The file is not a PyTorch checkpoint or safetensors file (or is truncated)."""


# A checkpoint's pickle holds its structure only, about 160 bytes a tensor (the fixture VAR's is 5 KB, its VAE's
# 52 KB; a d36 trainer checkpoint with its AdamW state and VAE stays under 1 MB): 64 MB is 64 times that and still
# small enough to hold whole, so a data.pkl past it is refused before a byte of it is inflated.
_MAX_PICKLE = 64 << 20
# torch.save stores every record (1:1) and real records deflate under 10:1; deflate cannot pass 1032:1. A member
# declared past 100:1 (or a stored one declared larger than it is) is a zip bomb or a lie about its size.
_MAX_RATIO = 100
_INT64 = 1 << 63


# The globals a pickle of tensors and plain containers may name; everything else is refused by name.
def _allowed_globals() -> dict:
    allowed = {
        ('collections', 'OrderedDict'): OrderedDict,
        ('torch', 'Size'): torch.Size,
        ('torch', 'Tensor'): torch.Tensor,
        ('torch._tensor', 'Tensor'): torch.Tensor,
        ('torch.nn.parameter', 'Parameter'): torch.nn.Parameter,
        ('builtins', 'set'): set,
        ('builtins', 'frozenset'): frozenset,
        ('torch.serialization', '_get_layout'): torch.serialization._get_layout,
    }
    # Protocol 2 pickles bytes as _codecs.encode(str, 'latin1'): a pure function of its arguments.
    import _codecs

    allowed[('_codecs', 'encode')] = _codecs.encode
    for name in (
        '_rebuild_tensor',
        '_rebuild_tensor_v2',
        '_rebuild_parameter',
        '_rebuild_parameter_with_state',
        '_rebuild_sparse_tensor',
        '_rebuild_meta_tensor_no_storage',
    ):
        if hasattr(torch._utils, name):
            allowed[('torch._utils', name)] = getattr(torch._utils, name)
    if hasattr(torch._tensor, '_rebuild_from_type_v2'):  # torch >= 2.0 wraps Parameters this way
        allowed[('torch._tensor', '_rebuild_from_type_v2')] = torch._tensor._rebuild_from_type_v2
    for ts in torch._storage_classes:
        allowed[(ts.__module__, ts.__name__)] = ts
    for dt in (
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.uint8,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.bool,
    ):
        allowed[('torch', str(dt).split('.')[-1])] = dt
    return allowed


class AllowListUnpickler(pickle.Unpickler):
    """pickle.Unpickler that resolves only the allow-listed globals: tensor and storage rebuilds, OrderedDict,
    set, torch.Size (dict, list, tuple, str, bytes, int, float, bool and None need no global)."""

    _allowed = None

    def find_class(self, module, name):
        if AllowListUnpickler._allowed is None:
            AllowListUnpickler._allowed = _allowed_globals()
        found = AllowListUnpickler._allowed.get((module, name))
        if found is None:
            raise UnsafeCheckpoint(f'{module}.{name}')
        return found


class _AllowListPickleModule:
    """The `pickle_module` handed to torch.load: our Unpickler, pickle's load for the legacy format's headers."""

    __name__ = 'varscope_allow_list_pickle'
    Unpickler = AllowListUnpickler

    @staticmethod
    def load(f, **kwargs):
        return AllowListUnpickler(f, **kwargs).load()


def file_kind(path: str) -> str:
    """'zip' (torch >= 1.6), 'torchscript', 'pickle' (legacy torch.save), 'safetensors', or 'unknown' from the bytes."""
    with open(path, 'rb') as f:
        head = f.read(16)
    size = os.path.getsize(path)
    if head[:4] == b'PK\x03\x04':
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        # ValueError: a name that is not the UTF-8 it claims; NotImplementedError: a zip version past Python's
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
            return 'truncated-zip'
        if any(n.endswith('/constants.pkl') for n in names) and any('/code/' in n for n in names):
            return 'torchscript'
        return 'zip' if any(n.endswith('data.pkl') for n in names) else 'other-zip'
    if len(head) >= 9:
        n = struct.unpack('<Q', head[:8])[0]
        if n >= 2 and head[8:9] == b'{':  # a length past the file is refused by _safetensors_header
            return 'safetensors'
    # A legacy torch.save starts with the pickled magic number: PROTO 2, then LONG1 of 0x1950a86a20f9469cfc6c.
    if head[:2] in (b'\x80\x02', b'\x80\x03', b'\x80\x04', b'\x80\x05') and head[2:4] == b'\x8a\x0a':
        return 'pickle'
    return 'unknown'


def load_torch(path: str):
    """torch.load on CPU with no code run: torch's weights_only where it accepts the file, else our allow-list.
    Torch reads nothing before the pickle, its storages and tensors are checked against the file (see peek).
    Raises NotACheckpoint or UnsafeCheckpoint (with the refused type)."""
    kind = file_kind(path)
    if kind == 'safetensors':
        return load_safetensors(path)
    if kind == 'torchscript':
        raise NotACheckpoint(
            'a TorchScript archive (torch.jit.save), not a checkpoint of weights; save the '
            'state_dict with torch.save(model.state_dict(), path)'
        )
    if kind == 'other-zip':
        raise NotACheckpoint('a zip archive, but not a PyTorch checkpoint (no data.pkl inside)')
    if kind == 'truncated-zip':
        raise NotACheckpoint('not a PyTorch checkpoint, truncated (the zip directory is unreadable)')
    if kind == 'unknown':
        raise NotACheckpoint('not a PyTorch checkpoint (neither a torch.save file nor safetensors)')
    _checked_structure(path, kind)
    params = inspect.signature(torch.load).parameters
    if 'weights_only' in params:
        # torch >= 2.1 maps the file instead of reading it: a trainer checkpoint's optimizer state is never paged in.
        mmap = {'mmap': True} if 'mmap' in params and kind == 'zip' else {}
        try:
            return torch.load(path, map_location='cpu', weights_only=True, **mmap)
        except pickle.UnpicklingError as e:
            if 'weights only' not in str(e).lower() and 'weights_only' not in str(e).lower():
                raise NotACheckpoint(_truncated(e)) from e
            # torch's own list is narrower than ours on some versions (1.13: no floats): try ours.
        except _DAMAGED as e:
            raise NotACheckpoint(_truncated(e)) from e
    try:
        return _load_allow_listed(path)
    except UnsafeCheckpoint:
        raise
    except (pickle.UnpicklingError,) + _DAMAGED as e:
        raise NotACheckpoint(_truncated(e)) from e


# What torch's readers raise on a damaged file (AssertionError: its persistent_load's checks).
_DAMAGED = (
    RuntimeError,
    EOFError,
    ValueError,
    OSError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    AssertionError,
    OverflowError,
)


def _load_allow_listed(path: str):
    """torch's own readers of both file formats, fed our Unpickler. NOTE: not torch.load(pickle_module=...): some
    torch 1.13 builds replace that argument with the stock pickle whenever weights_only is False."""
    ser = torch.serialization
    with open(path, 'rb') as f:
        if ser._is_zipfile(f):
            with ser._open_zipfile_reader(f) as z:
                return ser._load(z, 'cpu', _AllowListPickleModule, encoding='utf-8')
        return ser._legacy_load(f, 'cpu', _AllowListPickleModule, encoding='utf-8')


def _empty_tensor(*_args, **_kwargs):
    return torch.empty(0)


def peek(path: str):
    """The checkpoint's structure with every tensor empty, without reading the tensors' data: instant even for a
    checkpoint of many GB. The same refusals as load_torch."""
    kind = file_kind(path)
    if kind in ('zip', 'pickle'):
        return _checked_structure(path, kind)
    if kind == 'safetensors':
        with open(path, 'rb') as f:
            entries, _ = _safetensors_header(f, os.path.getsize(path))
        return OrderedDict((k, torch.empty(0)) for k in entries)
    return load_torch(path)  # the kinds load_torch refuses with their own message


def _checked_structure(path: str, kind: str):
    """A torch.save file's structure (every tensor empty) once its pickle, every storage it declares and every tensor
    built on them are checked against the bytes that hold them; no tensor data is read."""
    try:
        return _checked_zip(path) if kind == 'zip' else _checked_legacy(path)
    except (UnsafeCheckpoint, NotACheckpoint):
        raise
    except (pickle.UnpicklingError, zipfile.BadZipFile, struct.error, NotImplementedError) + _DAMAGED as e:
        raise NotACheckpoint(_truncated(e)) from e


def _checked_zip(path: str):
    """The zip format (torch >= 1.6): the directory checked before anything is inflated, data.pkl read once through
    a reader that stops at _MAX_PICKLE whatever its header says, each storage's bytes compared with its record's."""
    size = os.path.getsize(path)
    with zipfile.ZipFile(path) as z:
        pkl, records = _zip_directory(z, size)
        with z.open(pkl) as f:
            data = f.read(_MAX_PICKLE + 1)
    if len(data) > _MAX_PICKLE:
        raise NotACheckpoint(f'damaged PyTorch checkpoint: zip member {pkl.filename} inflates past {_MAX_PICKLE} bytes')
    return _unpickled(io.BytesIO(data), len(data), _CheckingUnpickler, records=records)[0]


def _zip_directory(z: zipfile.ZipFile, size: int):
    """The data.pkl member and {storage key: its record's bytes} of a torch.save zip, once no member can inflate
    past its declared size, past _MAX_RATIO, or (data.pkl) past _MAX_PICKLE, nor lie past the file's end."""
    infos = z.infolist()
    seen = set()
    for i in infos:
        where = f'zip member {i.filename}'
        if i.filename in seen:
            raise NotACheckpoint(f'damaged PyTorch checkpoint: {where} appears twice')
        seen.add(i.filename)
        if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise NotACheckpoint(
                f'damaged PyTorch checkpoint: {where} uses compression method {i.compress_type} '
                f'(torch reads stored and deflated members only)'
            )
        if i.header_offset + i.compress_size > size:
            raise NotACheckpoint(
                f'damaged PyTorch checkpoint: {where} declares {i.compress_size} bytes at offset {i.header_offset}, '
                f'past the end of the {size}-byte file'
            )
        if i.compress_type == zipfile.ZIP_STORED and i.file_size != i.compress_size:
            raise NotACheckpoint(
                f'damaged PyTorch checkpoint: {where} is stored ({i.compress_size} bytes) '
                f'but declares {i.file_size} bytes'
            )
        if i.file_size > max(i.compress_size * _MAX_RATIO, 1 << 20):  # small members may deflate further
            raise NotACheckpoint(
                f'damaged PyTorch checkpoint (a zip bomb?): {where} declares {i.file_size} bytes inflated from '
                f'{i.compress_size}, past the {_MAX_RATIO}:1 a checkpoint compresses'
            )
    # torch looks every record up in the folder of the archive's first member (PyTorchStreamReader's archive name).
    prefix = infos[0].filename.split('/')[0] + '/' if infos else ''
    pkl = {i.filename: i for i in infos}.get(prefix + 'data.pkl')
    if pkl is None:
        raise NotACheckpoint(f'damaged PyTorch checkpoint: no zip member {prefix}data.pkl')
    if pkl.file_size > _MAX_PICKLE:
        raise NotACheckpoint(
            f'damaged PyTorch checkpoint: zip member {pkl.filename} declares {pkl.file_size} bytes, past the '
            f'{_MAX_PICKLE} a checkpoint\'s pickle holds'
        )
    folder = prefix + 'data/'
    records = {i.filename[len(folder) :]: i.file_size for i in infos if i.filename.startswith(folder)}
    return pkl, records


def _checked_legacy(path: str):
    """The legacy format (torch.save before 1.6): its headers, its pickle, then every storage it lists, each an 8-byte
    element count and the data, checked against the pickle's storages and the file's end without reading the data."""
    size = os.path.getsize(path)
    ser = torch.serialization
    with open(path, 'rb') as f:
        if _unpickled(f, size)[0] != ser.MAGIC_NUMBER:
            raise NotACheckpoint('not a PyTorch checkpoint (a legacy torch.save file without its magic number)')
        version = _unpickled(f, size)[0]
        if version != ser.PROTOCOL_VERSION:
            raise NotACheckpoint(f'damaged PyTorch checkpoint: legacy protocol version {_brief(version)}')
        _unpickled(f, size)  # system info
        result, unpickler = _unpickled(f, size, _CheckingUnpickler, file_size=size)
        keys = _unpickled(f, size)[0]
        if (
            not isinstance(keys, list)
            or not all(isinstance(k, str) for k in keys)
            or sorted(keys) != sorted(unpickler.storages)
        ):
            raise NotACheckpoint(
                f'damaged PyTorch checkpoint: the storages listed after the pickle ({_brief(keys)}) are not the '
                f'{len(unpickler.storages)} it declares'
            )
        for key in keys:
            ref = unpickler.storages[key]
            head = f.read(8)
            numel = struct.unpack('<q', head)[0] if len(head) == 8 else None
            if numel != ref.numel:
                raise NotACheckpoint(
                    f'damaged PyTorch checkpoint: storage {key!r} declares {ref.numel} {_dtype_name(ref.dtype)} '
                    f'elements but the file holds {"no count" if numel is None else numel}'
                )
            end = f.tell() + ref.nbytes
            if end > size:
                raise NotACheckpoint(
                    f'damaged PyTorch checkpoint: storage {key!r} ({ref.nbytes} bytes) ends at byte {end} '
                    f'of a {size}-byte file'
                )
            f.seek(end)
    return result


def _unpickled(f, size: int, unpickler=AllowListUnpickler, **kwargs):
    """(the object, the unpickler) of the pickle at f's position in a file of `size` bytes, once its opcodes are
    walked: pickletools reads every counted length from the bytes that remain (C's unpickler allocates what a
    length says before reading it), and memo indices must come in turn, as a pickler writes them (C's unpickler
    sizes its memo by the largest index: 5 bytes can ask for 32 GB)."""
    start, stores = f.tell(), 0
    for op, arg, pos in pickletools.genops(_Capped(f, size)):
        if op.name in ('PUT', 'BINPUT', 'LONG_BINPUT', 'MEMOIZE'):
            index = stores if op.name == 'MEMOIZE' else arg
            if index > stores:
                raise NotACheckpoint(
                    f'damaged PyTorch checkpoint: its pickle stores memo entry {index} after {stores} (byte {pos})'
                )
            stores += 1
    f.seek(start)
    u = unpickler(f, encoding='utf-8', **kwargs)
    return u.load(), u


class _Capped:
    """f's read() asked for no more than the file holds (BufferedReader allocates whatever it is asked for)."""

    def __init__(self, f, size: int):
        self._f, self._size = f, size

    def read(self, n: int = -1) -> bytes:
        left = max(self._size - self._f.tell(), 0)
        return self._f.read(left if n is None or n < 0 else min(n, left))

    def readline(self) -> bytes:
        return self._f.readline()

    def tell(self) -> int:
        return self._f.tell()


class _StorageRef:
    """A storage as the pickle declares it: checked against the bytes that hold it, never read."""

    def __init__(self, key: str, dtype: torch.dtype, numel: int):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.nbytes = numel * torch._utils._element_size(dtype)


class _CheckingUnpickler(AllowListUnpickler):
    """The allow-list, with every storage the pickle declares checked against the bytes that hold it (a zip record,
    or the legacy file's end) and every tensor against its storage; tensors come back empty, no data is read."""

    def __init__(self, f, records: dict = None, file_size: int = None, **kwargs):
        super().__init__(f, **kwargs)
        self._records = records  # zip: {key: the bytes of its record}; legacy: None, the storages follow the pickle
        self._file_size = file_size
        self.storages = {}  # key -> _StorageRef (legacy: the root storages, which the file lists after the pickle)
        self._views = {}

    def find_class(self, module, name):
        found = super().find_class(module, name)
        if module == 'torch._utils' and name in ('_rebuild_tensor', '_rebuild_tensor_v2'):
            return self._tensor
        if module == 'torch._tensor' and name == '_rebuild_from_type_v2':
            return self._from_type
        if module == 'torch._utils' and name.startswith('_rebuild'):
            return _empty_tensor  # parameters, sparse and meta tensors: built of tensors checked on their own
        return found

    def persistent_load(self, pid):
        legacy = self._records is None
        # zip: ('storage', type, key, location, numel); legacy: the same and view_metadata
        if not isinstance(pid, tuple) or len(pid) != 5 + legacy or pid[0] not in ('storage', b'storage'):
            raise NotACheckpoint(f'damaged PyTorch checkpoint: a persistent id that is no storage ({_brief(pid)})')
        storage_type, key, numel = pid[1], pid[2], pid[4]
        if not isinstance(key, str):
            raise NotACheckpoint(f'damaged PyTorch checkpoint: a storage key {_brief(key)} that is no string')
        dtype = _storage_dtype(storage_type)
        if dtype is None:
            raise NotACheckpoint(f'damaged PyTorch checkpoint: storage {key!r} of type {_brief(storage_type)}')
        if type(numel) is not int or numel < 0:
            raise NotACheckpoint(f'damaged PyTorch checkpoint: storage {key!r} declares {_brief(numel)} elements')
        ref = _StorageRef(key, dtype, numel)
        have = self._file_size if legacy else self._records.get(key)
        if have is None:
            raise NotACheckpoint(f'damaged PyTorch checkpoint: storage {key!r} has no record data/{key}')
        # A zip record holds its storage exactly; a legacy storage is checked exactly once the pickle is read.
        wrong = ref.nbytes > have if legacy else ref.nbytes != have
        where = f'more than the whole {have}-byte file' if legacy else f'but its record data/{key} holds {have}'
        if wrong:
            raise NotACheckpoint(
                f'damaged PyTorch checkpoint: storage {key!r} declares {numel} {_dtype_name(dtype)} elements '
                f'({ref.nbytes} bytes), {where}'
            )
        known = self.storages.setdefault(key, ref)
        if (known.dtype, known.numel) != (dtype, numel):
            raise NotACheckpoint(
                f'damaged PyTorch checkpoint: storage {key!r} declared as {known.numel} {_dtype_name(known.dtype)} '
                f'and as {numel} {_dtype_name(dtype)} elements'
            )
        if legacy and pid[5] is not None:
            return self._view(known, pid[5])
        return known

    def _view(self, root: _StorageRef, view):
        """A legacy storage view (view_key, offset, size), which must lie inside its root storage."""
        if not isinstance(view, tuple) or len(view) != 3 or not _sizes(view[1:]) or not isinstance(view[0], str):
            raise NotACheckpoint(f'damaged PyTorch checkpoint: storage {root.key!r} has a view {_brief(view)}')
        key, offset, numel = view
        if offset + numel > root.numel:
            raise NotACheckpoint(
                f'damaged PyTorch checkpoint: view {key!r} of elements {offset}..{offset + numel} of storage '
                f'{root.key!r}, which holds {root.numel}'
            )
        return self._views.setdefault(key, _StorageRef(key, root.dtype, numel))

    def _tensor(self, storage, storage_offset, size, stride, *_rest):
        """torch._utils._rebuild_tensor(_v2): a tensor of `size` and `stride` from `storage_offset` of `storage`."""
        if not isinstance(storage, _StorageRef):
            raise NotACheckpoint(f'damaged PyTorch checkpoint: a tensor built on {_brief(storage)}, not a storage')
        where = f'a tensor of size {_brief(_plain(size))}, stride {_brief(_plain(stride))}'
        where += f' at offset {_brief(storage_offset)}'
        if not (_sizes(size) and _sizes(stride) and len(size) == len(stride) and _sizes((storage_offset,))):
            raise NotACheckpoint(f'damaged PyTorch checkpoint: {where} of storage {storage.key!r}')
        count = _numel(size)
        end = 0 if not count else storage_offset + 1 + sum((n - 1) * s for n, s in zip(size, stride))
        if count is None or max(end, storage_offset) > storage.numel:
            raise NotACheckpoint(
                f'damaged PyTorch checkpoint: {where} reaches element {max(end, storage_offset)} of storage '
                f'{storage.key!r}, which holds {storage.numel}'
            )
        return torch.empty(0)

    def _from_type(self, func, new_type, args, state):
        """torch._tensor._rebuild_from_type_v2 (torch >= 2.0 wraps tensors in it): the tensor func builds."""
        ours = func is _empty_tensor or getattr(func, '__self__', None) is self  # what find_class gave
        return func(*args) if ours else torch.empty(0)


_STORAGE_DTYPES = {}


def _storage_dtype(storage_type):
    """The dtype of a storage class (UntypedStorage: bytes), None for anything else."""
    if storage_type is torch.UntypedStorage:
        return torch.uint8
    if not isinstance(storage_type, type):
        return None
    if storage_type not in _STORAGE_DTYPES:
        with warnings.catch_warnings():  # NOTE: torch 2 warns that the typed storage classes are deprecated
            warnings.simplefilter('ignore')
            dtype = getattr(storage_type, 'dtype', None)
        _STORAGE_DTYPES[storage_type] = dtype if isinstance(dtype, torch.dtype) else None
    return _STORAGE_DTYPES[storage_type]


def _sizes(values) -> bool:
    """Whether values is a sequence of non-negative int64s (a tensor's size, stride or offset)."""
    return isinstance(values, (tuple, list)) and all(type(v) is int and 0 <= v < _INT64 for v in values)


def _plain(values):
    """A torch.Size or tuple as the list it reads as in a message."""
    return list(values) if isinstance(values, (tuple, list)) else values


def _numel(sizes):
    """The product of sizes, or None where it passes an int64 with its zeros left out (torch refuses that shape)."""
    count, nonzero = 1, 1
    for n in sizes:
        count, nonzero = count * n, nonzero * max(n, 1)
        if nonzero >= _INT64:
            return None
    return count


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).split('.')[-1]


def _brief(value) -> str:
    """repr(value) cut to one short line: what a refusal quotes of a damaged file."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + '...'


def _truncated(e: Exception) -> str:
    first = str(e).splitlines()[0] if str(e) else ''
    return f'not a PyTorch checkpoint, truncated or damaged ({type(e).__name__}{": " + first[:200] if first else ""})'


# safetensors dtype names -> torch dtypes.
_ST_DTYPES = {
    'F64': torch.float64,
    'F32': torch.float32,
    'F16': torch.float16,
    'BF16': torch.bfloat16,
    'I64': torch.int64,
    'I32': torch.int32,
    'I16': torch.int16,
    'I8': torch.int8,
    'U8': torch.uint8,
    'BOOL': torch.bool,
}
_MAX_HEADER = 100 << 20


def load_safetensors(path: str) -> 'OrderedDict[str, torch.Tensor]':
    """A safetensors file: 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
    then the raw little-endian data. Every offset and size is checked against the file."""
    with open(path, 'rb') as f:
        entries, data_size = _safetensors_header(f, os.path.getsize(path))
        data = bytearray(data_size)
        if f.readinto(data) != len(data):
            raise NotACheckpoint('safetensors file truncated')
    out = OrderedDict()
    for name, (dtype, shape, begin, count) in entries.items():
        t = torch.frombuffer(data, dtype=dtype, count=count, offset=begin) if count else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(shape)
    return out


def _safetensors_header(f, size: int):
    """The checked header of a safetensors file open at its start: ({name: (dtype, shape, offset, count)}, data bytes).
    As the format requires, the tensors' offsets cover the data section exactly: in order, no gap, no overlap."""
    head = f.read(8)
    if len(head) < 8:
        raise NotACheckpoint(f'not a safetensors file (no 8-byte header length in a {size}-byte file)')
    n = struct.unpack('<Q', head)[0]
    if n > min(_MAX_HEADER, size - 8):
        raise NotACheckpoint(f'not a safetensors file (header length {n} for a {size}-byte file)')
    try:
        header = json.loads(f.read(n).decode('utf-8'))
    except RecursionError as e:  # a real header nests three deep: {name: {"shape": [...]}}
        raise NotACheckpoint('not a safetensors file (its header is nested too deeply)') from e
    except (UnicodeDecodeError, ValueError) as e:
        raise NotACheckpoint(f'not a safetensors file (header is not JSON: {e})') from e
    if not isinstance(header, dict):
        raise NotACheckpoint('not a safetensors file (header is not a JSON object)')
    data_size = size - 8 - n
    entries = OrderedDict()
    spans = []
    for name, info in header.items():
        if name == '__metadata__':
            continue
        dtype, shape, begin, count = entries[name] = _safetensors_entry(name, info, data_size)
        spans.append((begin, begin + count * torch.empty((), dtype=dtype).element_size(), name))
    at, previous = 0, None
    for begin, end, name in sorted(spans):
        if begin != at:
            raise NotACheckpoint(
                f'safetensors tensor {_brief(name)}: offsets {begin}..{end} '
                + (f'overlap those of {_brief(previous)}' if begin < at else f'leave bytes {at}..{begin} unused')
            )
        at, previous = end, name
    if at != data_size:
        raise NotACheckpoint(f'safetensors data section: bytes {at}..{data_size} belong to no tensor')
    return entries, data_size


def _safetensors_entry(name: str, info, data_size: int):
    """One tensor's header entry, checked: (dtype, shape, offset, count)."""
    where = f'safetensors tensor {_brief(name)}'
    if not isinstance(info, dict):
        raise NotACheckpoint(f'{where}: its header entry is {_brief(info)}, not an object')
    dtype = info.get('dtype')
    if not isinstance(dtype, str) or dtype not in _ST_DTYPES:
        raise NotACheckpoint(f'{where}: dtype {_brief(dtype)} is none of {", ".join(_ST_DTYPES)}')
    shape, offsets = info.get('shape'), info.get('data_offsets')
    if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
        raise NotACheckpoint(f'{where}: shape {_brief(shape)} is not a list of sizes')
    if not _sizes(offsets) or len(offsets) != 2:
        raise NotACheckpoint(f'{where}: data_offsets {_brief(offsets)} is not [begin, end]')
    count = _numel(shape)
    if count is None:
        raise NotACheckpoint(f'{where}: shape {_brief(shape)} holds more elements than a tensor can')
    begin, end = offsets
    itemsize = torch.empty((), dtype=_ST_DTYPES[dtype]).element_size()
    if not begin <= end <= data_size or end - begin != count * itemsize:
        raise NotACheckpoint(
            f'{where}: offsets {begin}..{end} do not hold {_brief(shape)} {dtype} '
            f'inside the {data_size}-byte data section'
        )
    return _ST_DTYPES[dtype], shape, begin, count


def save_safetensors(tensors: dict, path: str, metadata: dict = None) -> None:
    """Write a safetensors file (tests and tools; the same layout the safetensors package writes)."""
    names = {v: k for k, v in _ST_DTYPES.items()}
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b''
        header[name] = {'dtype': names[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % 8)  # the package pads the header to 8 bytes
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
