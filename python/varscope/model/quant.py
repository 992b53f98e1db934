"""Multi-scale residual quantizer of VAR (official VectorQuantizer2 semantics, inference side).

Per scale k (coarse to fine): area-downsample the residual to pn x pn (not at the last scale), take the
nearest code of one shared codebook (|r|^2 + |e|^2 - 2 r.e, argmin), bicubic-upsample the codes back
(not at the last scale), apply Phi_k, add to f_hat and subtract from the residual."""
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Phi(nn.Conv2d):
    """Phi(x) = (1 - ratio) x + ratio conv3x3(x)."""

    def __init__(self, channels: int, ratio: float):
        super().__init__(channels, channels, kernel_size=3, stride=1, padding=1)
        self.resi_ratio = abs(ratio)

    def forward(self, h):  # [B, C, h, w] -> same
        return h.mul(1 - self.resi_ratio) + super().forward(h).mul(self.resi_ratio)


def phi_ticks(count: int) -> np.ndarray:
    """Official tick positions in [0, 1] of `count` shared Phi convs."""
    if count == 4:
        return np.linspace(1 / 3 / count, 1 - 1 / 3 / count, count)
    return np.linspace(1 / 2 / count, 1 - 1 / 2 / count, count)


def phi_index_per_scale(count: int, scales: int) -> List[int]:
    """Which Phi conv each scale uses: nearest tick to si / (SN - 1)."""
    ticks = phi_ticks(count)
    return [int(np.argmin(np.abs(ticks - si / (scales - 1))).item()) for si in range(scales)]


class PhiBank(nn.Module):
    """The shared Phi convs, selected per scale by tick (official PhiPartiallyShared layout)."""

    def __init__(self, channels: int, ratio: float, count: int):
        super().__init__()
        self.ratio = ratio
        self.qresi_ls = nn.ModuleList([Phi(channels, ratio) for _ in range(count)])
        self.ticks = phi_ticks(count) if count else np.zeros(0)

    def index_at(self, at_from_0_to_1: float) -> int:
        """Index of the conv nearest to a position in [0, 1] (0 when there are none: Phi is the identity)."""
        if len(self.ticks) == 0:
            return 0
        return int(np.argmin(np.abs(self.ticks - at_from_0_to_1)).item())

    def __getitem__(self, at_from_0_to_1: float) -> nn.Module:
        if len(self.qresi_ls) == 0:  # quant_resi == 0: the official code uses nn.Identity
            return nn.Identity()
        return self.qresi_ls[self.index_at(at_from_0_to_1)]


@dataclass
class QuantizeResult:
    """Everything the quantizer computes for one batch of latents, per scale."""

    idx_Bl: List[torch.Tensor] = field(default_factory=list)  # SN x [B, pn*pn] int64
    f_hat: List[torch.Tensor] = field(default_factory=list)  # SN x [B, C, h, w] cumulative
    quantized: List[torch.Tensor] = field(default_factory=list)  # SN x [B, pn*pn, C] vector that was rounded
    dist2: List[torch.Tensor] = field(default_factory=list)  # SN x [B, pn*pn, 2] best / second-best sq. dist


def code_distances(z_NC: torch.Tensor, codebook_VC: torch.Tensor) -> torch.Tensor:
    """Official squared distance |z|^2 + |e|^2 - 2 z.e, [N, V]."""
    d = torch.sum(z_NC.square(), dim=1, keepdim=True) + torch.sum(codebook_VC.square(), dim=1, keepdim=False)
    return torch.addmm(d, z_NC, codebook_VC.T, alpha=-2, beta=1)


class MultiScaleQuantizer(nn.Module):
    """One shared codebook [V, C] applied to a pyramid of residuals; Phi convs shared by tick."""

    def __init__(
        self, vocab_size: int, Cvae: int, patch_nums: Sequence[int], quant_resi: float = 0.5, phi_count: int = 4
    ):
        super().__init__()
        self.vocab_size, self.Cvae = vocab_size, Cvae
        self.patch_nums: Tuple[int, ...] = tuple(patch_nums)
        self.quant_resi = PhiBank(Cvae, quant_resi, phi_count if abs(quant_resi) > 1e-6 else 0)
        self.register_buffer('ema_vocab_hit_SV', torch.zeros(len(self.patch_nums), vocab_size))
        self.embedding = nn.Embedding(vocab_size, Cvae)

    @property
    def SN(self) -> int:
        return len(self.patch_nums)

    def phi(self, si: int) -> nn.Module:
        """The Phi of scale si (official: quant_resi[si / (SN - 1)])."""
        return self.quant_resi[si / (self.SN - 1)]

    def phi_indices(self) -> List[int]:
        """Phi conv index per scale."""
        return [self.quant_resi.index_at(si / (self.SN - 1)) for si in range(self.SN)]

    def up_phi(self, si: int, h_BCpp: torch.Tensor, H: int) -> torch.Tensor:
        """Codes of scale si [B, C, pn, pn] -> their Phi'd contribution to f_hat [B, C, H, H]."""
        if si != self.SN - 1:
            h_BCpp = F.interpolate(h_BCpp, size=(H, H), mode='bicubic')
        return self.phi(si)(h_BCpp)

    @torch.no_grad()
    def quantize(self, f_BChw: torch.Tensor) -> QuantizeResult:
        """Tokens, cumulative f_hat, quantized vectors and code distances of every scale."""
        B, C, H, W = f_BChw.shape
        assert self.patch_nums[-1] == H == W, f'last patch num {self.patch_nums[-1]} != latent {H}x{W}'
        f_rest, f_hat = f_BChw.clone(), torch.zeros_like(f_BChw)
        codebook = self.embedding.weight
        out = QuantizeResult()
        for si, pn in enumerate(self.patch_nums):
            rest = F.interpolate(f_rest, size=(pn, pn), mode='area') if si != self.SN - 1 else f_rest
            z_NC = rest.permute(0, 2, 3, 1).reshape(-1, C)  # [B*pn*pn, C]
            d = code_distances(z_NC, codebook)  # [B*pn*pn, V]
            idx_N = torch.argmin(d, dim=1)
            top2 = torch.topk(d, k=min(2, self.vocab_size), dim=1, largest=False).values.clamp_min(0)
            h = self.embedding(idx_N.view(B, pn, pn)).permute(0, 3, 1, 2).contiguous()  # [B, C, pn, pn]
            h = self.up_phi(si, h, H)
            f_hat = f_hat + h
            f_rest = f_rest - h
            out.idx_Bl.append(idx_N.reshape(B, pn * pn))
            out.f_hat.append(f_hat.clone())
            out.quantized.append(z_NC.view(B, pn * pn, C))
            out.dist2.append(top2.view(B, pn * pn, -1))
        return out

    def idx_to_h(self, idx_Bl: torch.Tensor) -> torch.Tensor:
        """Token ids [B, pn*pn] -> code map [B, C, pn, pn]."""
        B, l = idx_Bl.shape
        pn = round(l**0.5)
        return self.embedding(idx_Bl).transpose(1, 2).reshape(B, self.Cvae, pn, pn)

    @torch.no_grad()
    def idxBl_to_fhat(self, idx_Bl: List[torch.Tensor]) -> List[torch.Tensor]:
        """Cumulative f_hat after each given scale (all upsampled to the latent size)."""
        H = self.patch_nums[-1]
        f_hat = torch.zeros(idx_Bl[0].shape[0], self.Cvae, H, H)
        outs = []
        for si, idx in enumerate(idx_Bl):
            f_hat = f_hat + self.up_phi(si, self.idx_to_h(idx), H)
            outs.append(f_hat.clone())
        return outs

    @torch.no_grad()
    def idxBl_to_var_input(self, idx_Bl: List[torch.Tensor]) -> Optional[torch.Tensor]:
        """Teacher-forcing input: area-down of the cumulative f_hat to scales 1..SN-1, [B, L-first_l, C]."""
        B, C, H = idx_Bl[0].shape[0], self.Cvae, self.patch_nums[-1]
        f_hat = torch.zeros(B, C, H, H)
        next_scales = []
        for si in range(self.SN - 1):
            f_hat = f_hat + self.up_phi(si, self.idx_to_h(idx_Bl[si]), H)
            pn_next = self.patch_nums[si + 1]
            next_scales.append(
                F.interpolate(f_hat, size=(pn_next, pn_next), mode='area').view(B, C, -1).transpose(1, 2)
            )
        return torch.cat(next_scales, dim=1) if next_scales else None

    @torch.no_grad()
    def get_next_autoregressive_input(self, si: int, f_hat: torch.Tensor, h_BChw: torch.Tensor):
        """Add scale si's codes [B, C, pn, pn] to f_hat; return (f_hat, area-down to the next scale or f_hat)."""
        H = self.patch_nums[-1]
        f_hat = f_hat + self.up_phi(si, h_BChw, H)
        if si != self.SN - 1:
            pn_next = self.patch_nums[si + 1]
            return f_hat, F.interpolate(f_hat, size=(pn_next, pn_next), mode='area')
        return f_hat, f_hat
