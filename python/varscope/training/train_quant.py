"""Training side of the multi-scale quantizer: the official VectorQuantizer2.forward (VQ loss with commitment
beta, straight-through f_hat, EMA hit counts per scale) and dead-code restart from current encoder residuals."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..model.quant import MultiScaleQuantizer, code_distances


@dataclass
class QuantTrainOut:
    """f_hat with straight-through gradients, the VQ loss, hits per scale and residual samples for restarts."""

    f_hat: torch.Tensor  # [B, C, h, w]
    vq_loss: torch.Tensor  # scalar
    hits_SV: torch.Tensor  # [SN, V] code counts of this batch
    rest_NC: torch.Tensor  # [N, C] vectors that were rounded (all scales), restart candidates


def quantize_train(q: MultiScaleQuantizer, f_BChw: torch.Tensor, beta: float = 0.25) -> QuantTrainOut:
    """Official VectorQuantizer2.forward: per scale, nearest code of the area-down residual (no grad), bicubic up,
    Phi, accumulate; loss = mean over scales of beta * |sg(f_hat) - f|^2 + |f_hat - sg(f)|^2."""
    f_BChw = f_BChw.float()
    B, C, H, W = f_BChw.shape
    f_no_grad = f_BChw.detach()
    f_rest, f_hat = f_no_grad.clone(), torch.zeros_like(f_no_grad)
    codebook = q.embedding.weight
    SN, V = q.SN, q.vocab_size
    vq_loss = f_BChw.new_zeros(())
    hits, rests = [], []
    for si, pn in enumerate(q.patch_nums):
        rest = F.interpolate(f_rest, size=(pn, pn), mode='area') if si != SN - 1 else f_rest
        rest_NC = rest.detach().permute(0, 2, 3, 1).reshape(-1, C)  # [B*pn*pn, C]
        idx_N = torch.argmin(code_distances(rest_NC, codebook.detach()), dim=1)
        # scatter-add, not bincount: CUDA bincount reads the max back to the host (a sync per scale)
        hits.append(torch.zeros(V, device=idx_N.device).index_add_(0, idx_N, torch.ones_like(idx_N, dtype=torch.float)))
        rests.append(rest_NC)
        h = q.embedding(idx_N.view(B, pn, pn)).permute(0, 3, 1, 2).contiguous()  # [B, C, pn, pn]
        h = q.up_phi(si, h, H)  # [B, C, H, W]
        f_hat = f_hat + h
        f_rest = f_rest - h
        vq_loss = vq_loss + F.mse_loss(f_hat.detach(), f_BChw).mul(beta) + F.mse_loss(f_hat, f_no_grad)
    vq_loss = vq_loss / SN
    f_hat_st = (f_hat.detach() - f_no_grad) + f_BChw  # straight-through to the encoder
    return QuantTrainOut(f_hat_st, vq_loss, torch.stack(hits), torch.cat(rests))


@torch.no_grad()
def update_ema_hits(q: MultiScaleQuantizer, hits_SV: torch.Tensor, record_hit: int) -> int:
    """Official EMA of per-scale hit counts into quantize.ema_vocab_hit_SV; returns the new record count."""
    ema = q.ema_vocab_hit_SV
    if record_hit == 0:
        ema.copy_(hits_SV)
    elif record_hit < 100:
        ema.mul_(0.9).add_(hits_SV.mul(0.1))
    else:
        ema.mul_(0.99).add_(hits_SV.mul(0.01))
    return record_hit + 1


@torch.no_grad()
def restart_dead_codes(
    q: MultiScaleQuantizer,
    window_hits_V: torch.Tensor,
    rest_NC: torch.Tensor,
    gen: torch.Generator,
    min_hits: float = 1.0,
    noise: float = 0.01,
) -> int:
    """Re-initialise codes hit fewer than `min_hits` times in the window with random current residual vectors
    (plus a little noise, so codes drawn from the same vector separate). Returns how many were restarted."""
    dead = (window_hits_V < min_hits).nonzero().flatten()
    if len(dead) == 0:
        return 0
    pick = torch.randint(0, rest_NC.shape[0], (len(dead),), generator=gen).to(rest_NC.device)
    fresh = rest_NC[pick].float()
    jitter = torch.randn(fresh.shape, generator=gen).to(fresh.device)
    fresh = fresh + jitter * noise * fresh.std().clamp_min(1e-6)
    q.embedding.weight.data[dead.to(q.embedding.weight.device)] = fresh
    return int(len(dead))


def usage_percent(hits_V: torch.Tensor) -> float:
    """% of codes hit at least once."""
    return float((hits_V > 0).float().mean().item() * 100)
