"""Infinity as ONNX-ready modules, one per graph, each for one scale schedule (static sizes, RoPE and masks as
constants; a bundle carries one set of graphs per schedule, all sharing one weights.bin).

One graph per schedule rather than a scheduleIndex input: the tokenizer's resampling matrices and every token count
are static per schedule, and a schedule's RoPE table and block-causal mask are constants that onnxruntime folds once;
the weights are stored once whatever the number of schedules, so each adds only its graphs' structure and constants
(at 0.06M: the [L, L] mask, 1.1 MB at 1:1, 1.8 MB at 0.75; it grows as L^2: 25 MB at 0.25M, 443 MB at 1M, where it
should be computed in the graph from the scale of each token instead).

Tokenizer: image -> latent, bits, residuals; bits -> latent and the transformer's next-scale inputs; latent -> image.
Every resampling is a pair of matrices (M_h x M_w^T) made by PyTorch's own F.interpolate on basis vectors, since ONNX
has no area resize to arbitrary sizes and the official trilinear on [B, d, 1, h, w] is bilinear in h, w.

Transformer: the teacher-forced pass (all scales at once, block-causal mask), the KV-cached step (one scale) and the
attention weights of one block and head in the teacher-forced pass (optional: bundles exported before it lack it).
Captions come packed, as the official call packs them: textFeatures [N, Ct5] (every caption's T5 features one after
the other, no padding) and textOffsets int64 [B + 1] (cu_seqlens: caption b is rows textOffsets[b] ..
textOffsets[b + 1]); any number of captions of any lengths >= 1. The text attention is float32 (the official code
rounds it to bfloat16: see the bundle README)."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .bsq_vae import BSQVAE
from .model import AttentionProbe, Infinity, block_attention, caption_mask
from .rope import rope2d_table
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


def logits_per_bit(logits):
    """The head's [B, l, 2d] -> [B, l, d, 2]: index 0 is bit value 0, index 1 bit value 1 (the trainer's reading)."""
    return logits.reshape(logits.shape[0], logits.shape[1], -1, 2)


class InfinityTransformerGraph(nn.Module):
    """Teacher forcing: textFeatures [N, Ct5], textOffsets [B + 1], nextInput [B, L - 1, d] (bitsToLatent's
    nextInput: scales 1..K-1) -> logits [B, L, d, 2]. The RoPE table and the block-causal mask are the schedule's."""

    def __init__(self, model: Infinity, schedule: Schedule):
        super().__init__()
        self.model, self.schedule = model, [tuple(s) for s in schedule]

    def forward(self, textFeatures, textOffsets, nextInput):
        return logits_per_bit(self.model(textFeatures, textOffsets, nextInput, self.schedule))


def head_or_mean(w, head):
    """w [B, H, lq, lk] -> [B, lq, lk]: head `head` (int64 []), or the mean over heads when head < 0."""
    one = w.index_select(1, head.clamp(min=0).reshape(1)).squeeze(1)
    return torch.where(head < 0, w.mean(dim=1), one)


class InfinityAttentionGraph(nn.Module):
    """Attention weights of block attnLayer in the teacher-forced pass (infinityTransformer's inputs):
    textFeatures [N, Ct5], textOffsets [B + 1], nextInput [B, L - 1, d], attnLayer [], attnHead [] (-1: the mean over
    heads) -> selfAttention [B, L, L] (block-causal: zero above each scale's end) and crossAttention [B, L, N] (over
    the packed caption tokens; zero outside each row's own caption). Rows sum to 1.

    One head (or the mean) per run keeps the outputs at L^2 floats (1.1 MB at 0.06M, L = 521), not H L^2; the chosen
    block's q and k are kept by where chains and the weights computed once (VAR's AttentionGraph: a chain over the
    weights themselves would hold every block's)."""

    def __init__(self, model: Infinity, schedule: Schedule):
        super().__init__()
        self.model, self.schedule = model, [tuple(s) for s in schedule]

    def forward(self, textFeatures, textOffsets, nextInput, attnLayer, attnHead):
        probes = []
        self.model(textFeatures, textOffsets, nextInput, self.schedule, probes=probes)
        kept = probes[0]
        for i, p in enumerate(probes[1:], start=1):
            picked = (torch.where(attnLayer == i, new, old) for new, old in zip(p.tensors(), kept.tensors()))
            kept = AttentionProbe(*picked, kept.cross_scale)
        self_w, cross_w = block_attention(kept, self.schedule, caption_mask(textOffsets, textFeatures.shape[0]))
        return head_or_mean(self_w, attnHead), head_or_mean(cross_w, attnHead)


def cfg_mixed(x, cfg):
    """The official CFG inside the network on a batch [2B, ...] of B conditional rows then B unconditional ones:
    cfg * x[:B] + (1 - cfg) * x[B:], copied to both halves. An odd batch (no CFG pair) passes unchanged, so the
    step graph runs at batch 1 too (the mix is then never selected)."""
    half = x.shape[0] // 2
    mixed = cfg * x[:half] + (1 - cfg) * x[half : 2 * half]
    return torch.cat((mixed, mixed, x[2 * half :]))


class InfinityStepGraph(nn.Module):
    """One scale with a KV cache: textFeatures [N, Ct5], textOffsets [B + 1], nextInput [B, l, d] (the scale's input;
    ignored at scale 0, whose token is the pooled caption), scaleIndex [], pastKey / pastValue [depth, B, H, Lp, c]
    (the keys / values of the scales before, after normalisation and RoPE), cfgScale [], cfgLayer [] ->
    logits [B, l, d, 2] (before 1 / tau and CFG on the logits, which are the caller's), newKey / newValue
    [depth, B, H, l, c] (this scale's only: the caller appends them to the cache).

    For CFG the batch is the conditional rows then the unconditional ones (cfg_uncond's features as their captions).
    cfgLayer i in 0 .. depth - 1 mixes the hidden state after block i with cfgScale (the official
    cfg_insertion_layer n < 0 is block depth + n), unless cfgScale is 1; any other cfgLayer (-1) mixes nothing.

    NOTE: the captions are encoded again at every scale (text pool, text_proj_for_ca and each block's keys and values
    of the caption): per block about N / (8 l) of the scale's own work for N caption tokens and l image tokens, so
    most of the first scales' steps but ~5 % of a 0.06M generation for N = 30; a text graph whose outputs the step
    takes as inputs would remove it."""

    def __init__(self, model: Infinity, schedule: Schedule):
        super().__init__()
        self.model = model
        cfg = model.cfg
        self.register_buffer(
            'rope', rope2d_table(cfg.embed_dim // cfg.num_heads, schedule, cfg.rope2d_normalized_by_hw)
        )

    def forward(self, textFeatures, textOffsets, nextInput, scaleIndex, pastKey, pastValue, cfgScale, cfgLayer):
        m = self.model
        text = m.encode_text(textFeatures, textOffsets)
        gss = m.shared_ada_lin(text.cond_BD)
        Lp, l = pastKey.shape[3], nextInput.shape[1]
        x = torch.where(scaleIndex == 0, m.start_tokens(text), m.word_embed(nextInput))  # [B, l, C]
        # NOTE: a 0-d index traces to a Gather that keeps the axis: index_select of a [1] index instead
        level = m.lvl_embed.weight.index_select(0, scaleIndex.reshape(1))  # [1, C]
        rope = self.rope[:, Lp : Lp + l]
        mixing = cfgScale != 1
        keys, values, layer = [], [], 0
        for ci, chunk in enumerate(m.chunks()):
            if ci == 0 or not m.cfg.add_lvl_embeding_only_first_block:
                x = x + level
            for block in chunk:
                x, k, v = block(x, gss, text, rope, None, pastKey[layer], pastValue[layer])
                keys.append(k[:, :, Lp:])
                values.append(v[:, :, Lp:])
                x = torch.where(mixing & (cfgLayer == layer), cfg_mixed(x, cfgScale), x)
                layer += 1
        return logits_per_bit(m.get_logits(x, text.cond_BD)), torch.stack(keys), torch.stack(values)


def transformer_io(model: Infinity, schedule: Schedule) -> dict:
    """(inputs, outputs) {name: (dtype, dims)} of the transformer graphs; string dims are dynamic axes."""
    cfg = model.cfg
    d, L = cfg.d_model, sum(t * h * w for t, h, w in schedule)
    text = {
        'textFeatures': ('float32', ['captionTokens', cfg.text_channels]),
        'textOffsets': ('int64', ['captionsPlusOne']),
    }
    cache = [cfg.depth, 'batch', cfg.num_heads, 'pastTokens', cfg.embed_dim // cfg.num_heads]
    new = [cfg.depth, 'batch', cfg.num_heads, 'tokens', cfg.embed_dim // cfg.num_heads]
    return {
        'infinityTransformer': (
            {**text, 'nextInput': ('float32', ['batch', L - 1, d])},
            {'logits': ('float32', ['batch', L, d, 2])},
        ),
        'infinityStep': (
            {
                **text,
                'nextInput': ('float32', ['batch', 'tokens', d]),
                'scaleIndex': ('int64', []),
                'pastKey': ('float32', cache),
                'pastValue': ('float32', cache),
                'cfgScale': ('float32', []),
                'cfgLayer': ('int64', []),
            },
            {
                'logits': ('float32', ['batch', 'tokens', d, 2]),
                'newKey': ('float32', new),
                'newValue': ('float32', new),
            },
        ),
        'infinityAttention': (
            {
                **text,
                'nextInput': ('float32', ['batch', L - 1, d]),
                'attnLayer': ('int64', []),
                'attnHead': ('int64', []),
            },
            {
                'selfAttention': ('float32', ['batch', L, L]),
                'crossAttention': ('float32', ['batch', L, 'captionTokens']),
            },
        ),
    }


def transformer_graphs(model: Infinity, schedule: Schedule) -> dict:
    """The module behind each transformer graph."""
    return {
        'infinityTransformer': InfinityTransformerGraph(model, schedule),
        'infinityStep': InfinityStepGraph(model, schedule),
        'infinityAttention': InfinityAttentionGraph(model, schedule),
    }


def transformer_example_inputs(model: Infinity, schedule: Schedule) -> dict:
    """Tracing inputs per graph: two captions of 3 and 5 tokens, the step at scale 1 (every dynamic size differs
    from 1 and from the others, so the tracer keeps them symbolic)."""
    cfg = model.cfg
    g = torch.Generator().manual_seed(0)
    d, L, H, c = cfg.d_model, sum(t * h * w for t, h, w in schedule), cfg.num_heads, cfg.embed_dim // cfg.num_heads
    text = (torch.randn(8, cfg.text_channels, generator=g), torch.tensor([0, 3, 8]))
    _, h1, w1 = schedule[1]
    past = lambda: torch.randn(cfg.depth, 2, H, 1, c, generator=g)  # noqa: E731
    return {
        'infinityTransformer': (*text, torch.randn(2, L - 1, d, generator=g)),
        'infinityStep': (
            *text,
            torch.randn(2, h1 * w1, d, generator=g),
            torch.tensor(1),
            past(),
            past(),
            torch.tensor(3.0),
            torch.tensor(cfg.depth - 1),
        ),
        'infinityAttention': (
            *text,
            torch.randn(2, L - 1, d, generator=g),
            torch.tensor(cfg.depth - 1),
            torch.tensor(1),
        ),
    }
