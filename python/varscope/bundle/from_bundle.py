"""Command line: recover the PyTorch checkpoints (state_dicts, as the official ones are saved) from a bundle.

PYTHONPATH=python python3 -m varscope.from_bundle --bundle DIR --out DIR [--check] [--index]
    writes DIR/vae.pth and DIR/var.pth; --check exports them again and compares every graph weight with the bundle.
    --index writes DIR/index.json and DIR/index.leftover.pth instead: where each tensor lies in the bundle's own
    weights.bin, and the few that are not there (see weight_index.py; bench/engine_ref.py --index reads them).

A bundle keeps every weight, but not under the checkpoint's names: torch.onnx folds transposes into anonymous
initializers (onnx::MatMul_694), concatenates biases and reshapes norms. So we build the bundle's architecture
with random weights, export it with our exporter, and look up where each random parameter landed (as itself,
transposed, or as a slice of a larger tensor). The bundle's tensor at the same place holds the trained value.
This needs the bundle to come from this exporter (any torch: anonymous initializers are matched by the node that
reads them, share.stable_name); anything it cannot place is an error.
"""
import argparse
import contextlib
import hashlib
import os
import re
import sys
import tempfile
from typing import Dict, List, Tuple

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from ..atomic import atomic_path
from .bundle_spec import ROLES
from .graphs import folded_weights
from .checkpoint import STRUCTURAL, LoadedModels, VaeConfig, VarConfig, build_vae, build_var
from .onnx_export import export_all
from .share import initializers, read_manifest
from .weight_index import write_index

# transformerStep holds every weight of the transformer, and its layout is the same in format 1 and 2 bundles (format 2
# changed the transformer graph and added attention), so the weights are read from these roles in both.
RECOVERY_ROLES = ('encoder', 'quantizer', 'decoder', 'latentStep', 'transformerStep')
Arrays = Dict[str, Dict[str, np.ndarray]]  # role -> initializer name -> array


class BundleImportError(Exception):
    """A bundle whose weights cannot be mapped back to checkpoint tensors, with the reason."""


def layout_of(manifest: dict):
    """The graphs of the exporter that wrote the bundle: 0.1.0 folded some weights into new ones (folded_weights)."""
    exporter = (manifest.get('provenance') or {}).get('exporter', '')
    return folded_weights() if exporter in ('', 'varscope.export 0.1.0') else contextlib.nullcontext()


def graph_path(bundle_dir: str, manifest: dict, role: str) -> str:
    return os.path.normpath(os.path.join(bundle_dir, manifest['graphs'][role]['file']))


def configs(bundle_dir: str, manifest: dict) -> Tuple[VaeConfig, VarConfig]:
    """Both architectures: varscope.json, plus the encoder's parameter names for what the manifest does not say."""
    enc = onnx.load(graph_path(bundle_dir, manifest, 'encoder'), load_external_data=False)
    shapes = {t.name[len('vae.') :]: list(t.dims) for t in enc.graph.initializer if t.name.startswith('vae.')}
    v, t = manifest['vae'], manifest['var']
    last = len(v['chMult']) - 1
    hits = manifest.get('trainingHits')
    vae = VaeConfig(
        vocab_size=v['vocabSize'],
        Cvae=v['Cvae'],
        ch=v['ch'],
        ch_mult=tuple(v['chMult']),
        num_res_blocks=len(
            {m.group(1) for k in shapes for m in [re.match(r'encoder\.down\.0\.block\.(\d+)\.', k)] if m}
        ),
        using_sa=any(k.startswith(f'encoder.down.{last}.attn.') for k in shapes),
        using_mid_sa='encoder.mid.attn_1.qkv.weight' in shapes,
        quant_conv_ks=shapes['quant_conv.weight'][-1],
        phi_count=v['phiCount'],
        quant_resi=v['quantResi'],
        hit_scales=hits['dims'][0] if hits else 0,
    )
    var = VarConfig(
        depth=t['depth'],
        embed_dim=t['embedDim'],
        num_heads=t['numHeads'],
        mlp_ratio=t['mlpRatio'],
        num_classes=t['numClasses'],
        shared_aln=t['sharedAdaLN'],
        attn_l2_norm=t['attnL2Norm'],
        Cvae=v['Cvae'],
        vocab_size=v['vocabSize'],
        patch_nums=tuple(manifest['patchNums']),
    )
    return vae, var


def build(vae_cfg: VaeConfig, var_cfg: VarConfig) -> LoadedModels:
    vae, var = build_vae(vae_cfg, var_cfg.patch_nums), build_var(var_cfg)
    for p in list(vae.parameters()) + list(var.parameters()):
        p.requires_grad_(False)
    return LoadedModels(vae.eval(), var.eval(), vae_cfg, var_cfg, vae_cfg.hit_scales > 0)


def learned(model: torch.nn.Module) -> List[str]:
    """State-dict keys that hold learned values (parameters and non-structural float buffers but the EMA hits)."""
    return [
        k
        for k, v in model.state_dict().items()
        if v.is_floating_point() and not STRUCTURAL.match(k) and k != 'quantize.ema_vocab_hit_SV'
    ]


def graph_arrays(paths: Dict[str, str]) -> Arrays:
    """Every initializer of each role's graph, in its own dtype (float16 widened): no float64 copy of the weights."""
    return {role: initializers(p) for role, p in paths.items()}


def locate(value: torch.Tensor, probe: Arrays) -> Tuple[str, str, int, bool]:
    """(role, initializer, offset, transposed) of the first place where `value` lies whole in the probe export."""
    variants = [(value, False)] + ([(value.t(), True)] if value.dim() == 2 else [])
    for v, transposed in variants:
        flat = v.contiguous().view(-1).double().numpy()
        for role, arrays in probe.items():
            for name, u in arrays.items():
                u = u.reshape(-1)
                if u.size < flat.size:
                    continue
                for off in np.flatnonzero(u[: u.size - flat.size + 1] == flat[0]):
                    if np.array_equal(u[off : off + flat.size], flat):
                        return role, name, int(off), transposed
    raise KeyError


def recover(bundle_dir: str, log=print) -> LoadedModels:
    """The bundle's models, every learned tensor read back from its graphs."""
    manifest = read_manifest(bundle_dir)
    vae_cfg, var_cfg = configs(bundle_dir, manifest)
    probe_models = build(vae_cfg, var_cfg)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for model in (probe_models.vae, probe_models.var):
            sd = model.state_dict()
            for k in learned(model):
                sd[k].copy_(torch.randn(sd[k].shape, generator=g))
    with tempfile.TemporaryDirectory() as tmp, layout_of(manifest):
        log('exporting the same architecture with random weights to find where each tensor goes')
        export_all(probe_models, tmp, log=lambda *_: None)
        probe = graph_arrays({r: os.path.join(tmp, f'{r}.onnx') for r in RECOVERY_ROLES})
    bundle = graph_arrays({r: graph_path(bundle_dir, manifest, r) for r in RECOVERY_ROLES})
    for role in RECOVERY_ROLES:
        if probe[role].keys() != bundle[role].keys():
            diff = sorted(set(probe[role]) ^ set(bundle[role]))[:4]
            raise BundleImportError(
                f'{role}.onnx: its weights are not laid out as this exporter lays them out '
                f'(e.g. {", ".join(diff)}): it was exported by another version'
            )
    out = build(vae_cfg, var_cfg)
    missing = []
    with torch.no_grad():
        for probe_model, model in ((probe_models.vae, out.vae), (probe_models.var, out.var)):
            src, dst = probe_model.state_dict(), model.state_dict()
            for k in learned(model):
                try:
                    role, name, off, transposed = locate(src[k], probe)
                except KeyError:
                    missing.append(k)
                    continue
                flat = bundle[role][name].reshape(-1)[off : off + src[k].numel()]
                t = torch.from_numpy(flat.astype(np.float32))
                dst[k].copy_(t.view(dst[k].t().shape).t() if transposed else t.view(dst[k].shape))
        if missing:
            raise BundleImportError(f'{len(missing)} tensors not found in the graphs: {", ".join(missing[:6])}')
        if manifest.get('trainingHits'):
            spec = manifest['trainingHits']
            hits = np.fromfile(os.path.join(bundle_dir, spec['file']), dtype=spec['dtype']).reshape(spec['dims'])
            out.vae.state_dict()['quantize.ema_vocab_hit_SV'].copy_(torch.from_numpy(hits.astype(np.float32)))
    return out


def check(models: LoadedModels, bundle_dir: str) -> List[str]:
    """Graph weights of the bundle that an export of `models` does not hold (empty when it holds them all).

    Compared by content, graph by graph: the tracer's names of anonymous initializers (onnx::MatMul_694) move when a
    graph's structure changes, as the attention graph's did, and a bundle written before such a change still checks."""
    manifest = read_manifest(bundle_dir)
    with tempfile.TemporaryDirectory() as tmp, layout_of(manifest):
        export_all(models, tmp, log=lambda *_: None)
        ours = graph_arrays({r: os.path.join(tmp, f'{r}.onnx') for r in ROLES})
    theirs = graph_arrays({r: graph_path(bundle_dir, manifest, r) for r in ROLES})
    bad = []
    for r in ROLES:
        held = {content_key(a) for a in ours[r].values()}
        bad += [f'{r}.onnx {k}' for k, a in theirs[r].items() if content_key(a) not in held]
    return bad


def content_key(a: np.ndarray) -> Tuple[Tuple[int, ...], str]:
    """An initializer's shape and the sha256 of its float32 bytes."""
    return a.shape, hashlib.sha256(np.ascontiguousarray(a, dtype=np.float32).tobytes()).hexdigest()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog='varscope.from_bundle', description=__doc__.split('\n')[0])
    p.add_argument('--bundle', required=True, help='bundle folder (varscope.json inside)')
    p.add_argument('--out', required=True, help='folder for vae.pth and var.pth')
    p.add_argument('--check', action='store_true', help='export the recovered models again and compare with the bundle')
    p.add_argument(
        '--index', action='store_true', help="write an index into the bundle's weights.bin instead of the checkpoints"
    )
    a = p.parse_args(argv)
    torch.set_num_threads(2)
    try:
        models = recover(a.bundle, log=lambda s: print(s, file=sys.stderr))
    except (BundleImportError, OSError, KeyError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    os.makedirs(a.out, exist_ok=True)
    if a.index:
        if not os.path.isfile(os.path.join(a.bundle, 'weights.bin')):
            print(f'error: {a.bundle}/weights.bin: no such file (--index points into it)', file=sys.stderr)
            return 2
        sds = {'vae': models.vae.state_dict(), 'var': models.var.state_dict()}
        n = write_index(sds, os.path.join(a.bundle, 'weights.bin'), os.path.join(a.out, 'index.json'))
        print(
            f'wrote {a.out}/index.json ({n["indexed"]} tensors, {n["indexedBytes"]} bytes in weights.bin) and '
            f'{a.out}/index.leftover.pth ({n["leftover"]} entries, {n["leftoverBytes"]} bytes)',
            file=sys.stderr,
        )
    else:
        for name, model in (('vae.pth', models.vae), ('var.pth', models.var)):
            with atomic_path(os.path.join(a.out, name)) as tmp:
                torch.save(model.state_dict(), tmp)
        print(f'wrote {a.out}/vae.pth and {a.out}/var.pth', file=sys.stderr)
    if a.check:
        bad = check(models, a.bundle)
        if bad:
            print(f'error: {len(bad)} graph weights differ after a new export: {", ".join(bad[:6])}', file=sys.stderr)
            return 1
        print('check: a new export of the recovered models holds exactly the bundle weights', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
