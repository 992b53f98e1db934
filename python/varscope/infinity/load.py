"""Official-format Infinity checkpoints, read through the safe loader (no pickled code runs) and loaded strictly."""
from typing import Dict

import torch
import torch.nn as nn

from ..bundle.checkpoint import uninitialised
from ..bundle.safe_load import load_torch
from .bsq_vae import BSQVAE, BSQVAEConfig
from .config import InfinityConfig
from .model import Infinity


def _state_dict(obj, path: str, key: str = '') -> Dict[str, torch.Tensor]:
    if key and isinstance(obj, dict) and isinstance(obj.get(key), dict):
        obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f'{path}: not a state dict of tensors{" under " + repr(key) if key else ""}')
    return obj


def _load_strict(model: nn.Module, sd: Dict[str, torch.Tensor], path: str, what: str) -> None:
    """load_state_dict(strict=True), with one line naming what does not fit instead of torch's listing."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    shapes = [k for k in expected if k in sd and tuple(sd[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or shapes:
        problems = {'missing': missing, 'unexpected': unexpected, 'of another shape': shapes}
        parts = [f'{len(v)} {name} (first {v[0]})' for name, v in problems.items() if v]
        raise ValueError(f'{path}: not {what}: ' + ', '.join(parts))
    # The model takes the checkpoint's tensors themselves (built uninitialised(), its own storages were never touched):
    # one copy of the weights in memory instead of two.
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    with torch.no_grad():
        for k, t in tensors.items():
            if sd[k].dtype == t.dtype:
                t.data = sd[k]
            else:
                t.copy_(sd[k])


def load_bsq_vae(path: str) -> BSQVAE:
    """An official BSQ VAE checkpoint ({'vae': state_dict}), its shape read off the tensors."""
    sd = _state_dict(load_torch(path), path, 'vae')
    if 'encoder.conv_in.conv.weight' not in sd or 'decoder.up.0.block.0.conv2.conv.weight' not in sd:
        raise ValueError(f'{path}: not a BSQ VAE checkpoint (no encoder.conv_in / decoder.up.0 convolutions)')
    with uninitialised():
        vae = BSQVAE(BSQVAEConfig.from_state_dict(sd))
    _load_strict(vae, sd, path, 'a BSQ VAE checkpoint')
    return vae.eval()


def shape_of_weights(sd: Dict[str, torch.Tensor], path: str) -> Dict[str, int]:
    """What a slim checkpoint's tensors say of the architecture: bits, width, heads, depth, block chunks, text width
    and length (the other flags are not in the file: the release values of InfinityConfig stand)."""
    if 'pos_start' not in sd or 'cfg_uncond' not in sd or 'head.weight' not in sd:
        raise ValueError(f'{path}: not an Infinity checkpoint (no pos_start / cfg_uncond / head tensors)')
    chunked = sorted({tuple(map(int, k.split('.')[1:4:2])) for k in sd if k.startswith('block_chunks.')})
    plain = {int(k.split('.')[1]) for k in sd if k.startswith('blocks.')}
    chunks = len({c for c, _ in chunked}) if chunked else 1
    depth = len(chunked) if chunked else len(plain)
    first = 'block_chunks.0.module.0' if chunked else 'blocks.0'
    if f'{first}.sa.scale_mul_1H11' not in sd:
        raise ValueError(f'{path}: not an Infinity checkpoint (no {first}.sa.scale_mul_1H11)')
    text_maxlen, text_channels = sd['cfg_uncond'].shape
    return dict(
        d_vae=sd['head.weight'].shape[0] // 2,
        embed_dim=sd['pos_start'].shape[-1],
        num_heads=sd[f'{first}.sa.scale_mul_1H11'].shape[1],
        depth=depth,
        block_chunks=chunks,
        text_channels=text_channels,
        text_maxlen=text_maxlen,
    )


def load_infinity_checkpoint(path: str, model_type: str = '', text_attention_bf16: bool = False) -> Infinity:
    """A slim Infinity checkpoint with the shape its tensors give (checked against run_infinity's --model_type
    preset when one is named)."""
    sd = _state_dict(load_torch(path), path)
    shape = shape_of_weights(sd, path)
    if model_type:
        cfg = InfinityConfig.preset(model_type, shape['d_vae'], text_channels=shape['text_channels'])
        cfg.text_maxlen = shape['text_maxlen']
    else:
        cfg = InfinityConfig(**shape)
    return _load_model(sd, cfg, path, text_attention_bf16)


def load_infinity(path: str, cfg: InfinityConfig, text_attention_bf16: bool = False) -> Infinity:
    """A slim Infinity checkpoint (the plain state_dict, float32 or bfloat16) with the architecture flags of cfg."""
    return _load_model(_state_dict(load_torch(path), path), cfg, path, text_attention_bf16)


def _load_model(sd: Dict[str, torch.Tensor], cfg: InfinityConfig, path: str, text_attention_bf16: bool) -> Infinity:
    with uninitialised():
        model = Infinity(cfg, text_attention_bf16)
    _load_strict(model, sd, path, f'an Infinity checkpoint of depth {cfg.depth}, width {cfg.embed_dim}')
    return model.eval()
