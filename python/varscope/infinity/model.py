"""The Infinity transformer: a text-conditioned next-scale GPT over BSQ bits.

A caption's T5 features give the start token and the AdaLN condition (attention pooling) and are cross-attended by
every block; each scale's tokens are predicted at once from the start token and all coarser scales (block-causal
self-attention with 2D RoPE); the head gives two logits per bit, (L, d, 2). Module names mirror the official slim
checkpoints (`block_chunks.{c}.module.{j}.…`), so they load strictly.

Attention is written out (softmax(q k^T * scale + mask) v): torch 1.13 has no scaled_dot_product_attention and the
ONNX export wants plain ops. Captions come packed without padding, as the official call packs them:
kv_compact [N, Ct5] and cu_seqlens [B + 1]; batch row b sees its caption's keys only."""
import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..model.sampling import sample_with_top_k_top_p
from .bsq_vae import BSQVAE, Z_UP, next_scale_input
from .config import InfinityConfig
from .rope import apply_rope2d, rope2d_table
from .schedules import Schedule, begin_ends


def attention_weights(q, k, scale: float, bias=None):
    """softmax(q k^T * scale + bias) [B, H, lq, lk] for q [B, H, lq, c], k [B, H, lk, c]; bias broadcasts."""
    scores = (q * scale) @ k.transpose(-2, -1)
    if bias is not None:
        scores = scores + bias
    return scores.softmax(dim=-1)


def attention(q, k, v, scale: float, bias=None):
    """softmax(q k^T * scale + bias) v for q [B, H, lq, c], k and v [B, H, lk, c]; bias broadcasts to the scores."""
    return attention_weights(q, k, scale, bias) @ v


@dataclass
class AttentionProbe:
    """What one block attended with: its self-attention's q, k (after normalisation and RoPE; scale 1) and its
    cross-attention's q, k (scale cross_scale; float32, no bf16 rounding); block_attention gives the weights."""

    self_q: torch.Tensor  # [B, H, L, c]
    self_k: torch.Tensor  # [B, H, L, c]
    cross_q: torch.Tensor  # [B, H, L, c]
    cross_k: torch.Tensor  # [1, H, N, c]
    cross_scale: float

    def tensors(self):
        return self.self_q, self.self_k, self.cross_q, self.cross_k


def to_bf16_and_back(x):
    """x rounded to bfloat16: what the official text attention does to q, k, v and its output (see CrossAttention)."""
    return x.to(torch.bfloat16).float()


def caption_mask(cu_seqlens: torch.Tensor, n_keys: int) -> torch.Tensor:
    """Additive mask [B, 1, 1, N]: 0 where key n is in caption b's span cu_seqlens[b] .. cu_seqlens[b + 1]."""
    n = torch.arange(n_keys).view(1, -1)
    inside = (n >= cu_seqlens[:-1].long().view(-1, 1)) & (n < cu_seqlens[1:].long().view(-1, 1))
    return torch.zeros(inside.shape).masked_fill(~inside, -math.inf).view(-1, 1, 1, n_keys)


def scale_ids(schedule: Schedule) -> torch.Tensor:
    """[L] int64: the scale index of every token."""
    return torch.cat([torch.full((t * h * w,), k, dtype=torch.long) for k, (t, h, w) in enumerate(schedule)])


def block_causal_bias(schedule: Schedule) -> torch.Tensor:
    """Additive mask [L, L]: a token sees its own scale and every coarser one."""
    level = scale_ids(schedule)
    return torch.zeros(len(level), len(level)).masked_fill(level.view(-1, 1) < level.view(1, -1), -math.inf)


class RMSNorm(nn.Module):
    """x / rms(x) * weight over the last axis (the official FastRMSNorm without flash-attn's kernel)."""

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))

    def forward(self, x):
        return (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True).add(self.eps))) * self.weight


class SelfAttention(nn.Module):
    """Cosine attention: q, k l2-normalised per head, q times a learnt per-head exp(scale_mul) (clamped at 100),
    softmax scale 1; q/v biases, no k bias; 2D RoPE on q and k after the normalisation."""

    def __init__(self, embed_dim: int, num_heads: int):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, embed_dim // num_heads
        self.scale_mul_1H11 = nn.Parameter(torch.full((1, num_heads, 1, 1), 4.0).log())
        self.max_scale_mul = torch.log(torch.tensor(100)).item()  # float32 log(100), as official
        self.mat_qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=False)
        self.q_bias, self.v_bias = nn.Parameter(torch.zeros(embed_dim)), nn.Parameter(torch.zeros(embed_dim))
        self.register_buffer('zero_k_bias', torch.zeros(embed_dim))
        self.proj = nn.Linear(embed_dim, embed_dim)

    def qkv(self, x, rope):
        """x [B, l, C], rope [2, l, c/2] -> q, k, v [B, H, l, c]: q and k normalised, scaled (q) and rotated."""
        B, l, C = x.shape
        qkv = F.linear(x, self.mat_qkv.weight, torch.cat((self.q_bias, self.zero_k_bias, self.v_bias)))
        q, k, v = qkv.view(B, l, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)  # [B, H, l, c]
        scale_mul = self.scale_mul_1H11.clamp_max(self.max_scale_mul).exp()
        q = apply_rope2d(F.normalize(q, dim=-1).mul(scale_mul), rope)
        return q, apply_rope2d(F.normalize(k, dim=-1), rope), v

    def forward(self, x, rope, bias=None, past_k=None, past_v=None):
        """x [B, l, C], rope [2, l, c/2] -> (out [B, l, C], k, v [B, H, Lp + l, c]: the cache after this step)."""
        B, l, C = x.shape
        q, k, v = self.qkv(x, rope)
        if past_k is not None:  # the cache holds k after normalisation and RoPE, as the official kv_caching
            k, v = torch.cat((past_k, k), dim=2), torch.cat((past_v, v), dim=2)
        out = attention(q, k, v, 1.0, bias).transpose(1, 2).reshape(B, l, C)
        return self.proj(out), k, v


class CrossAttention(nn.Module):
    """Attention from the image tokens (or, for the text pool, one learnt query per head) to the caption's tokens.

    NOTE: the official code casts float32 q and kv to bfloat16 before flash-attn and the output back to float32.
    With bf16=True the same roundings are applied here (to match the official outputs that carry them); with False
    the attention stays float32 (the fixtures' *_fp32ca files)."""

    def __init__(self, embed_dim: int, kv_dim: int, num_heads: int, for_attn_pool: bool = False):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, embed_dim // num_heads
        self.scale = 1 / math.sqrt(self.head_dim)
        if for_attn_pool:
            self.mat_q = nn.Parameter(torch.zeros(1, num_heads, self.head_dim))
        else:
            self.mat_q = nn.Linear(embed_dim, embed_dim, bias=True)
        self.mat_kv = nn.Linear(kv_dim, 2 * embed_dim, bias=False)
        self.v_bias = nn.Parameter(torch.zeros(embed_dim))
        self.register_buffer('zero_k_bias', torch.zeros(embed_dim))
        self.proj = nn.Linear(embed_dim, embed_dim)

    def qkv(self, q, kv_compact, B: int):
        """q [B, lq, C] (None for the pool), kv_compact [N, Ckv] -> q [B, H, lq, c], k, v [1, H, N, c]."""
        N = kv_compact.shape[0]
        kv = F.linear(kv_compact, self.mat_kv.weight, torch.cat((self.zero_k_bias, self.v_bias)))
        k, v = kv.view(1, N, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)  # [1, H, N, c]
        if isinstance(self.mat_q, nn.Parameter):
            q = self.mat_q.view(1, self.num_heads, 1, self.head_dim).expand(B, -1, -1, -1)
        else:
            q = self.mat_q(q).view(B, -1, self.num_heads, self.head_dim).transpose(1, 2)  # [B, H, lq, c]
        return q, k, v

    def forward(self, q, kv_compact, mask, bf16: bool = False):
        """q [B, lq, C] (None for the pool: lq = 1), kv_compact [N, Ckv], mask [B, 1, 1, N] -> [B, lq, C]."""
        B = mask.shape[0]
        q, k, v = self.qkv(q, kv_compact, B)
        if bf16:
            q, k, v = to_bf16_and_back(q), to_bf16_and_back(k), to_bf16_and_back(v)
        out = attention(q, k, v, self.scale, mask)  # [B, H, lq, c]
        if bf16:
            out = to_bf16_and_back(out)
        return self.proj(out.transpose(1, 2).reshape(B, -1, self.num_heads * self.head_dim))


class FFN(nn.Module):
    """fc1 - GELU(tanh) - fc2."""

    def __init__(self, embed_dim: int, hidden: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = (
            nn.Linear(embed_dim, hidden),
            nn.GELU(approximate='tanh'),
            nn.Linear(hidden, embed_dim),
        )

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class CrossAttnBlock(nn.Module):
    """AdaLN self-attention, then cross-attention to the caption (plain LayerNorm, no gate), then AdaLN FFN."""

    def __init__(self, cfg: InfinityConfig):
        super().__init__()
        C = cfg.embed_dim
        self.ada_gss = nn.Parameter(torch.zeros(1, 1, 6, C))  # per block, added to the shared projection
        self.sa = SelfAttention(C, cfg.num_heads)
        self.ca = CrossAttention(C, C, cfg.num_heads)
        self.ffn = FFN(C, cfg.mlp_hidden)
        self.ln_wo_grad = nn.LayerNorm(C, eps=cfg.norm_eps, elementwise_affine=False)
        self.ca_norm = nn.LayerNorm(C, eps=cfg.norm_eps, elementwise_affine=True)

    def forward(self, x, gss, text, rope, bias=None, past_k=None, past_v=None, probes=None):
        """x [B, l, C], gss [B, 1, 6, C] -> (x, k, v). A list `probes` gets this block's AttentionProbe (no cache)."""
        gamma1, gamma2, scale1, scale2, shift1, shift2 = (self.ada_gss + gss).unbind(2)  # 6 x [B, 1, C]
        h = self.ln_wo_grad(x).mul(scale1.add(1)).add(shift1)
        a, k, v = self.sa(h, rope, bias, past_k, past_v)
        x = x + a.mul(gamma1)
        if probes is not None:  # the projections again: only the attention graph pays, the other paths are unchanged
            q_self, k_self, _ = self.sa.qkv(h, rope)
            q_cross, k_cross, _ = self.ca.qkv(self.ca_norm(x), text.kv, x.shape[0])
            probes.append(AttentionProbe(q_self, k_self, q_cross, k_cross, self.ca.scale))
        x = x + self.ca(self.ca_norm(x), text.kv, text.mask, text.bf16)
        x = x + self.ffn(self.ln_wo_grad(x).mul(scale2.add(1)).add(shift2)).mul(gamma2)
        return x, k, v


class BlockChunk(nn.Module):
    """A group of consecutive blocks (the official FSDP unit; lvl_embed goes in before a chunk)."""

    def __init__(self, blocks: Sequence[nn.Module]):
        super().__init__()
        self.module = nn.ModuleList(blocks)


class TextAttentivePool(nn.Module):
    """Caption features -> one vector per caption: the start token and the AdaLN condition."""

    def __init__(self, cfg: InfinityConfig):
        super().__init__()
        self.ca = CrossAttention(cfg.embed_dim, cfg.text_channels, cfg.text_pool_heads, for_attn_pool=True)

    def forward(self, kv_compact, mask, bf16: bool):  # -> [B, C]
        return self.ca(None, kv_compact, mask, bf16).squeeze(1)


class AdaLNBeforeHead(nn.Module):
    """LayerNorm with scale and shift from the condition (its own projection, not the shared one)."""

    def __init__(self, C: int, eps: float):
        super().__init__()
        self.C = C
        self.ln_wo_grad = nn.LayerNorm(C, eps=eps, elementwise_affine=False)
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(C, 2 * C))

    def forward(self, x, cond_BD):
        scale, shift = self.ada_lin(cond_BD).view(-1, 1, 2, self.C).unbind(2)
        return self.ln_wo_grad(x).mul(scale.add(1)).add(shift)


class SharedAdaLin(nn.Linear):
    """One AdaLN projection shared by every block: cond [B, D] -> [B, 1, 6, C]."""

    def forward(self, cond_BD):
        return super().forward(cond_BD).view(-1, 1, 6, self.weight.shape[0] // 6)


@dataclass
class TextCondition:
    """A batch of captions as the blocks use them."""

    cond_BD: torch.Tensor  # [B, C]: pooled caption, the start token and AdaLN condition
    kv: torch.Tensor  # [N, C]: every caption token after text_proj_for_ca, packed
    mask: torch.Tensor  # [B, 1, 1, N]: which keys each batch row sees
    bf16: bool  # whether the text attention rounds to bfloat16 as the official one


@dataclass
class GenerationRun:
    """What one KV-cached generation produced, per scale."""

    bits: List[torch.Tensor] = field(default_factory=list)  # K x [B, h, w, d] int64
    logits: List[torch.Tensor] = field(default_factory=list)  # K x [B, h*w, d, 2]: what the sampler got
    z: Optional[torch.Tensor] = None  # [B, d, H, W]: summed codes, the decoder's input


class Infinity(nn.Module):
    """Next-scale prediction of BSQ bits, conditioned on T5 caption features."""

    def __init__(self, cfg: InfinityConfig, text_attention_bf16: bool = False):
        super().__init__()
        self.cfg = cfg
        self.text_attention_bf16 = text_attention_bf16
        C, Ct5 = cfg.embed_dim, cfg.text_channels
        self.cfg_uncond = nn.Parameter(torch.zeros(cfg.text_maxlen, Ct5))  # the learnt "no caption" features
        self.pos_start = nn.Parameter(torch.zeros(1, 1, C))
        self.text_norm = RMSNorm(Ct5, cfg.norm_eps)
        self.text_proj_for_sos = TextAttentivePool(cfg)
        self.text_proj_for_ca = nn.Sequential(nn.Linear(Ct5, C), nn.GELU(approximate='tanh'), nn.Linear(C, C))
        self.lvl_embed = nn.Embedding(15, C)
        self.word_embed = nn.Linear(cfg.d_model, C)
        self.shared_ada_lin = nn.Sequential(nn.SiLU(), SharedAdaLin(C, 6 * C))
        per_chunk = cfg.depth // cfg.block_chunks
        blocks = [CrossAttnBlock(cfg) for _ in range(cfg.depth)]
        if cfg.block_chunks == 1:
            self.blocks = nn.ModuleList(blocks)
        else:
            self.block_chunks = nn.ModuleList(
                BlockChunk(blocks[i : i + per_chunk]) for i in range(0, cfg.depth, per_chunk)
            )
        self.head_nm = AdaLNBeforeHead(C, cfg.norm_eps)
        self.head = nn.Linear(C, 2 * cfg.d_model)

    def chunks(self) -> List[List[CrossAttnBlock]]:
        """The blocks, grouped by chunk."""
        if self.cfg.block_chunks == 1:
            return [list(self.blocks)]
        return [list(c.module) for c in self.block_chunks]

    def encode_text(self, kv_compact: torch.Tensor, cu_seqlens: torch.Tensor) -> TextCondition:
        """Packed caption features [N, Ct5] and cu_seqlens [B + 1] -> what the blocks and the head use."""
        mask = caption_mask(cu_seqlens, kv_compact.shape[0])
        kv = self.text_norm(kv_compact.float())
        cond_BD = self.text_proj_for_sos(kv, mask, self.text_attention_bf16)
        return TextCondition(cond_BD, self.text_proj_for_ca(kv), mask, self.text_attention_bf16)

    def with_unconditional(self, kv_compact: torch.Tensor, cu_seqlens: torch.Tensor):
        """The batch doubled for CFG: each caption again, its features replaced by cfg_uncond's first rows."""
        lens = (cu_seqlens[1:] - cu_seqlens[:-1]).tolist()
        uncond = torch.cat([self.cfg_uncond[:n] for n in lens], dim=0)
        return torch.cat((kv_compact, uncond)), torch.cat((cu_seqlens, cu_seqlens[1:] + cu_seqlens[-1]))

    def scale_levels(self, schedule: Schedule, x_BLC: torch.Tensor) -> torch.Tensor:
        """x [B, L, C] plus lvl_embed row k on every token of scale k."""
        return x_BLC + self.lvl_embed(scale_ids(schedule))

    def get_logits(self, x, cond_BD):  # [B, l, C] -> [B, l, 2 d]
        """The head after the condition's LayerNorm; read as [B, l, d, 2]: index 0 is bit value 0."""
        return self.head(self.head_nm(x, cond_BD))

    def start_tokens(self, text: TextCondition):  # -> [B, 1, C]
        return text.cond_BD.unsqueeze(1) + self.pos_start

    def forward(self, kv_compact, cu_seqlens, x_BLC_wo_prefix, schedule: Schedule, probes=None):
        """Teacher-forced logits [B, L, 2d]: x_BLC_wo_prefix [B, L - 1, d] are the next-scale inputs of scales 1..K-1.
        A list `probes` gets every block's AttentionProbe, in order (block_attention turns one into weights).

        The official training forward pads L to a multiple of pad_to_multiplier; padded keys are masked and padded
        rows dropped, so no real row changes and the reference does not pad."""
        text = self.encode_text(kv_compact, cu_seqlens)
        B = x_BLC_wo_prefix.shape[0]
        x = torch.cat((self.start_tokens(text).expand(B, 1, -1), self.word_embed(x_BLC_wo_prefix.float())), dim=1)
        gss = self.shared_ada_lin(text.cond_BD)
        rope = rope2d_table(self.cfg.embed_dim // self.cfg.num_heads, schedule, self.cfg.rope2d_normalized_by_hw)
        bias = block_causal_bias(schedule)
        for ci, chunk in enumerate(self.chunks()):
            if ci == 0 or not self.cfg.add_lvl_embeding_only_first_block:
                x = self.scale_levels(schedule, x)
            for block in chunk:
                x, _, _ = block(x, gss, text, rope, bias, probes=probes)
        return self.get_logits(x, text.cond_BD)

    @torch.no_grad()
    def generate(
        self,
        vae: BSQVAE,
        kv_compact: torch.Tensor,
        cu_seqlens: torch.Tensor,
        schedule: Schedule,
        cfg_list: Sequence[float],
        tau_list: Sequence[float],
        cfg_insertion_layer: Sequence[int] = (0,),
        top_k: int = 0,
        top_p: float = 0.0,
        g_seed: Optional[int] = None,
        forced_bits: Optional[List[torch.Tensor]] = None,
    ) -> GenerationRun:
        """KV-cached generation, scale by scale, as the official autoregressive_infer_cfg.

        CFG per scale k with cfg = cfg_list[k]: insertion layer 0 mixes the logits (both halves over tau),
        a negative n mixes the hidden state after block depth + n (then the logits of the first half). When cfg is
        1 the conditional logits are used. forced_bits (K x [B, h, w, d]) replace the sampler (teacher forcing
        through the cache)."""
        if len(cfg_list) < len(schedule) or len(tau_list) < len(schedule):
            raise ValueError(f'cfg_list and tau_list need a value per scale ({len(schedule)})')
        if any(n > 0 or n <= -self.cfg.depth for n in cfg_insertion_layer):
            raise ValueError(
                f'cfg_insertion_layer {list(cfg_insertion_layer)}: 0 (logits) or -1 .. -{self.cfg.depth - 1}'
            )
        B = cu_seqlens.shape[0] - 1
        doubled = any(c != 1 for c in cfg_list)  # the official doubles the batch on any value, used or not
        if doubled:
            kv_compact, cu_seqlens = self.with_unconditional(kv_compact, cu_seqlens)
        text = self.encode_text(kv_compact, cu_seqlens)
        gss = self.shared_ada_lin(text.cond_BD)
        rng = None if g_seed is None else torch.Generator().manual_seed(g_seed)
        mix_layers = {self.cfg.depth + n for n in cfg_insertion_layer if n < 0}
        rope = rope2d_table(self.cfg.embed_dim // self.cfg.num_heads, schedule, self.cfg.rope2d_normalized_by_hw)
        spans = begin_ends(schedule)
        d = self.cfg.d_vae
        past_k: List[Optional[torch.Tensor]] = [None] * self.cfg.depth
        past_v: List[Optional[torch.Tensor]] = [None] * self.cfg.depth
        x = self.start_tokens(text)  # [bs, 1, C]
        f_hat = 0.0  # [B, d, 1, H, W]
        run = GenerationRun()
        for si, (t, h, w) in enumerate(schedule):
            cfg, (bg, ed), layer = cfg_list[si], spans[si], 0
            for ci, chunk in enumerate(self.chunks()):
                if ci == 0 or not self.cfg.add_lvl_embeding_only_first_block:
                    x = x + self.lvl_embed.weight[si]
                for block in chunk:
                    x, past_k[layer], past_v[layer] = block(
                        x, gss, text, rope[:, bg:ed], None, past_k[layer], past_v[layer]
                    )
                    if cfg != 1 and layer in mix_layers:
                        x = cfg * x[:B] + (1 - cfg) * x[B:]
                        x = torch.cat((x, x))
                    layer += 1
            logits = self.get_logits(x, text.cond_BD)
            logits = guided_logits(logits, B, cfg, tau_list[si], 0 in cfg_insertion_layer).reshape(B, -1, 2)
            run.logits.append(logits.view(B, h * w, d, 2).clone())
            if forced_bits is not None:
                bits = forced_bits[si].reshape(B, h, w, d).long()
            else:
                bits = sample_with_top_k_top_p(logits, top_k=top_k, top_p=top_p, rng=rng)[:, :, 0].view(B, h, w, d)
            run.bits.append(bits)
            f_hat, nxt = add_scale(vae, f_hat, bits, schedule, si)
            if nxt is not None:
                x = self.word_embed(nxt).repeat(2 if doubled else 1, 1, 1)
        run.z = f_hat.squeeze(2)
        return run


def block_attention(probe: AttentionProbe, schedule: Schedule, text_mask):
    """A block's attention weights in the teacher-forced pass: self [B, H, L, L] (block-causal) and cross
    [B, H, L, N] over the packed caption tokens (text_mask [B, 1, 1, N]: each row's own caption)."""
    self_w = attention_weights(probe.self_q, probe.self_k, 1.0, block_causal_bias(schedule))
    return self_w, attention_weights(probe.cross_q, probe.cross_k, probe.cross_scale, text_mask)


def guided_logits(logits, B: int, cfg: float, tau: float, on_logits: bool):
    """What the sampler gets from the head's logits of a batch (any trailing shape): over tau, and with CFG on the
    logits (on_logits, cfg != 1) cfg * conditional + (1 - cfg) * unconditional, the batch being B conditional rows
    then B unconditional ones; else the first B rows (the conditional ones, or the CFG-mixed hidden state's)."""
    if cfg != 1 and on_logits:
        logits = logits.mul(1 / tau)
        return cfg * logits[:B] + (1 - cfg) * logits[B : 2 * B]
    return logits[:B].mul(1 / tau)


def add_scale(vae: BSQVAE, f_hat, bits, schedule: Schedule, si: int):
    """f_hat [B, d, 1, H, W] (0.0 before scale 0) plus scale si's bits [B, h, w, d], and the next scale's input
    [B, h' w', d] (None after the last scale): the official autoregressive_infer_cfg between two scales."""
    codes = vae.quantizer.lfq.bits_to_codes(bits.unsqueeze(1))  # [B, d, 1, h, w]
    if si == len(schedule) - 1:
        return f_hat + codes, None
    f_hat = f_hat + F.interpolate(codes, size=tuple(schedule[-1]), mode=Z_UP)
    nxt = next_scale_input(f_hat, schedule[si + 1]).squeeze(2)  # [B, d, h', w']
    return f_hat, nxt.flatten(2).transpose(1, 2)


def to_bgr_uint8(img: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] in [-1, 1] -> [B, H, W, 3] uint8, BGR, truncated: the image autoregressive_infer_cfg returns."""
    return ((img + 1) / 2).permute(0, 2, 3, 1).mul(255).to(torch.uint8).flip(dims=(3,))
