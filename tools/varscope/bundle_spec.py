"""The bundle's graph IO table and varscope.json builder (mirrors src/shared/manifest.ts)."""
from typing import Dict, List, Optional

from . import EXPORTER_VERSION
from .checkpoint import LoadedModels
from .interp import down_matrices, to_nested, up_matrices

MANIFEST_VERSION = 1

def graph_io(m: LoadedModels) -> Dict[str, tuple]:
    """role -> (inputs, outputs), each {name: (dtype, dims)}; string dims are dynamic axes (ONNX dim_param)."""
    C, V, h = m.vae_cfg.Cvae, m.var_cfg.vocab_size, m.var_cfg.patch_nums[-1]
    H = h * m.vae.downsample
    L, first_l, SN = m.var.L, m.var.first_l, len(m.var_cfg.patch_nums)
    depth, nh = m.var_cfg.depth, m.var_cfg.num_heads
    hd = m.var_cfg.embed_dim // nh
    f32, i64 = 'float32', 'int64'
    return {
        'encoder': ({'image': (f32, ['B', 3, H, H])}, {'f': (f32, ['B', C, h, h])}),
        'quantizer': ({'f': (f32, [1, C, h, h])},
                      {'tokens': (i64, [1, L]), 'fHat': (f32, [SN, C, h, h]), 'varInput': (f32, [1, L - first_l, C]),
                       'quantDist': (f32, [L, 2])}),
        'decoder': ({'fHat': (f32, ['B', C, h, h])}, {'image': (f32, ['B', 3, H, H])}),
        'latentStep': ({'fHat': (f32, [1, C, h, h]), 'tokens': (i64, [1, 'pn2']), 'up': (f32, [h, 'pn']),
                        'down': (f32, ['pnNext', h]), 'phiIndex': (i64, [])},
                       {'fHatNext': (f32, [1, C, h, h]), 'nextInput': (f32, [1, 'pnNext2', C])}),
        'transformer': ({'classLabel': (i64, ['B']), 'varInput': (f32, ['B', L - first_l, C]), 'attnLayer': (i64, [])},
                        {'logits': (f32, ['B', L, V]), 'attn': (f32, ['B', nh, L, L])}),
        'transformerStep': ({'classLabel': (i64, ['B']), 'x': (f32, ['B', 'l', C]), 'scaleIndex': (i64, []),
                             'pastKey': (f32, [depth, 'B', nh, 'Lp', hd]), 'pastValue': (f32, [depth, 'B', nh, 'Lp', hd])},
                            {'logits': (f32, ['B', 'l', V]), 'presentKey': (f32, [depth, 'B', nh, 'Lp+l', hd]),
                             'presentValue': (f32, [depth, 'B', nh, 'Lp+l', hd])}),
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


def build_manifest(m: LoadedModels, bundle_id: str, name: str, classes: Optional[List[str]],
                   sources: List[dict], background: List[int], description: Optional[str] = None) -> dict:
    """varscope.json without provenance.verification (added once the bundle verified)."""
    pns = list(m.var_cfg.patch_nums)
    io = graph_io(m)
    num_classes = m.var_cfg.num_classes
    names = classes if classes else [f'class {i}' for i in range(num_classes)]
    manifest = {
        'format': 'varscope-bundle', 'version': MANIFEST_VERSION, 'id': bundle_id, 'name': name,
        'vae': {'imageSize': pns[-1] * m.vae.downsample, 'latentSize': pns[-1], 'downsample': m.vae.downsample,
                'Cvae': m.vae_cfg.Cvae, 'vocabSize': m.vae_cfg.vocab_size, 'ch': m.vae_cfg.ch,
                'chMult': list(m.vae_cfg.ch_mult), 'quantResi': m.vae_cfg.quant_resi, 'phiCount': m.vae_cfg.phi_count},
        'var': {'depth': m.var_cfg.depth, 'embedDim': m.var_cfg.embed_dim, 'numHeads': m.var_cfg.num_heads,
                'numClasses': num_classes, 'nullClass': num_classes, 'sharedAdaLN': m.var_cfg.shared_aln,
                'attnL2Norm': m.var_cfg.attn_l2_norm, 'mlpRatio': m.var_cfg.mlp_ratio},
        'patchNums': pns, 'beginEnds': [list(be) for be in m.var.begin_ends], 'tokenCount': m.var.L,
        'firstL': m.var.first_l, 'phiIndexPerScale': m.vae.quantize.phi_indices(),
        'normalization': {'mean': 0.5, 'std': 0.5, 'background': list(background)},
        'classes': names,
        'interpolation': {'up': to_nested(up_matrices(pns)), 'down': to_nested(down_matrices(pns))},
        'graphs': {role: {'file': f'{role}.onnx', 'inputs': tensor_specs(ins), 'outputs': tensor_specs(outs)}
                   for role, (ins, outs) in io.items()},
        'codebook': {'file': 'codebook.bin', 'dtype': 'float32', 'dims': [m.vae_cfg.vocab_size, m.vae_cfg.Cvae]},
        'sampling': {'cfg': 4.0, 'topK': 900, 'topP': 0.96},
        'provenance': {'exporter': f'varscope.export {EXPORTER_VERSION}', 'exportedAt': '', 'sources': sources},
    }
    if description:
        manifest['description'] = description
    if m.has_hits:
        manifest['trainingHits'] = {'file': 'trainingHits.bin', 'dtype': 'float32', 'dims': [len(pns), m.vae_cfg.vocab_size]}
    return manifest
