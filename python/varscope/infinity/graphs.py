"""The BSQ tokenizer as ONNX-ready modules, one per graph: image -> latent, bits, residuals; bits -> latent and the
transformer's next-scale inputs; latent -> image. The scale schedule is fixed per graph (static sizes), and every
resampling is a pair of matrices (M_h x M_w^T) made by PyTorch's own F.interpolate on basis vectors, since ONNX
has no area resize to arbitrary sizes and the official trilinear on [B, d, 1, h, w] is bilinear in h, w."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .bsq_vae import BSQVAE
from .schedules import Schedule

# The tokenizer's modes as 2D resizes: area down for residuals; trilinear (= bilinear on one frame) for codes.
AREA, LINEAR = 'area', 'bilinear'


def resample_matrix(n_in: int, n_out: int, mode: str) -> torch.Tensor:
    """M [n_out, n_in] with F.interpolate(X, size=(n_out, m_out), mode) == M_h @ X @ M_w^T (separable modes)."""
    basis = torch.eye(n_in).view(n_in, 1, n_in, 1)  # basis j: a column with a one in row j
    return F.interpolate(basis, size=(n_out, 1), mode=mode)[:, 0, :, 0].T.contiguous()


class Resample(nn.Module):
    """A fixed resize [.., h_in, w_in] -> [.., h_out, w_out] as two matrix products."""

    def __init__(self, size_in: Tuple[int, int], size_out: Tuple[int, int], mode: str):
        super().__init__()
        self.register_buffer('rows', resample_matrix(size_in[0], size_out[0], mode))  # [h_out, h_in]
        self.register_buffer('cols', resample_matrix(size_in[1], size_out[1], mode).T.contiguous())  # [w_in, w_out]

    def forward(self, x):
        return self.rows @ x @ self.cols


def flat_tokens(x):
    """[B, d, h, w] -> [B, h*w, d] (row-major positions)."""
    return x.flatten(2).transpose(1, 2)


def codes_of(vae: BSQVAE, bits):
    """0/1 bits [B, l, d] (any dtype) -> codes [B, l, d]: (2 bit - 1) * scale, l2-normalised as the official."""
    scale = vae.quantizer.lfq.codebook_scale
    return F.normalize(bits.float() * scale * 2 - scale, dim=-1)


class BitsEncoderGraph(nn.Module):
    """image [B, 3, H, W] -> latent [B, d, h, w], bits [B, L, d] uint8, residual [B, L, d] (BSQ's input per scale)."""

    def __init__(self, vae: BSQVAE, vae_schedule: Schedule):
        super().__init__()
        self.vae, self.sizes = vae, [(h, w) for _, h, w in vae_schedule]
        full = self.sizes[-1]
        self.down = nn.ModuleList(Resample(full, s, AREA) for s in self.sizes[:-1])
        self.up = nn.ModuleList(Resample(s, full, LINEAR) for s in self.sizes[:-1])

    def forward(self, image):
        latent = self.vae.encode_latent(image)
        residual, bits, residuals = latent, [], []
        d = latent.shape[1]
        for si, (h, w) in enumerate(self.sizes):
            last = si == len(self.sizes) - 1
            r = residual if last else self.down[si](residual)  # [B, d, h, w]
            z = F.normalize(flat_tokens(r), dim=-1)  # [B, hw, d]
            zhat = torch.where(z > 0, torch.ones_like(z), -torch.ones_like(z)) * (1.0 / d**0.5)
            q = z + (zhat - z)  # the official straight-through value (see BSQ.forward)
            bits.append((q > 0).to(torch.uint8))
            residuals.append(flat_tokens(r))
            if not last:
                q = self.up[si](q.transpose(1, 2).reshape(-1, d, h, w))
                residual = residual - q
        return latent, torch.cat(bits, dim=1), torch.cat(residuals, dim=1)


class BitsToLatentGraph(nn.Module):
    """bits [B, L, d] -> latent [B, d, h, w] (summed codes, the decoder's input) and nextInput [B, L - 1, d] (the
    transformer's teacher-forced input: the cumulative latent resized to each next scale, bilinear)."""

    def __init__(self, vae: BSQVAE, vae_schedule: Schedule):
        super().__init__()
        self.vae, self.sizes = vae, [(h, w) for _, h, w in vae_schedule]
        full = self.sizes[-1]
        self.up = nn.ModuleList(Resample(s, full, LINEAR) for s in self.sizes[:-1])
        self.next = nn.ModuleList(Resample(full, s, LINEAR) for s in self.sizes[1:-1])

    def forward(self, bits):
        d = bits.shape[-1]
        codes = codes_of(self.vae, bits)  # [B, L, d]
        f_hat, inputs, begin = None, [], 0
        for si, (h, w) in enumerate(self.sizes):
            c = codes[:, begin : begin + h * w].transpose(1, 2).reshape(-1, d, h, w)
            begin += h * w
            last = si == len(self.sizes) - 1
            c = c if last else self.up[si](c)
            f_hat = c if f_hat is None else f_hat + c
            if si < len(self.sizes) - 2:
                inputs.append(flat_tokens(self.next[si](f_hat)))
            elif si == len(self.sizes) - 2:  # the last scale's input is f_hat at full size
                inputs.append(flat_tokens(f_hat))
        return f_hat, torch.cat(inputs, dim=1)


class BsqDecoderGraph(nn.Module):
    """latent [B, d, h, w] -> image [B, 3, H, W] in [-1, 1]."""

    def __init__(self, vae: BSQVAE):
        super().__init__()
        self.vae = vae

    def forward(self, latent):
        return self.vae.decode(latent)


def tokenizer_io(vae: BSQVAE, vae_schedule: Schedule) -> dict:
    """(inputs, outputs) {name: (dtype, dims)} of each tokenizer graph, 'batch' dynamic."""
    d, (_, h, w) = vae.codebook_dim, vae_schedule[-1]
    H, W = h * vae.cfg.patch_size, w * vae.cfg.patch_size
    L = sum(t * sh * sw for t, sh, sw in vae_schedule)
    latent = ('float32', ['batch', d, h, w])
    return {
        'bsqEncoder': (
            {'image': ('float32', ['batch', 3, H, W])},
            {'latent': latent, 'bits': ('uint8', ['batch', L, d]), 'residual': ('float32', ['batch', L, d])},
        ),
        'bitsToLatent': (
            {'bits': ('uint8', ['batch', L, d])},
            {'latent': latent, 'nextInput': ('float32', ['batch', L - 1, d])},
        ),
        'bsqDecoder': ({'latent': latent}, {'image': ('float32', ['batch', 3, H, W])}),
    }


def tokenizer_graphs(vae: BSQVAE, vae_schedule: Schedule) -> dict:
    """The module behind each tokenizer graph."""
    return {
        'bsqEncoder': BitsEncoderGraph(vae, vae_schedule),
        'bitsToLatent': BitsToLatentGraph(vae, vae_schedule),
        'bsqDecoder': BsqDecoderGraph(vae),
    }


def example_inputs(vae: BSQVAE, vae_schedule: Schedule) -> dict:
    """Tracing inputs per graph (batch 2, so the tracer keeps it symbolic)."""
    io = tokenizer_io(vae, vae_schedule)
    g = torch.Generator().manual_seed(0)
    dims = {
        name: [2 if isinstance(x, str) else x for x in spec[0][next(iter(spec[0]))][1]] for name, spec in io.items()
    }
    return {
        'bsqEncoder': (torch.rand(*dims['bsqEncoder'], generator=g) * 2 - 1,),
        'bitsToLatent': ((torch.rand(*dims['bitsToLatent'], generator=g) > 0.5).to(torch.uint8),),
        'bsqDecoder': (torch.randn(*dims['bsqDecoder'], generator=g),),
    }
