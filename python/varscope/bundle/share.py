"""Share the VQ-VAE of an already exported bundle: a second bundle made from the same VAE checkpoint keeps only its
transformer graphs and weights, and points its VAE graphs, codebook and training hits at the first bundle.

Used by `varscope.export --share-vae-from BUNDLE_DIR`; the staged bundle is verified after sharing, so the
shared graphs are checked against the PyTorch reference of this export's own checkpoints."""
import json
import os
from typing import Dict, List

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from .bundle_spec import TRANSFORMER_ROLES, VAE_ROLES
from .onnx_store import WeightStore

# manifest entries that describe the VAE and must agree between the two bundles
VAE_KEYS = (
    'vae',
    'patchNums',
    'beginEnds',
    'tokenCount',
    'firstL',
    'phiIndexPerScale',
    'normalization',
    'interpolation',
    'codebook',
    'trainingHits',
)


class ShareError(Exception):
    """The base bundle cannot be shared with this export (different VAE, missing files, ...)."""


def read_manifest(bundle_dir: str) -> dict:
    """varscope.json of a bundle folder, or a ShareError."""
    path = os.path.join(bundle_dir, 'varscope.json')
    if not os.path.isfile(path):
        raise ShareError(f'--share-vae-from {bundle_dir}: no varscope.json there')
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def vae_sha256(manifest: dict) -> str:
    """sha256 of the VAE checkpoint a manifest was exported from ('' when it names none)."""
    return next((s['sha256'] for s in manifest['provenance']['sources'] if s['role'] == 'vae'), '')


def check_same_vae(base: dict, manifest: dict) -> None:
    """Same VAE checkpoint (by sha256) and the same VAE facts in both manifests."""
    want, have = vae_sha256(base), vae_sha256(manifest)
    if not want or want != have:
        raise ShareError(
            f'the VAE checkpoints differ: base bundle {base["id"]} has sha256 {want or "(none)"}, '
            f'this export {have}'
        )
    for key in VAE_KEYS:
        if key in ('codebook', 'trainingHits'):
            continue  # their file names are rewritten; contents are compared byte for byte below
        if base.get(key) != manifest.get(key):
            raise ShareError(f'manifest entry "{key}" differs from the base bundle {base["id"]}')


def round_transformer_to_float16(m) -> None:
    """Round the transformer's parameters to float16 values (kept float32), leaving the VAE as it is.

    With --fp16 and a shared VAE only the transformer is stored in float16: the VAE graphs are the base bundle's."""
    with torch.no_grad():
        for p in m.var.parameters():
            p.copy_(p.half().float())


def first_readers(model: onnx.ModelProto) -> Dict[str, str]:
    """value name -> '<output of the first node that reads it>#<input slot>', in one pass over the graph."""
    readers: Dict[str, str] = {}
    for node in model.graph.node:
        for slot, i in enumerate(node.input):
            readers.setdefault(i, f'{node.output[0]}#{slot}')
    return readers


def stable_name(name: str, readers: Dict[str, str]) -> str:
    """A name for initializer `name` that is the same in every export of one architecture: its own where the tracer
    took it from the module (vae.encoder.conv_in.weight), else, for the tracer's anonymous ones (a folded transpose:
    onnx::MatMul_378), the first node that reads it, by that node's output, and the input slot it is read at
    (`readers`, from first_readers).

    NOTE: torch numbers anonymous values by a counter that differs between releases (the transformerStep graph of
    torch 2.13 numbers them one above torch 1.13's), while node outputs are named by module path and agree."""
    if not name.startswith('onnx::'):
        return name
    return readers.get(name, name)


def initializers(path: str) -> Dict[str, np.ndarray]:
    """stable name (stable_name) -> float32/int array of every initializer of an ONNX file (external data loaded;
    float16 copies that the float16 store adds, 'name.fp16', are widened back under their float32 name)."""
    model = onnx.load(path, load_external_data=True)
    readers = first_readers(model)
    out = {}
    for t in model.graph.initializer:
        arr = numpy_helper.to_array(t)
        if t.name.endswith('.fp16') and arr.dtype == np.float16:
            out[stable_name(t.name[: -len('.fp16')], readers)] = arr.astype(np.float32)
        else:
            out[stable_name(t.name, readers)] = arr
    return out


def check_same_graphs(base_dir: str, stage: str) -> None:
    """The VAE graphs of the base bundle hold exactly the weights this export traced (same nodes, same values)."""
    for role in VAE_ROLES:
        ours, theirs = os.path.join(stage, f'{role}.onnx'), os.path.join(base_dir, f'{role}.onnx')
        if not os.path.isfile(theirs):
            raise ShareError(f'{theirs}: not found')
        a, b = initializers(ours), initializers(theirs)
        if a.keys() != b.keys() or any(not np.array_equal(a[k], b[k]) for k in a):
            raise ShareError(f'{role}.onnx: the base bundle graph holds other weights than this export')


def same_bytes(a: str, b: str) -> bool:
    """Two files with identical contents."""
    with open(a, 'rb') as fa, open(b, 'rb') as fb:
        return fa.read() == fb.read()


def repack_weights(stage: str) -> int:
    """Rewrite stage/weights.bin with only the tensors the transformer graphs use; returns its size in bytes."""
    models = {
        role: onnx.load(os.path.join(stage, f'{role}.onnx'), load_external_data=True) for role in TRANSFORMER_ROLES
    }  # everything in memory before weights.bin is truncated
    store = WeightStore(stage)
    for role, model in models.items():
        store.externalize(model)
        onnx.save(model, os.path.join(stage, f'{role}.onnx'))
    return store.size


def share_vae(stage: str, out: str, base_dir: str, manifest: dict, log=print) -> List[str]:
    """Point the staged bundle's VAE graphs, codebook and hits at base_dir (in place); returns the removed files.

    `stage` is the staging folder, `out` the folder it will become (relative paths are computed from there,
    so both must have the same parent or the same depth)."""
    base_dir = os.path.abspath(base_dir)
    base = read_manifest(base_dir)
    check_same_vae(base, manifest)
    check_same_graphs(base_dir, stage)
    removed = []
    rel = lambda name: os.path.relpath(os.path.join(base_dir, name), os.path.abspath(out)).replace(os.sep, '/')
    for key in ('codebook', 'trainingHits'):
        if key not in manifest:
            continue
        ours, theirs = os.path.join(stage, manifest[key]['file']), os.path.join(base_dir, base[key]['file'])
        if not os.path.isfile(theirs) or not same_bytes(ours, theirs):
            raise ShareError(f'{key}: {theirs} differs from this export')
        os.remove(ours)
        removed.append(manifest[key]['file'])
        manifest[key]['file'] = rel(base[key]['file'])
    for role in VAE_ROLES:
        os.remove(os.path.join(stage, f'{role}.onnx'))
        removed.append(f'{role}.onnx')
        manifest['graphs'][role]['file'] = rel(f'{role}.onnx')
    size = repack_weights(stage)
    log(f'sharing the VAE of {base["id"]}: {", ".join(removed)} point there; weights.bin now {size} bytes')
    return removed
