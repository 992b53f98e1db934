"""Inputs of an Infinity run: the image tensor and packed caption features, as the official code makes them."""
from typing import List, Sequence, Tuple

import numpy as np
import torch
from PIL import Image


def image_input(rgb: np.ndarray) -> torch.Tensor:
    """[H, W, 3] uint8 RGB -> [1, 3, H, W] in [-1, 1]: to_tensor, then x + x - 1 (run_infinity's transform)."""
    x = torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).float().div(255)
    return x.add(x).add(-1).unsqueeze(0)


def load_image_input(path: str) -> torch.Tensor:
    """A PNG or JPEG as image_input, at its own size (the schedule's pixel size is the caller's to choose)."""
    with Image.open(path) as im:
        return image_input(np.asarray(im.convert('RGB')))


def pack_captions(features: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-caption T5 features [len_i, Ct5] -> (kv_compact [sum len_i, Ct5], cu_seqlens int32 [B + 1])."""
    lens: List[int] = [int(f.shape[0]) for f in features]
    if not lens or min(lens) < 1:
        raise ValueError(f'every caption needs at least one token (lengths {lens})')
    cu = torch.tensor([0] + list(np.cumsum(lens)), dtype=torch.int32)
    return torch.cat([f.float() for f in features], dim=0), cu


def caption(kv_compact: torch.Tensor, cu_seqlens: torch.Tensor, index: int) -> torch.Tensor:
    """Caption index's features [len, Ct5] out of a packed batch."""
    return kv_compact[int(cu_seqlens[index]) : int(cu_seqlens[index + 1])]
