"""Exact interpolation matrices: PyTorch's own F.interpolate applied to basis images.

For a map X [.., h_in, h_in], F.interpolate(X, size=(n, n)) == M @ X @ M.T with M [n, h_in] (area and bicubic
with align_corners=False are separable), so the ONNX graphs and the engine use these matrices instead of Resize."""
from typing import List, Sequence

import numpy as np
import torch
import torch.nn.functional as F


def interp_matrix(n_in: int, n_out: int, mode: str) -> torch.Tensor:
    """M [n_out, n_in] with interpolate(X) = M @ X @ M.T (mode 'area' or 'bicubic')."""
    # basis j: row j all ones, other rows zero; constant along the width, so the output column 0 is M[:, j]
    basis = torch.zeros(n_in, 1, n_in, n_in, dtype=torch.float64)
    for j in range(n_in):
        basis[j, 0, j, :] = 1.0
    out = F.interpolate(basis.float(), size=(n_out, n_out), mode=mode)  # [n_in, 1, n_out, n_out]
    return out[:, 0, :, 0].T.contiguous()  # [n_out, n_in]


def up_matrices(patch_nums: Sequence[int]) -> List[torch.Tensor]:
    """Per scale k, bicubic up [h, pn_k] (identity at the last scale, where VAR does not resample)."""
    h = patch_nums[-1]
    return [
        interp_matrix(pn, h, 'bicubic') if k != len(patch_nums) - 1 else torch.eye(h) for k, pn in enumerate(patch_nums)
    ]


def down_matrices(patch_nums: Sequence[int]) -> List[torch.Tensor]:
    """Per scale k, area down [pn_k, h] (identity at the last scale)."""
    h = patch_nums[-1]
    return [
        interp_matrix(h, pn, 'area') if k != len(patch_nums) - 1 else torch.eye(h) for k, pn in enumerate(patch_nums)
    ]


def apply_separable(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """M @ X @ M.T over the last two axes: x [.., n_in, n_in] -> [.., n_out, n_out]."""
    return m @ x @ m.T


def to_nested(mats: Sequence[torch.Tensor]) -> List[List[List[float]]]:
    """Row-major nested lists (float32 values) for varscope.json."""
    return [np.asarray(m, dtype=np.float32).astype(float).tolist() for m in mats]
