"""Official-format Infinity checkpoints, read through the safe loader (no pickled code runs) and loaded strictly."""
from typing import Dict

import torch

from ..bundle.safe_load import load_torch
from .bsq_vae import BSQVAE, BSQVAEConfig
from .config import InfinityConfig
from .model import Infinity


def _state_dict(obj, path: str, keys=()) -> Dict[str, torch.Tensor]:
    for key in keys:
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(
            f'{path}: not an Infinity state dict (expected tensors{" under " + "/".join(keys) if keys else ""})'
        )
    return obj


def load_bsq_vae(path: str) -> BSQVAE:
    """An official BSQ VAE checkpoint ({'vae': state_dict}), its shape read off the tensors."""
    sd = _state_dict(load_torch(path), path, ('vae',))
    vae = BSQVAE(BSQVAEConfig.from_state_dict(sd))
    vae.load_state_dict(sd, strict=True)
    return vae.eval()


def load_infinity(path: str, cfg: InfinityConfig, text_attention_bf16: bool = False) -> Infinity:
    """A slim Infinity checkpoint (the plain state_dict) with the architecture flags of cfg."""
    sd = _state_dict(load_torch(path), path)
    model = Infinity(cfg, text_attention_bf16)
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    return model.eval()
