"""Infinity's tokenizer: a conv autoencoder (FLUX-style, no attention) around a multi-scale Binary Spherical
Quantizer (BSQ). Every token is d bits and there is no codebook table: bit j of a token is the sign of latent
channel j of the residual at that scale, and its code is (2 bit - 1) / sqrt(d) on every channel.

Module names mirror the official VAE checkpoints ({'vae': state_dict}; every conv and GroupNorm wrapped one level
deeper, `....conv.weight`, `....norm.weight`), so they load strictly."""
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# The official quantizer's resampling: residuals go down by area, codes come up by trilinear interpolation
# (on [B, d, 1, h, w], i.e. bilinear in h and w, align_corners=False).
Z_DOWN, Z_UP = 'area', 'trilinear'


class Conv(nn.Module):
    """A 2D convolution wrapped as the official checkpoints store it (`<name>.conv.weight`)."""

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding)

    def forward(self, x):
        return self.conv(x)


class Normalize(nn.Module):
    """GroupNorm (eps 1e-6) with 32 groups, or 24 where the width is not a multiple of 32, wrapped as stored."""

    def __init__(self, channels: int):
        super().__init__()
        groups = 32 if channels % 32 == 0 else 24 if channels % 24 == 0 else 0
        if not groups:
            raise ValueError(f'a BSQ VAE width must be a multiple of 32 or 24, not {channels}')
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6, affine=True)

    def forward(self, x):
        return self.norm(x)


def swish(x):
    """x * sigmoid(x), written as the official VAE writes it."""
    return x * torch.sigmoid(x)


class ResnetBlock(nn.Module):
    """norm-swish-conv twice, plus the input (through a 1x1 conv when the width changes)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.norm1, self.conv1 = Normalize(cin), Conv(cin, cout, 3, padding=1)
        self.norm2, self.conv2 = Normalize(cout), Conv(cout, cout, 3, padding=1)
        if cin != cout:
            self.nin_shortcut = Conv(cin, cout, 1)

    def forward(self, x):  # [B, Cin, h, w] -> [B, Cout, h, w]
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        return (self.nin_shortcut(x) if hasattr(self, 'nin_shortcut') else x) + h


class Downsample(nn.Module):
    """Stride-2 3x3 conv after padding right and bottom by one."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = Conv(channels, channels, 3, stride=2)

    def forward(self, x):  # [B, C, h, w] -> [B, C, h/2, w/2]
        return self.conv(F.pad(x, (0, 1, 0, 1), mode='constant', value=0.0))


class Upsample(nn.Module):
    """Nearest 2x, then a 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = Conv(channels, channels, 3, padding=1)

    def forward(self, x):  # [B, C, h, w] -> [B, C, 2h, 2w]
        return self.conv(F.interpolate(x, scale_factor=2, mode='nearest'))


class Encoder(nn.Module):
    """Image [B, 3, H, W] -> latent h [B, d, H/patch, W/patch]; levels below log2(patch) end with a downsample."""

    def __init__(self, ch: int, ch_mult: Sequence[int], num_res_blocks: int, z_channels: int, patch_size: int):
        super().__init__()
        n_down = int(np.log2(patch_size))
        self.conv_in = Conv(3, ch, 3, padding=1)
        in_ch_mult = (1,) + tuple(ch_mult)
        self.down = nn.ModuleList()
        for i_level, mult in enumerate(ch_mult):
            block_in, block_out = ch * in_ch_mult[i_level], ch * mult
            down = nn.Module()
            down.block = nn.ModuleList()
            for _ in range(num_res_blocks):
                down.block.append(ResnetBlock(block_in, block_out))
                block_in = block_out
            if i_level < n_down:
                down.downsample = Downsample(block_in)
            self.down.append(down)
        self.mid = nn.Module()
        self.mid.block_1, self.mid.block_2 = ResnetBlock(block_in, block_in), ResnetBlock(block_in, block_in)
        self.norm_out = Normalize(block_in)
        self.conv_out = Conv(block_in, z_channels, 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for down in self.down:
            for block in down.block:
                h = block(h)
            if hasattr(down, 'downsample'):
                h = down.downsample(h)
        h = self.mid.block_2(self.mid.block_1(h))
        return self.conv_out(swish(self.norm_out(h)))


class Decoder(nn.Module):
    """Latent [B, d, h, w] -> image [B, 3, H, W] (unclamped); num_res_blocks + 1 blocks per level."""

    def __init__(self, ch: int, ch_mult: Sequence[int], num_res_blocks: int, z_channels: int, patch_size: int):
        super().__init__()
        n_up = int(np.log2(patch_size))
        block_in = ch * ch_mult[-1]
        self.conv_in = Conv(z_channels, block_in, 3, padding=1)
        self.mid = nn.Module()
        self.mid.block_1, self.mid.block_2 = ResnetBlock(block_in, block_in), ResnetBlock(block_in, block_in)
        ups: List[nn.Module] = []
        for i_level in reversed(range(len(ch_mult))):
            up = nn.Module()
            up.block = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                up.block.append(ResnetBlock(block_in, ch * ch_mult[i_level]))
                block_in = ch * ch_mult[i_level]
            if 1 <= i_level <= n_up:
                up.upsample = Upsample(block_in)
            ups.insert(0, up)  # index = level: up.0 is the finest
        self.up = nn.ModuleList(ups)
        self.norm_out = Normalize(block_in)
        self.conv_out = Conv(block_in, 3, 3, padding=1)

    def forward(self, z):
        h = self.mid.block_2(self.mid.block_1(self.conv_in(z)))
        for up in reversed(self.up):
            for block in up.block:
                h = block(h)
            if hasattr(up, 'upsample'):
                h = up.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


class BSQ(nn.Module):
    """One scale of binary spherical quantization: l2-normalise each position's d channels, keep the signs."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.codebook_scale = 1 / np.sqrt(dim)  # float64, as the official
        # Bit weights of the integer label (unused with bit labels; stored in every official checkpoint).
        self.register_buffer('mask', 2 ** torch.arange(dim - 1, -1, -1))

    def forward(self, x):  # residual [B, d, 1, h, w] -> (quantized [B, d, 1, h, w], bits [B, 1, h, w, d] int32)
        z = F.normalize(x.permute(0, 2, 3, 4, 1), dim=-1)  # [B, 1, h, w, d] on the unit sphere
        one = torch.ones_like(z)
        zhat = torch.where(z > 0, one, -one) * (1.0 / self.dim**0.5)
        # NOTE: the official output is z + (zhat - z), a straight-through estimator's forward value: it differs
        # from zhat by an ulp, and the next scale's residual sees that value.
        quantized = z + (zhat - z)
        bits = (quantized > 0).int()
        return quantized.permute(0, 4, 1, 2, 3), bits

    def bits_to_codes(self, bits):  # [B, 1, h, w, d] 0/1 -> codes [B, d, 1, h, w]
        """The code of each token: (2 bit - 1) * scale, l2-normalised (so +-1/sqrt(d) per channel)."""
        codes = F.normalize(bits.float() * self.codebook_scale * 2 - self.codebook_scale, dim=-1)
        return codes.permute(0, 4, 1, 2, 3)


class MultiScaleBSQ(nn.Module):
    """Residual quantization over a scale schedule: per scale, area-down the residual, BSQ it, trilinear-up the
    codes, subtract them from the residual and add them to f_hat."""

    def __init__(self, dim: int):
        super().__init__()
        self.lfq = BSQ(dim)


@dataclass
class TokenizerRun:
    """What encoding one image produced, per scale (VAE schedule order)."""

    bits: List[torch.Tensor]  # K x [B, 1, h, w, d] int32
    residuals: List[torch.Tensor]  # K x [B, d, 1, h, w]: BSQ's input (area-downsampled residual)
    f_hat: List[torch.Tensor]  # K x [B, d, 1, H, W]: cumulative latent after each scale


@dataclass
class BSQVAEConfig:
    """The shape of a BSQ VAE: bits per token, channels, levels, and the stride (16, or 8 for spatial patchify)."""

    codebook_dim: int = 32
    base_ch: int = 128
    ch_mult: Tuple[int, ...] = (1, 2, 4, 4, 4)
    num_res_blocks: int = 2
    patch_size: int = 16

    @staticmethod
    def from_state_dict(sd: Dict[str, torch.Tensor]) -> 'BSQVAEConfig':
        """Reads the shape off an official VAE state dict (run_infinity chooses it from flags; the tensors suffice)."""
        base_ch = sd['encoder.conv_in.conv.weight'].shape[0]
        levels = sorted({int(k.split('.')[2]) for k in sd if k.startswith('decoder.up.')})
        ch_mult = tuple(sd[f'decoder.up.{i}.block.0.conv2.conv.weight'].shape[0] // base_ch for i in levels)
        blocks = {int(k.split('.')[4]) for k in sd if k.startswith('decoder.up.0.block.')}
        n_down = sum(1 for k in sd if k.startswith('encoder.down.') and k.endswith('downsample.conv.conv.weight'))
        return BSQVAEConfig(sd['encoder.conv_out.conv.weight'].shape[0], base_ch, ch_mult, len(blocks) - 1, 2**n_down)


class BSQVAE(nn.Module):
    """Encoder -> multi-scale BSQ -> decoder. Images are [B, 3, H, W] in [-1, 1], RGB."""

    def __init__(self, cfg: BSQVAEConfig):
        super().__init__()
        self.cfg, self.codebook_dim = cfg, cfg.codebook_dim
        args = (cfg.base_ch, cfg.ch_mult, cfg.num_res_blocks, cfg.codebook_dim, cfg.patch_size)
        self.encoder, self.decoder = Encoder(*args), Decoder(*args)
        self.quantizer = MultiScaleBSQ(cfg.codebook_dim)
        self.quantize = self.quantizer  # the official alias: its buffers are stored under both names

    def encode_latent(self, img):  # [B, 3, H, W] -> h [B, d, H/16, W/16]
        """The encoder's latent (no projection, no norm before the quantizer)."""
        return self.encoder(img)

    def quantize_scales(self, h, vae_schedule) -> TokenizerRun:
        """Bits of every scale of the latent h [B, d, H, W]; the last scale of vae_schedule must be h's size."""
        lfq = self.quantizer.lfq
        full = (1,) + tuple(h.shape[-2:])
        if tuple(vae_schedule[-1]) != full:
            raise ValueError(f'the schedule ends at {tuple(vae_schedule[-1])}, the latent is {full}')
        residual, f_hat = h.unsqueeze(2), 0.0  # [B, d, 1, H, W]
        run = TokenizerRun([], [], [])
        for scale in vae_schedule:
            scale = tuple(scale)
            r = F.interpolate(residual, size=scale, mode=Z_DOWN) if scale != full else residual
            quantized, bits = lfq(r)
            if scale != full:
                quantized = F.interpolate(quantized, size=full, mode=Z_UP)
            residual = residual - quantized
            f_hat = f_hat + quantized
            run.bits.append(bits)
            run.residuals.append(r)
            run.f_hat.append(f_hat)
        return run

    def bits_to_latent(self, bits: List[torch.Tensor], vae_schedule) -> torch.Tensor:
        """Summed codes [B, d, H, W] of K x [B, 1, h, w, d] bits: each scale's codes trilinear-up, added."""
        f_hat = 0.0
        for b in bits:
            f_hat = f_hat + F.interpolate(self.quantizer.lfq.bits_to_codes(b), size=tuple(vae_schedule[-1]), mode=Z_UP)
        return f_hat.squeeze(2)

    def next_scale_inputs(self, bits: List[torch.Tensor], vae_schedule) -> torch.Tensor:
        """The teacher-forced transformer input [B, L - 1, d]: scale k + 1's input from the codes of scales 0..k
        (next_scale_input of their cumulative sum), each scale row-major; the start token's scale has none."""
        f_hat, inputs = 0.0, []
        full = tuple(vae_schedule[-1])
        for si, b in enumerate(bits[:-1]):
            f_hat = f_hat + F.interpolate(self.quantizer.lfq.bits_to_codes(b), size=full, mode=Z_UP)
            nxt = next_scale_input(f_hat, vae_schedule[si + 1])  # [B, d, 1, h, w]
            inputs.append(nxt.flatten(2).transpose(1, 2))
        return torch.cat(inputs, dim=1)

    def decode(self, z):  # [B, d, H/16, W/16] -> [B, 3, H, W] in [-1, 1]
        """The decoder, clamped as the official decode()."""
        return self.decoder(z).clamp(-1, 1)


def next_scale_input(f_hat, scale) -> torch.Tensor:
    """The transformer's input for a scale: the cumulative latent f_hat [B, d, 1, H, W] resampled to (1, h, w) with
    the *up* mode (trilinear), as the official trainer and sampler do: bilinear downsampling without antialias, not
    the area of the quantizer's own residuals."""
    return F.interpolate(f_hat, size=tuple(scale), mode=Z_UP)
