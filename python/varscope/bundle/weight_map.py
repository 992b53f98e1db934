"""A bundle's weight map (weightMap.json), which makes every bundle the template of its architecture.

For every byte region of the bundle's per-checkpoint files (weights.bin, codebook.bin, trainingHits.bin) the map says
where its bytes come from: a checkpoint tensor (role 'vae' or 'var' and its canonical key, as checkpoint.py loads it),
stored with `dtype` and `shape`, read through a view (`strides` and `start`, in elements of the tensor's row-major
layout; absent for a plain copy or reshape) and rounded to float16 first where `via` says so; or a constant of the
architecture (interpolation matrices, LayerNorm ones and zeros), whose bytes are the template's own at that offset.
Bytes between regions are zero (64-byte alignment). The layout depends on the architecture alone, never on the
weights' values, so the template plus a second checkpoint gives the bytes a full export of that checkpoint gives.

    {"format": "varscope-weight-map", "version": 1, "key": "<template key>",
     "checkpoints": {"vae": {"required": {key: shape}, "optional": [key]}, "var": {...}},
     "files": {"weights.bin": {"bytes": N, "regions": [
         {"offset": 0, "bytes": 4096, "dtype": "float32", "shape": [32, 32],
          "source": {"role": "var", "key": "blocks.0.attn.proj.weight", "strides": [1, 32], "start": 0}},
         {"offset": 4096, "bytes": 64, "dtype": "float32", "shape": [16], "constant": true}, ...]}, ...},
     "manifestFields": ["id", "name", ...]}
"""
import hashlib
import json
import os
from dataclasses import asdict
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import torch

from .. import EXPORTER_VERSION
from .checkpoint import STRUCTURAL, LoadedModels, VaeConfig, VarConfig

FORMAT = 'varscope-weight-map'
VERSION = 1
FILE = 'weightMap.json'
HITS_KEY = 'quantize.ema_vocab_hit_SV'
CODEBOOK_KEY = 'quantize.embedding.weight'
# varscope.json fields that name one checkpoint or one export run: a bundle written from a template fills these
# itself (files: the hashes of what it wrote); every other field is the template's.
MANIFEST_FIELDS = (
    'id',
    'name',
    'description',
    'classes',
    'sampling',
    'files',
    'provenance.sources',
    'provenance.training',
    'provenance.exportedAt',
    'provenance.verification',
)


def template_facts(vae_cfg: VaeConfig, var_cfg: VarConfig, fp16: bool) -> dict:
    """What fixes a bundle's graphs and weight layout: the inferred VaeConfig and VarConfig, the patch numbers, the
    float16 option and the exporter version (a shipped template keeps them, so a test can recompute its key)."""
    return {
        'vae': asdict(vae_cfg),
        'var': asdict(var_cfg),
        'patchNums': list(var_cfg.patch_nums),
        'fp16': bool(fp16),
        'exporter': EXPORTER_VERSION,
    }


def template_key(vae_cfg: VaeConfig, var_cfg: VarConfig, fp16: bool) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces) of template_facts."""
    facts = template_facts(vae_cfg, var_cfg, fp16)
    return hashlib.sha256(json.dumps(facts, sort_keys=True, separators=(',', ':')).encode()).hexdigest()


def _storage_ptr(t: torch.Tensor) -> int:
    return (t.untyped_storage() if hasattr(t, 'untyped_storage') else t.storage()).data_ptr()


class Origin(NamedTuple):
    """A checkpoint tensor as the model holds it: role, canonical key, the tensor, and whether the export rounded it
    to float16 values (the --fp16 export rounds every parameter)."""

    role: str
    key: str
    tensor: torch.Tensor
    rounded: bool


class Origins:
    """The checkpoint tensors of a loaded model pair, found by their memory: the weights torch.onnx hands the graph
    are these tensors or views of them (a folded transpose or reshape), never copies."""

    def __init__(self, m: LoadedModels, fp16: bool):
        self.by_storage: Dict[int, List[Origin]] = {}
        self.required: Dict[str, Dict[str, List[int]]] = {}
        self.optional: Dict[str, List[str]] = {}
        for role, module in (('vae', m.vae), ('var', m.var)):
            params = {id(p) for p in module.parameters()}
            self.required[role], self.optional[role] = {}, []
            for key, t in module.state_dict(keep_vars=True).items():
                # structural buffers follow from the architecture; training hits of another pyramid are not used
                if STRUCTURAL.match(key) if role == 'var' else key == HITS_KEY and not m.has_hits:
                    self.optional[role].append(key)
                    continue
                self.required[role][key] = list(t.shape)
                origin = Origin(role, key, t.detach(), fp16 and id(t) in params)
                self.by_storage.setdefault(_storage_ptr(t), []).append(origin)

    def source(self, t: torch.Tensor) -> Optional[Tuple[dict, Origin]]:
        """({role, key[, strides, start]}, origin) of a tensor that is a checkpoint tensor or a view of one, or None."""
        t = t.detach()
        if t.numel() == 0:
            return None
        for o in self.by_storage.get(_storage_ptr(t), []):
            if o.tensor.dtype != t.dtype or not o.tensor.is_contiguous():
                continue
            start = t.storage_offset() - o.tensor.storage_offset()
            last = start + sum((n - 1) * s for n, s in zip(t.shape, t.stride()))
            if start < 0 or last >= o.tensor.numel() or any(s < 0 for s in t.stride()):
                continue
            src = {'role': o.role, 'key': o.key}
            if not (t.is_contiguous() and start == 0 and t.numel() == o.tensor.numel()):
                src.update(strides=list(t.stride()), start=start)
            return src, o
        return None


def region(offset: int, nbytes: int, dtype: np.dtype, shape: List[int], source: Optional[dict]) -> dict:
    """One region entry of the map: where the bytes lie, as what, and from where (None: a constant)."""
    entry = {'offset': offset, 'bytes': nbytes, 'dtype': dtype.name, 'shape': shape}
    if source is None:
        entry['constant'] = True
    else:
        entry['source'] = source
    return entry


def build_map(key: str, origins: Origins, weights: Tuple[int, List[dict]], m: LoadedModels, fp16: bool) -> dict:
    """The map of a bundle whose weights.bin holds `weights` (its size and regions, from the WeightStore) and whose
    codebook.bin and trainingHits.bin export.py writes from the model (float32 each)."""
    codebook = m.vae.quantize.embedding.weight
    files = {
        'weights.bin': {'bytes': weights[0], 'regions': weights[1]},
        'codebook.bin': {
            'bytes': codebook.numel() * 4,
            'regions': [
                {
                    'offset': 0,
                    'bytes': codebook.numel() * 4,
                    'dtype': 'float32',
                    'shape': list(codebook.shape),
                    'source': dict({'role': 'vae', 'key': CODEBOOK_KEY}, **({'via': 'float16'} if fp16 else {})),
                }
            ],
        },
    }
    if m.has_hits:
        hits = m.vae.quantize.ema_vocab_hit_SV
        files['trainingHits.bin'] = {
            'bytes': hits.numel() * 4,
            'regions': [
                {
                    'offset': 0,
                    'bytes': hits.numel() * 4,
                    'dtype': 'float32',
                    'shape': list(hits.shape),
                    'source': {'role': 'vae', 'key': HITS_KEY},
                }
            ],
        }
    return {
        'format': FORMAT,
        'version': VERSION,
        'key': key,
        'checkpoints': {
            role: {'required': origins.required[role], 'optional': origins.optional[role]} for role in ('vae', 'var')
        },
        'files': files,
        'manifestFields': list(MANIFEST_FIELDS),
    }


def unplaced_keys(wmap: dict) -> Dict[str, List[str]]:
    """The checkpoint keys no region of the map copies, per role: tensors torch merged into another of equal value
    (torch.onnx deduplicates initializers by value), so the graphs read one tensor where another checkpoint has two."""
    placed = {
        (r['source']['role'], r['source']['key']) for f in wmap['files'].values() for r in f['regions'] if 'source' in r
    }
    lost = {role: [k for k in c['required'] if (role, k) not in placed] for role, c in wmap['checkpoints'].items()}
    return {role: keys for role, keys in lost.items() if keys}


def write_map(out_dir: str, m: LoadedModels, store, origins: Origins, fp16: bool) -> Optional[str]:
    """out_dir/weightMap.json of an export whose weights `store` (the WeightStore) holds; returns the template key, or
    None (and writes no map) when the export cannot serve another checkpoint: some of its tensors were merged."""
    key = template_key(m.vae_cfg, m.var_cfg, fp16)
    wmap = build_map(key, origins, (store.size, store.regions), m, fp16)
    lost = unplaced_keys(wmap)
    if lost:
        first = next(iter(lost.values()))[0]
        count = sum(len(v) for v in lost.values())
        print(
            f'note: this bundle is no architecture template: {count} of its tensors ({first}, ...) equal another in value '
            '(an untrained model\'s zero biases and unit norms), and torch merges such tensors when it exports; '
            'the bundle is right for this checkpoint, another checkpoint of this architecture is exported again',
            flush=True,
        )
        return None
    with open(os.path.join(out_dir, FILE), 'w', encoding='utf-8') as f:
        json.dump(wmap, f, indent=1)
    return key


def read_map(bundle_dir: str) -> dict:
    """weightMap.json of a bundle folder."""
    with open(os.path.join(bundle_dir, FILE), encoding='utf-8') as f:
        wmap = json.load(f)
    if wmap.get('format') != FORMAT or wmap.get('version') != VERSION:
        raise ValueError(f'{bundle_dir}/{FILE}: not a version {VERSION} weight map')
    return wmap


def stored_values(entry: dict, tensor: torch.Tensor) -> np.ndarray:
    """The values a source region stores, from its checkpoint tensor (any float dtype, bfloat16 included)."""
    src = entry['source']
    t = tensor.detach().cpu().contiguous()
    if 'strides' in src:
        t = t.reshape(-1).as_strided(entry['shape'], src['strides'], src['start'])
    t = t.reshape(entry['shape'])
    if t.is_floating_point():
        t = t.float()
        if src.get('via') == 'float16':
            t = t.half().float()
    return t.numpy().astype(np.dtype(entry['dtype']).newbyteorder('<'))


def apply_map(template_dir: str, state_dicts: Dict[str, Dict[str, torch.Tensor]], out_dir: str) -> List[str]:
    """Write the per-checkpoint files of a bundle of the template's architecture for `state_dicts` (role -> canonical
    state_dict) into out_dir, by the template's map; returns the file names. The Python twin of
    src/node/bundleTemplate.ts, for the tests."""
    wmap = read_map(template_dir)
    for name, spec in wmap['files'].items():
        data = bytearray(spec['bytes'])
        with open(os.path.join(template_dir, name), 'rb') as f:
            own = f.read()
        for entry in spec['regions']:
            lo, hi = entry['offset'], entry['offset'] + entry['bytes']
            if entry.get('constant'):
                data[lo:hi] = own[lo:hi]
            else:
                src = entry['source']
                data[lo:hi] = stored_values(entry, state_dicts[src['role']][src['key']]).tobytes()
        with open(os.path.join(out_dir, name), 'wb') as f:
            f.write(data)
    return list(wmap['files'])
