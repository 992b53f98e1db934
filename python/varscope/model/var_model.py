"""The VAR transformer: class-conditioned (AdaLN) GPT that predicts every token of scale k at once from the
class token and all coarser scales (block-causal mask); KV-cached inference with the official CFG ramp."""
import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .sampling import sample_with_top_k_top_p


class SelfAttention(nn.Module):
    """Multi-head attention with q/v biases, optional l2-normalised q, k and a learnt per-head scale."""

    # True only while varscope.bundle.graphs.folded_weights() exports as exporter 0.1.0 did (the qkv bias folded)
    fold_qkv_bias = False

    def __init__(self, embed_dim: int, num_heads: int, attn_l2_norm: bool):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, embed_dim // num_heads
        self.attn_l2_norm = attn_l2_norm
        if attn_l2_norm:
            self.scale = 1.0
            self.scale_mul_1H11 = nn.Parameter(torch.full((1, num_heads, 1, 1), 4.0).log())
            self.max_scale_mul = torch.log(torch.tensor(100)).item()  # float32 log(100), as official
        else:
            self.scale = 0.25 / math.sqrt(self.head_dim)
        self.mat_qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=False)
        self.q_bias, self.v_bias = nn.Parameter(torch.zeros(embed_dim)), nn.Parameter(torch.zeros(embed_dim))
        self.register_buffer('zero_k_bias', torch.zeros(embed_dim))
        self.proj = nn.Linear(embed_dim, embed_dim)

    def forward(self, x, attn_bias=None, past_k=None, past_v=None):
        """x [B, l, D] -> (out [B, l, D], k [B, nh, Lp+l, hd], v [same], q [B, nh, l, hd] scaled).

        The softmax weights are attention_weights(q, k, attn_bias); they are not returned, so that a caller keeping
        one block's weights holds two small tensors per block instead of one [B, nh, l, Lp+l]."""
        B, l, D = x.shape
        # NOTE: abs() of the zeros is exact and keeps torch.onnx from folding the concatenation into a new weight that
        # no checkpoint key holds (a bundle's weights must be copies of the checkpoint's; onnxruntime folds it instead).
        zero_k_bias = self.zero_k_bias if self.fold_qkv_bias else self.zero_k_bias.abs()
        bias = torch.cat((self.q_bias, zero_k_bias, self.v_bias))
        qkv = F.linear(x, self.mat_qkv.weight, bias).view(B, l, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(dim=0)  # each [B, nh, l, hd]
        if self.attn_l2_norm:
            scale_mul = self.scale_mul_1H11.clamp_max(self.max_scale_mul).exp()
            q = F.normalize(q, dim=-1).mul(scale_mul)
            k = F.normalize(k, dim=-1)
        if past_k is not None:  # the cache holds k after normalisation, as the official kv_caching
            k, v = torch.cat((past_k, k), dim=2), torch.cat((past_v, v), dim=2)
        q = q.mul(self.scale)
        weights = attention_weights(q, k, attn_bias)  # [B, nh, l, Lp+l]
        out = (weights @ v).transpose(1, 2).reshape(B, l, D)
        return self.proj(out), k, v, q


def attention_weights(q, k, attn_bias=None):
    """Softmax attention weights [B, nh, l, Lk] of scaled queries q [B, nh, l, hd] on keys k [B, nh, Lk, hd]."""
    attn = q @ k.transpose(-2, -1)
    if attn_bias is not None:
        attn = attn + attn_bias
    return attn.softmax(dim=-1)


class FFN(nn.Module):
    """fc1 - GELU(tanh) - fc2."""

    def __init__(self, embed_dim: int, hidden: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = (
            nn.Linear(embed_dim, hidden),
            nn.GELU(approximate='tanh'),
            nn.Linear(hidden, embed_dim),
        )

    def forward(self, x):  # [B, L, D]
        return self.fc2(self.act(self.fc1(x)))


class AdaLNSelfAttn(nn.Module):
    """Pre-norm block whose LayerNorm scale/shift and residual gates come from the class condition."""

    def __init__(
        self, embed_dim: int, num_heads: int, mlp_ratio: float, shared_aln: bool, attn_l2_norm: bool, norm_eps: float
    ):
        super().__init__()
        self.C, self.shared_aln = embed_dim, shared_aln
        self.attn = SelfAttention(embed_dim, num_heads, attn_l2_norm)
        self.ffn = FFN(embed_dim, round(embed_dim * mlp_ratio))
        self.ln_wo_grad = nn.LayerNorm(embed_dim, eps=norm_eps, elementwise_affine=False)
        if shared_aln:
            self.ada_gss = nn.Parameter(torch.randn(1, 1, 6, embed_dim) / embed_dim**0.5)
        else:
            self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(embed_dim, 6 * embed_dim))

    def forward(self, x, cond, attn_bias=None, past_k=None, past_v=None):
        """x [B, l, C], cond [B, D] (or [B, 1, 6, C] when shared) -> (x, k, v, q): q, k as attention_weights takes."""
        if self.shared_aln:
            gamma1, gamma2, scale1, scale2, shift1, shift2 = (self.ada_gss + cond).unbind(2)  # 6 x [B, 1, C]
        else:
            gamma1, gamma2, scale1, scale2, shift1, shift2 = self.ada_lin(cond).view(-1, 1, 6, self.C).unbind(2)
        a, k, v, q = self.attn(self.ln_wo_grad(x).mul(scale1.add(1)).add(shift1), attn_bias, past_k, past_v)
        x = x + a.mul(gamma1)
        x = x + self.ffn(self.ln_wo_grad(x).mul(scale2.add(1)).add(shift2)).mul(gamma2)
        return x, k, v, q


class AdaLNBeforeHead(nn.Module):
    """Class-conditioned LayerNorm before the vocabulary head."""

    def __init__(self, C: int, D: int, norm_eps: float):
        super().__init__()
        self.C = C
        self.ln_wo_grad = nn.LayerNorm(C, eps=norm_eps, elementwise_affine=False)
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(D, 2 * C))

    def forward(self, x_BLC, cond_BD):
        scale, shift = self.ada_lin(cond_BD).view(-1, 1, 2, self.C).unbind(2)
        return self.ln_wo_grad(x_BLC).mul(scale.add(1)).add(shift)


class SharedAdaLin(nn.Linear):
    """One AdaLN projection shared by every block: cond [B, D] -> [B, 1, 6, C]."""

    def forward(self, cond_BD):
        return super().forward(cond_BD).view(-1, 1, 6, self.weight.shape[0] // 6)


@dataclass
class CfgRun:
    """What one KV-cached CFG generation produced, per step."""

    idx_Bl: List[torch.Tensor] = field(default_factory=list)  # SN x [B, pn*pn]
    logits: List[torch.Tensor] = field(default_factory=list)  # SN x [B, pn*pn, V] CFG-combined
    f_hat: Optional[torch.Tensor] = None  # [B, Cvae, h, w] after the last step
    f_hats: List[torch.Tensor] = field(default_factory=list)  # SN x [B, Cvae, h, w] after each step


class VAR(nn.Module):
    """Next-scale prediction transformer over a VQVAE's token pyramid."""

    def __init__(
        self,
        Cvae: int,
        vocab_size: int,
        num_classes: int = 1000,
        depth: int = 16,
        embed_dim: int = 1024,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        norm_eps: float = 1e-6,
        shared_aln: bool = False,
        attn_l2_norm: bool = True,
        patch_nums: Sequence[int] = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16),
    ):
        super().__init__()
        self.Cvae, self.V, self.C, self.D = Cvae, vocab_size, embed_dim, embed_dim
        self.depth, self.num_heads, self.num_classes = depth, num_heads, num_classes
        self.patch_nums = tuple(patch_nums)
        self.L = sum(pn * pn for pn in self.patch_nums)
        self.first_l = self.patch_nums[0] ** 2
        self.begin_ends: List[Tuple[int, int]] = []
        cur = 0
        for pn in self.patch_nums:
            self.begin_ends.append((cur, cur + pn * pn))
            cur += pn * pn
        self.word_embed = nn.Linear(Cvae, embed_dim)
        self.class_emb = nn.Embedding(num_classes + 1, embed_dim)  # row num_classes = the null class (CFG)
        self.pos_start = nn.Parameter(torch.zeros(1, self.first_l, embed_dim))
        self.pos_1LC = nn.Parameter(torch.zeros(1, self.L, embed_dim))
        self.lvl_embed = nn.Embedding(len(self.patch_nums), embed_dim)
        self.shared_ada_lin = (
            nn.Sequential(nn.SiLU(), SharedAdaLin(embed_dim, 6 * embed_dim)) if shared_aln else nn.Identity()
        )
        self.blocks = nn.ModuleList(
            [AdaLNSelfAttn(embed_dim, num_heads, mlp_ratio, shared_aln, attn_l2_norm, norm_eps) for _ in range(depth)]
        )
        d = torch.cat([torch.full((pn * pn,), i) for i, pn in enumerate(self.patch_nums)]).view(1, self.L, 1)
        dT = d.transpose(1, 2)
        self.register_buffer('lvl_1L', dT[:, 0].contiguous())  # [1, L] scale id
        self.register_buffer(
            'attn_bias_for_masking',  # [1, 1, L, L]
            torch.where(d >= dT, 0.0, -torch.inf).reshape(1, 1, self.L, self.L).contiguous(),
        )
        self.head_nm = AdaLNBeforeHead(embed_dim, embed_dim, norm_eps)
        self.head = nn.Linear(embed_dim, vocab_size)

    def lvl_pos(self) -> torch.Tensor:  # [1, L, C]
        """Level + absolute position embedding of every token."""
        return self.lvl_embed(self.lvl_1L) + self.pos_1LC

    def get_logits(self, h_BLC, cond_BD):  # -> [B, L, V]
        """Head after the class-conditioned norm."""
        return self.head(self.head_nm(h_BLC, cond_BD))

    def run_blocks(self, x, cond_BD, attn_bias=None, past_k=None, past_v=None, attn_block: Optional[int] = None):
        """Blocks then head: x [B, l, C] -> (logits [B, l, V], ks, vs, weights of attn_block or None)."""
        cond = self.shared_ada_lin(cond_BD)
        ks, vs, weights = [], [], None
        for i, b in enumerate(self.blocks):
            x, k, v, q = b(
                x, cond, attn_bias, None if past_k is None else past_k[i], None if past_v is None else past_v[i]
            )
            ks.append(k)
            vs.append(v)
            if attn_block is not None and i == attn_block:
                weights = attention_weights(q, k, attn_bias)
        return self.get_logits(x, cond_BD), ks, vs, weights

    def teacher_input(self, label_B: torch.Tensor, x_BLCv_wo_first_l: torch.Tensor):
        """Embedded teacher-forcing sequence [B, L, C] and the class condition [B, D]."""
        B = x_BLCv_wo_first_l.shape[0]
        cond_BD = self.class_emb(label_B)
        sos = cond_BD.unsqueeze(1).expand(B, self.first_l, -1) + self.pos_start.expand(B, self.first_l, -1)
        x_BLC = torch.cat((sos, self.word_embed(x_BLCv_wo_first_l.float())), dim=1)
        return x_BLC + (self.lvl_embed(self.lvl_1L.expand(B, -1)) + self.pos_1LC), cond_BD

    def forward(self, label_B: torch.Tensor, x_BLCv_wo_first_l: torch.Tensor, attn_block: Optional[int] = None):
        """Teacher-forced logits [B, L, V] (and [B, nh, L, L] attention weights of attn_block when asked)."""
        x_BLC, cond_BD = self.teacher_input(label_B, x_BLCv_wo_first_l)
        logits, _, _, weights = self.run_blocks(x_BLC, cond_BD, self.attn_bias_for_masking, attn_block=attn_block)
        return logits if attn_block is None else (logits, weights)

    def step_input(self, si: int, cond_BD: torch.Tensor, x_BlCv: Optional[torch.Tensor]) -> torch.Tensor:
        """Embedded input [B, l, C] of step si: the class token at scale 0, else word_embed of the next-scale input."""
        bg, ed = self.begin_ends[si]
        if si == 0:
            B = cond_BD.shape[0]
            return (
                cond_BD.unsqueeze(1).expand(B, self.first_l, -1)
                + self.pos_start.expand(B, self.first_l, -1)
                + self.lvl_pos()[:, : self.first_l]
            )
        return self.word_embed(x_BlCv) + self.lvl_pos()[:, bg:ed]

    @torch.no_grad()
    def autoregressive_infer_cfg(
        self,
        vae,
        B: int,
        label_B,
        g_seed: Optional[int] = None,
        cfg: float = 1.5,
        top_k: int = 0,
        top_p: float = 0.0,
        forced_idx: Optional[List[Optional[torch.Tensor]]] = None,
        greedy: bool = False,
    ):
        """KV-cached generation with the official CFG ramp t = cfg * si / (SN-1); forced_idx replaces the sampler (at the
        scales where it is not None); greedy takes the most probable code instead of sampling."""
        rng = None
        if g_seed is not None:
            rng = torch.Generator().manual_seed(g_seed)
        if isinstance(label_B, int):
            label_B = torch.full((B,), self.num_classes if label_B < 0 else label_B, dtype=torch.long)
        cond_BD = self.class_emb(torch.cat((label_B, torch.full_like(label_B, self.num_classes)), dim=0))  # [2B, D]
        quant = vae.quantize
        H = self.patch_nums[-1]
        f_hat = torch.zeros(B, self.Cvae, H, H)
        run, past_k, past_v, x_next = CfgRun(), None, None, None
        SN = len(self.patch_nums)
        for si, pn in enumerate(self.patch_nums):
            x = self.step_input(si, cond_BD, x_next)
            logits, past_k, past_v, _ = self.run_blocks(x, cond_BD, None, past_k, past_v)
            t = cfg * si / (SN - 1)
            logits = (1 + t) * logits[:B] - t * logits[B:]
            if forced_idx is not None and forced_idx[si] is not None:
                idx = forced_idx[si].view(B, pn * pn)
            elif greedy:
                idx = logits.argmax(dim=-1)
            else:
                idx = sample_with_top_k_top_p(logits, top_k=top_k, top_p=top_p, rng=rng, num_samples=1)[:, :, 0]
            run.idx_Bl.append(idx)
            run.logits.append(logits)
            h_BChw = quant.embedding(idx).transpose(1, 2).reshape(B, self.Cvae, pn, pn)
            f_hat, nxt = quant.get_next_autoregressive_input(si, f_hat, h_BChw)
            run.f_hats.append(f_hat)
            if si != SN - 1:
                x_next = nxt.view(B, self.Cvae, -1).transpose(1, 2).repeat(2, 1, 1)  # [2B, pn'^2, Cvae]
        run.f_hat = f_hat
        return run
