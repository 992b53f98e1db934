"""Multi-scale VQ-VAE of VAR: conv encoder / decoder (LDM style) around the multi-scale quantizer.

Module names mirror the official state_dict keys so official checkpoints load strictly."""
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .quant import MultiScaleQuantizer


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm(32, eps 1e-6) as in the official VAE."""
    return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)


class Upsample2x(nn.Module):
    """Nearest 2x upsampling then a 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1)

    def forward(self, x):  # [B, C, h, w] -> [B, C, 2h, 2w]
        return self.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'))


class Downsample2x(nn.Module):
    """Stride-2 3x3 conv after padding right/bottom by one (asymmetric, as trained)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=0)

    def forward(self, x):  # [B, C, h, w] -> [B, C, h/2, w/2]
        return self.conv(F.pad(x, pad=(0, 1, 0, 1), mode='constant', value=0.0))


class ResnetBlock(nn.Module):
    """GroupNorm-SiLU-conv twice with a 1x1 shortcut when the width changes."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)
        self.norm2 = group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1)
        self.nin_shortcut = (
            nn.Conv2d(in_channels, out_channels, kernel_size=1) if in_channels != out_channels else nn.Identity()
        )

    def forward(self, x):  # [B, Cin, h, w] -> [B, Cout, h, w]
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.nin_shortcut(x) + h


class AttnBlock(nn.Module):
    """Single-head spatial self-attention over all h*w positions."""

    def __init__(self, channels: int):
        super().__init__()
        self.C = channels
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, kernel_size=1)
        self.w_ratio = int(channels) ** (-0.5)
        self.proj_out = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x):  # [B, C, h, w]
        qkv = self.qkv(self.norm(x))
        B, _, H, W = qkv.shape
        q, k, v = qkv.reshape(B, 3, self.C, H * W).unbind(1)  # each [B, C, hw]
        w = torch.bmm(q.permute(0, 2, 1), k).mul(self.w_ratio)  # [B, hw(q), hw(k)]
        w = F.softmax(w, dim=2)
        h = torch.bmm(v, w.permute(0, 2, 1))  # [B, C, hw(q)]
        return x + self.proj_out(h.reshape(B, self.C, H, W))


class Encoder(nn.Module):
    """Image [B,3,H,W] -> latent [B,z,H/2^(n-1),W/2^(n-1)] with n = len(ch_mult)."""

    def __init__(
        self,
        ch: int,
        ch_mult: Sequence[int],
        num_res_blocks: int,
        z_channels: int,
        using_sa: bool = True,
        using_mid_sa: bool = True,
        in_channels: int = 3,
    ):
        super().__init__()
        self.num_resolutions, self.num_res_blocks = len(ch_mult), num_res_blocks
        self.conv_in = nn.Conv2d(in_channels, ch, kernel_size=3, stride=1, padding=1)
        in_ch_mult = (1,) + tuple(ch_mult)
        self.down = nn.ModuleList()
        block_in = ch
        for i_level in range(self.num_resolutions):
            block, attn = nn.ModuleList(), nn.ModuleList()
            block_in, block_out = ch * in_ch_mult[i_level], ch * ch_mult[i_level]
            for _ in range(num_res_blocks):
                block.append(ResnetBlock(block_in, block_out))
                block_in = block_out
                if i_level == self.num_resolutions - 1 and using_sa:
                    attn.append(AttnBlock(block_in))
            down = nn.Module()
            down.block, down.attn = block, attn
            if i_level != self.num_resolutions - 1:
                down.downsample = Downsample2x(block_in)
            self.down.append(down)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in)
        self.mid.attn_1 = AttnBlock(block_in) if using_mid_sa else nn.Identity()
        self.mid.block_2 = ResnetBlock(block_in, block_in)
        self.norm_out = group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, z_channels, kernel_size=3, stride=1, padding=1)

    def forward(self, x):  # [B, 3, H, W] -> [B, z, h, w]
        h = self.conv_in(x)
        for i_level, down in enumerate(self.down):
            for i_block in range(self.num_res_blocks):
                h = down.block[i_block](h)
                if len(down.attn) > 0:
                    h = down.attn[i_block](h)
            if i_level != self.num_resolutions - 1:
                h = down.downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """Latent [B,z,h,w] -> image [B,3,H,W] (unclamped); num_res_blocks+1 blocks per level."""

    def __init__(
        self,
        ch: int,
        ch_mult: Sequence[int],
        num_res_blocks: int,
        z_channels: int,
        using_sa: bool = True,
        using_mid_sa: bool = True,
        out_channels: int = 3,
    ):
        super().__init__()
        self.num_resolutions, self.num_res_blocks = len(ch_mult), num_res_blocks
        block_in = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, block_in, kernel_size=3, stride=1, padding=1)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in)
        self.mid.attn_1 = AttnBlock(block_in) if using_mid_sa else nn.Identity()
        self.mid.block_2 = ResnetBlock(block_in, block_in)
        ups: List[nn.Module] = []
        for i_level in reversed(range(self.num_resolutions)):
            block, attn = nn.ModuleList(), nn.ModuleList()
            block_out = ch * ch_mult[i_level]
            for _ in range(num_res_blocks + 1):
                block.append(ResnetBlock(block_in, block_out))
                block_in = block_out
                if i_level == self.num_resolutions - 1 and using_sa:
                    attn.append(AttnBlock(block_in))
            up = nn.Module()
            up.block, up.attn = block, attn
            if i_level != 0:
                up.upsample = Upsample2x(block_in)
            ups.insert(0, up)  # index = level, so keys read up.0 (finest) .. up.n-1 (coarsest)
        self.up = nn.ModuleList(ups)
        self.norm_out = group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, out_channels, kernel_size=3, stride=1, padding=1)

    def forward(self, z):  # [B, z, h, w] -> [B, 3, H, W]
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(self.conv_in(z))))
        for i_level in reversed(range(self.num_resolutions)):
            up = self.up[i_level]
            for i_block in range(self.num_res_blocks + 1):
                h = up.block[i_block](h)
                if len(up.attn) > 0:
                    h = up.attn[i_block](h)
            if i_level != 0:
                h = up.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class VQVAE(nn.Module):
    """The VAR tokenizer: encoder + quant_conv -> multi-scale quantizer -> post_quant_conv + decoder."""

    def __init__(
        self,
        vocab_size: int = 4096,
        z_channels: int = 32,
        ch: int = 160,
        ch_mult: Sequence[int] = (1, 1, 2, 2, 4),
        num_res_blocks: int = 2,
        using_sa: bool = True,
        using_mid_sa: bool = True,
        quant_conv_ks: int = 3,
        quant_resi: float = 0.5,
        phi_count: int = 4,
        patch_nums: Sequence[int] = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16),
    ):
        super().__init__()
        self.V, self.Cvae = vocab_size, z_channels
        self.ch_mult = tuple(ch_mult)
        self.downsample = 2 ** (len(ch_mult) - 1)
        self.encoder = Encoder(ch, ch_mult, num_res_blocks, z_channels, using_sa, using_mid_sa)
        self.decoder = Decoder(ch, ch_mult, num_res_blocks, z_channels, using_sa, using_mid_sa)
        self.quantize = MultiScaleQuantizer(vocab_size, z_channels, patch_nums, quant_resi, phi_count)
        pad = quant_conv_ks // 2
        self.quant_conv = nn.Conv2d(z_channels, z_channels, quant_conv_ks, stride=1, padding=pad)
        self.post_quant_conv = nn.Conv2d(z_channels, z_channels, quant_conv_ks, stride=1, padding=pad)

    def img_to_f(self, img):  # [B, 3, H, W] in [-1, 1] -> f [B, Cvae, h, w]
        """Encoder latent after quant_conv (what the quantizer sees)."""
        return self.quant_conv(self.encoder(img))

    def fhat_to_img(self, f_hat):  # [B, Cvae, h, w] -> [B, 3, H, W] in [-1, 1]
        """Decode a (partial) f_hat to pixels, clamped like the official fhat_to_img."""
        return self.decoder(self.post_quant_conv(f_hat)).clamp(-1, 1)

    def img_to_idxBl(self, img) -> List[torch.Tensor]:  # -> SN x [B, pn*pn]
        """Token ids of every scale."""
        return self.quantize.quantize(self.img_to_f(img)).idx_Bl
