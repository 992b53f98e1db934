"""Reading checkpoint files without running code from them: PyTorch files (zip or legacy) through torch's own
weights_only loader or, where that refuses plain data (torch 1.13 rejects the floats of a trainer's `args`),
through an allow-list unpickler of ours; safetensors files read directly (no safetensors package needed)."""
import inspect
import io
import json
import os
import pickle
import struct
import zipfile
from collections import OrderedDict

import torch


class UnsafeCheckpoint(Exception):
    """The file is a real PyTorch checkpoint but holds a Python object that is not plain data."""


class NotACheckpoint(Exception):
    """The file is not a PyTorch checkpoint or safetensors file (or is truncated)."""


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
        except (zipfile.BadZipFile, OSError):
            return 'truncated-zip'
        if any(n.endswith('/constants.pkl') for n in names) and any('/code/' in n for n in names):
            return 'torchscript'
        return 'zip' if any(n.endswith('data.pkl') for n in names) else 'other-zip'
    if len(head) >= 9:
        n = struct.unpack('<Q', head[:8])[0]
        if 2 <= n <= size - 8 and head[8:9] == b'{':
            return 'safetensors'
    # A legacy torch.save starts with the pickled magic number: PROTO 2, then LONG1 of 0x1950a86a20f9469cfc6c.
    if head[:2] in (b'\x80\x02', b'\x80\x03', b'\x80\x04', b'\x80\x05') and head[2:4] == b'\x8a\x0a':
        return 'pickle'
    return 'unknown'


def load_torch(path: str):
    """torch.load on CPU with no code run: torch's weights_only where it accepts the file, else our allow-list.
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
        except (RuntimeError, EOFError, ValueError, OSError, KeyError, IndexError, TypeError, AttributeError) as e:
            raise NotACheckpoint(_truncated(e)) from e
    try:
        return _load_allow_listed(path)
    except UnsafeCheckpoint:
        raise
    except (
        pickle.UnpicklingError,
        RuntimeError,
        EOFError,
        ValueError,
        OSError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
    ) as e:
        raise NotACheckpoint(_truncated(e)) from e


def _load_allow_listed(path: str):
    """torch's own readers of both file formats, fed our Unpickler. NOTE: not torch.load(pickle_module=...): some
    torch 1.13 builds replace that argument with the stock pickle whenever weights_only is False."""
    ser = torch.serialization
    with open(path, 'rb') as f:
        if ser._is_zipfile(f):
            with ser._open_zipfile_reader(f) as z:
                return ser._load(z, 'cpu', _AllowListPickleModule, encoding='utf-8')
        return ser._legacy_load(f, 'cpu', _AllowListPickleModule, encoding='utf-8')


class _PeekUnpickler(AllowListUnpickler):
    """The allow-list, but every tensor comes back empty and no storage is read: the structure and key names only."""

    def find_class(self, module, name):
        found = super().find_class(module, name)
        if module in ('torch._utils', 'torch._tensor') and name.startswith('_rebuild'):
            return _empty_tensor
        return found

    def persistent_load(self, pid):
        return None


def _empty_tensor(*_args, **_kwargs):
    return torch.empty(0)


def peek(path: str):
    """The checkpoint's structure with every tensor empty, without reading the tensors' data: instant even for a
    checkpoint of many GB. The same refusals as load_torch."""
    kind = file_kind(path)
    try:
        if kind == 'zip':
            with zipfile.ZipFile(path) as z:
                name = next(n for n in z.namelist() if n.endswith('data.pkl'))
                return _PeekUnpickler(io.BytesIO(z.read(name)), encoding='utf-8').load()
        if kind == 'pickle':
            with open(path, 'rb') as f:
                for _ in range(3):  # magic number, protocol version, system info
                    AllowListUnpickler(f, encoding='utf-8').load()
                return _PeekUnpickler(f, encoding='utf-8').load()
        if kind == 'safetensors':
            with open(path, 'rb') as f:
                entries, _ = _safetensors_header(f, os.path.getsize(path))
            return OrderedDict((k, torch.empty(0)) for k in entries)
    except (UnsafeCheckpoint, NotACheckpoint):
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        OSError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
        StopIteration,
        zipfile.BadZipFile,
        UnicodeDecodeError,
    ) as e:
        raise NotACheckpoint(_truncated(e)) from e
    return load_torch(path)  # the kinds load_torch refuses with their own message


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
    """The checked header of a safetensors file open at its start: ({name: (dtype, shape, offset, count)}, data bytes)."""
    n = struct.unpack('<Q', f.read(8))[0]
    if n > min(_MAX_HEADER, size - 8):
        raise NotACheckpoint(f'not a safetensors file (header length {n} for a {size}-byte file)')
    try:
        header = json.loads(f.read(n).decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as e:
        raise NotACheckpoint(f'not a safetensors file (header is not JSON: {e})') from e
    if not isinstance(header, dict):
        raise NotACheckpoint('not a safetensors file (header is not a JSON object)')
    data_size = size - 8 - n
    entries = OrderedDict()
    for name, info in header.items():
        if name == '__metadata__':
            continue
        try:
            dtype = _ST_DTYPES[info['dtype']]
            shape = [int(s) for s in info['shape']]
            begin, end = (int(v) for v in info['data_offsets'])
        except (KeyError, TypeError, ValueError) as e:
            raise NotACheckpoint(f'safetensors header entry {name!r} is malformed ({e!r})') from e
        count = 1
        for s in shape:
            count *= s
        itemsize = torch.empty((), dtype=dtype).element_size()
        if min(shape, default=0) < 0 or not 0 <= begin <= end <= data_size or end - begin != count * itemsize:
            raise NotACheckpoint(
                f'safetensors tensor {name!r}: offsets {begin}..{end} do not hold {shape} '
                f'{info["dtype"]} inside the {data_size}-byte data section'
            )
        entries[name] = (dtype, shape, begin, count)
    return entries, data_size


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
