"""Official-format Infinity checkpoints, read through the safe loader (no pickled code runs) and loaded strictly."""
from typing import Dict

import torch
import torch.nn as nn

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
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in sd.items()}, strict=True)


def load_bsq_vae(path: str) -> BSQVAE:
    """An official BSQ VAE checkpoint ({'vae': state_dict}), its shape read off the tensors."""
    sd = _state_dict(load_torch(path), path, 'vae')
    if 'encoder.conv_in.conv.weight' not in sd or 'decoder.up.0.block.0.conv2.conv.weight' not in sd:
        raise ValueError(f'{path}: not a BSQ VAE checkpoint (no encoder.conv_in / decoder.up.0 convolutions)')
    vae = BSQVAE(BSQVAEConfig.from_state_dict(sd))
    _load_strict(vae, sd, path, 'a BSQ VAE checkpoint')
    return vae.eval()


def load_infinity(path: str, cfg: InfinityConfig, text_attention_bf16: bool = False) -> Infinity:
    """A slim Infinity checkpoint (the plain state_dict, float32 or bfloat16) with the architecture flags of cfg."""
    sd = _state_dict(load_torch(path), path)
    model = Infinity(cfg, text_attention_bf16)
    _load_strict(model, sd, path, f'an Infinity checkpoint of depth {cfg.depth}, width {cfg.embed_dim}')
    return model.eval()
