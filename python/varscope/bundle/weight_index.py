"""Checkpoints that point into a bundle's weights file instead of copying it.

An index (JSON) says, for each tensor of a flat checkpoint (a state_dict, possibly with plain entries), where its exact
bytes lie in the bundle's weights.bin: offset, dtype, shape, and whether the file holds it transposed (torch.onnx
stores Linear weights as their transpose). What is not there byte for byte (small tensors the graphs keep inline,
buffers, non-tensor entries) goes whole into one leftover .pth beside the index. Reading it back gives every entry
bit for bit as written. bench/gpu-check.sh ships the default model's PyTorch checkpoints this way, so that its archive
carries the weights once.

    write_index({'vae': vae_sd, 'var': var_sd}, 'models/emoji64-d4/weights.bin', 'DIR/index.json')
    read_index('DIR/index.json')  # -> {'vae': {...}, 'var': {...}}
"""
import hashlib
import json
import os
from typing import Dict, Optional

import numpy as np
import torch

from ..atomic import atomic_path
from ..hashing import sha256_of
from .safe_load import NotACheckpoint, UnsafeCheckpoint, load_torch

FORMAT = 'varscope-weight-index'
Checkpoints = Dict[str, dict]  # name ('vae', 'var') -> flat checkpoint (key -> tensor or plain value)


class WeightIndexError(Exception):
    """An index that cannot be read back (missing or changed weights file, bad leftover), with the reason."""


def _find(data: bytes, raw: bytes, align: int) -> int:
    """Offset of the first occurrence of `raw` in `data` at a multiple of `align`, or -1."""
    off = data.find(raw)
    while off >= 0 and off % align:
        off = data.find(raw, off + 1)
    return off


def locate(value, data: bytes) -> Optional[dict]:
    """{offset, dtype, shape, transposed} of a tensor whose exact bytes lie in `data` (as stored, or for a matrix
    its transpose), or None."""
    if not isinstance(value, torch.Tensor) or value.numel() == 0:
        return None
    value = value.detach().cpu()
    variants = [(value, False)] + ([(value.t(), True)] if value.dim() == 2 else [])
    for v, transposed in variants:
        try:
            arr = v.contiguous().numpy()
        except TypeError:  # a dtype numpy lacks (bfloat16)
            return None
        off = _find(data, arr.tobytes(), arr.dtype.itemsize)
        if off >= 0:
            return {'offset': off, 'dtype': arr.dtype.str, 'shape': list(value.shape), 'transposed': transposed}
    return None


def write_index(checkpoints: Checkpoints, weights_path: str, index_path: str) -> dict:
    """Write index_path (JSON) and its leftover .pth beside it; returns counts and bytes of what each holds."""
    with open(weights_path, 'rb') as f:
        data = f.read()
    leftover_path = os.path.splitext(index_path)[0] + '.leftover.pth'
    entries: Dict[str, dict] = {}
    leftover: Checkpoints = {}
    indexed_bytes = 0
    for name, ckpt in checkpoints.items():
        entries[name] = {}
        leftover[name] = {}
        for key, value in ckpt.items():
            entry = locate(value, data)
            entries[name][key] = entry  # None: in the leftover (kept here so that the order of keys is kept)
            if entry is None:
                leftover[name][key] = value
            else:
                indexed_bytes += value.numel() * value.element_size()
    with atomic_path(leftover_path) as tmp:
        torch.save(leftover, tmp)
    index = {
        'format': FORMAT,
        'version': 1,
        'weights': os.path.relpath(os.path.abspath(weights_path), os.path.dirname(os.path.abspath(index_path))),
        'weightsBytes': len(data),
        'weightsSha256': hashlib.sha256(data).hexdigest(),
        'leftover': os.path.basename(leftover_path),
        'checkpoints': entries,
    }
    with atomic_path(index_path) as tmp:
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(index, f)
    return {
        'indexed': sum(e is not None for c in entries.values() for e in c.values()),
        'indexedBytes': indexed_bytes,
        'leftover': sum(len(c) for c in leftover.values()),
        'leftoverBytes': os.path.getsize(leftover_path),
    }


def read_index(index_path: str) -> Checkpoints:
    """The checkpoints of an index: tensors copied out of the weights file it names (checked by size and sha256
    first), the rest from its leftover, in the order they were written."""
    try:
        with open(index_path, encoding='utf-8') as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        raise WeightIndexError(f'{index_path}: cannot read the index ({e})') from e
    if not isinstance(index, dict) or index.get('format') != FORMAT:
        raise WeightIndexError(f'{index_path}: not a weight index (no "format": "{FORMAT}")')
    here = os.path.dirname(os.path.abspath(index_path))
    weights = os.path.join(here, index['weights'])
    if not os.path.isfile(weights):
        raise WeightIndexError(f'{index_path}: its weights file {weights} is missing')
    if os.path.getsize(weights) != index['weightsBytes'] or sha256_of(weights) != index['weightsSha256']:
        raise WeightIndexError(f'{index_path}: {weights} is not the weights file the index was made from (sha256)')
    try:
        leftover = load_torch(os.path.join(here, index['leftover']))
    except (NotACheckpoint, UnsafeCheckpoint, OSError) as e:
        raise WeightIndexError(f'{index_path}: cannot read its leftover {index["leftover"]} ({e})') from e
    mm = np.memmap(weights, dtype=np.uint8, mode='r')
    out: Checkpoints = {}
    for name, entries in index['checkpoints'].items():
        out[name] = {}
        for key, e in entries.items():
            if e is None:
                if key not in leftover.get(name, {}):
                    raise WeightIndexError(f'{index_path}: {name} {key} is in neither the weights nor the leftover')
                out[name][key] = leftover[name][key]
                continue
            shape = list(reversed(e['shape'])) if e['transposed'] else e['shape']
            a = np.frombuffer(mm, dtype=np.dtype(e['dtype']), count=int(np.prod(shape)), offset=e['offset'])
            a = a.reshape(shape)
            out[name][key] = torch.from_numpy(np.array(a.T if e['transposed'] else a, order='C'))  # a copy
    del mm
    return out
