"""The bundle's graph IO table (read from src/shared/graphSpec.json) and varscope.json builder (mirrors
src/shared/manifest.ts)."""
import json
import os
import re
from typing import Dict, List, Optional

from .. import EXPORTER_VERSION, ROOT
from .checkpoint import LoadedModels
from .interp import down_matrices, to_nested, up_matrices

MANIFEST_VERSION = 2
# The graph input/output table shared with the engine (src/shared/graphSpec.json, beside manifest.ts).
GRAPH_SPEC_PATH = os.path.join(ROOT, 'src', 'shared', 'graphSpec.json')
with open(GRAPH_SPEC_PATH, encoding='utf-8') as _f:
    GRAPH_SPEC = json.load(_f)
# Every role, in the table's order; the VAE's graphs and the transformer's (a shared-VAE bundle keeps only these).
ROLES = tuple(GRAPH_SPEC['graphs'])
VAE_ROLES = ('encoder', 'quantizer', 'decoder', 'latentStep')
TRANSFORMER_ROLES = tuple(r for r in ROLES if r not in VAE_ROLES)


def model_facts(m: LoadedModels) -> Dict[str, int]:
    """The values of graphSpec.json's `facts` for a model."""
    h = m.var_cfg.patch_nums[-1]
    return {
        'C': m.vae_cfg.Cvae,
        'h': h,
        'H': h * m.vae.downsample,
        'V': m.var_cfg.vocab_size,
        'L': m.var.L,
        'firstL': m.var.first_l,
        'SN': len(m.var_cfg.patch_nums),
        'depth': m.var_cfg.depth,
        'nh': m.var_cfg.num_heads,
        'hd': m.var_cfg.embed_dim // m.var_cfg.num_heads,
        'D': m.var_cfg.embed_dim,
        'numClasses': m.var_cfg.num_classes,
    }


def resolve_dim(dim, facts: Dict[str, int]):
    """A graphSpec.json dim: numbers stay, dynamic axis names stay strings, facts ('L-firstL') become numbers."""
    if isinstance(dim, int) or dim in GRAPH_SPEC['dynamic']:
        return dim
    terms = re.findall(r'([+-]?)([A-Za-z]\w*|\d+)', dim)
    if not terms or ''.join(s + t for s, t in terms) != dim.replace(' ', ''):
        raise ValueError(f'graphSpec.json: cannot read dim {dim!r}')
    return sum((-1 if sign == '-' else 1) * (int(t) if t.isdigit() else facts[t]) for sign, t in terms)


def graph_io(m: LoadedModels) -> Dict[str, tuple]:
    """role -> (inputs, outputs), each {name: (dtype, dims)}; string dims are dynamic axes (ONNX dim_param)."""
    facts = model_facts(m)
    table = lambda side: {name: (t['dtype'], [resolve_dim(d, facts) for d in t['dims']]) for name, t in side.items()}
    return {role: (table(g['inputs']), table(g['outputs'])) for role, g in GRAPH_SPEC['graphs'].items()}


def initializer_facts(m: LoadedModels) -> Dict[str, Dict[str, List[int]]]:
    """role -> {initializer name: dims} of the weights whose shapes state model facts (checked after export)."""
    facts = model_facts(m)
    return {
        role: {name: [resolve_dim(d, facts) for d in dims] for name, dims in g.get('initializers', {}).items()}
        for role, g in GRAPH_SPEC['graphs'].items()
    }


def dynamic_axes(io: tuple) -> Dict[str, Dict[int, str]]:
    """torch.onnx.export dynamic_axes for one graph's (inputs, outputs)."""
    axes = {}
    for table in io:
        for name, (_, dims) in table.items():
            named = {i: d for i, d in enumerate(dims) if isinstance(d, str)}
            if named:
                axes[name] = named
    return axes


def tensor_specs(table: dict) -> dict:
    """{name: (dtype, dims)} -> manifest TensorSpec objects."""
    return {name: {'dtype': dt, 'dims': list(dims)} for name, (dt, dims) in table.items()}


def build_manifest(
    m: LoadedModels,
    bundle_id: str,
    name: str,
    classes: Optional[List[str]],
    sources: List[dict],
    background: List[int],
    description: Optional[str] = None,
) -> dict:
    """varscope.json without provenance.verification (added once the bundle verified)."""
    pns = list(m.var_cfg.patch_nums)
    io = graph_io(m)
    num_classes = m.var_cfg.num_classes
    names = classes if classes else [f'class {i}' for i in range(num_classes)]
    manifest = {
        'format': 'varscope-bundle',
        'version': MANIFEST_VERSION,
        'id': bundle_id,
        'name': name,
        'vae': {
            'imageSize': pns[-1] * m.vae.downsample,
            'latentSize': pns[-1],
            'downsample': m.vae.downsample,
            'Cvae': m.vae_cfg.Cvae,
            'vocabSize': m.vae_cfg.vocab_size,
            'ch': m.vae_cfg.ch,
            'chMult': list(m.vae_cfg.ch_mult),
            'quantResi': m.vae_cfg.quant_resi,
            'phiCount': m.vae_cfg.phi_count,
        },
        'var': {
            'depth': m.var_cfg.depth,
            'embedDim': m.var_cfg.embed_dim,
            'numHeads': m.var_cfg.num_heads,
            'numClasses': num_classes,
            'nullClass': num_classes,
            'sharedAdaLN': m.var_cfg.shared_aln,
            'attnL2Norm': m.var_cfg.attn_l2_norm,
            'mlpRatio': m.var_cfg.mlp_ratio,
        },
        'patchNums': pns,
        'beginEnds': [list(be) for be in m.var.begin_ends],
        'tokenCount': m.var.L,
        'firstL': m.var.first_l,
        'phiIndexPerScale': m.vae.quantize.phi_indices(),
        'normalization': {'mean': 0.5, 'std': 0.5, 'background': list(background)},
        'classes': names,
        'interpolation': {'up': to_nested(up_matrices(pns)), 'down': to_nested(down_matrices(pns))},
        'graphs': {
            role: {'file': f'{role}.onnx', 'inputs': tensor_specs(ins), 'outputs': tensor_specs(outs)}
            for role, (ins, outs) in io.items()
        },
        'codebook': {'file': 'codebook.bin', 'dtype': 'float32', 'dims': [m.vae_cfg.vocab_size, m.vae_cfg.Cvae]},
        'sampling': {'cfg': 4.0, 'topK': 900, 'topP': 0.96},
        'provenance': {'exporter': f'varscope.export {EXPORTER_VERSION}', 'exportedAt': '', 'sources': sources},
    }
    if description:
        manifest['description'] = description
    if m.has_hits:
        manifest['trainingHits'] = {
            'file': 'trainingHits.bin',
            'dtype': 'float32',
            'dims': [len(pns), m.vae_cfg.vocab_size],
        }
    return manifest
