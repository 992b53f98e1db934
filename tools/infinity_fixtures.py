#!/usr/bin/env python3
"""Fixtures from the official Infinity code, for testing our Infinity engine against it.

usage: python tools/infinity_fixtures.py --official /tmp/infinity-official --out test/fixtures/infinity

Builds small seeded configurations with the official classes (FoundationVision/Infinity, cloned at --official;
nothing of it is copied here), saves their weights as the official checkpoints are laid out, and writes every
intermediate tensor of the tokenizer, a teacher-forced pass and a CFG generation as .npy, with config.json and
index.json per configuration. Runs on CPU, float32, one thread, so that a re-run gives byte-identical files.

The official code imports three packages that have no place here (flash_attn, timm, torchvision): test-only
stand-ins go into sys.modules before the official modules are imported (install_stand_ins), and torch.compile is
an identity while infinity.models.fused_op is imported. The official files are never edited.

Needs torch 2.x, numpy, pillow, einops, safetensors, imageio, pytz and tqdm (the last three are only imported).
"""

import argparse
import contextlib
import hashlib
import inspect
import json
import platform
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

OFFICIAL_REPO = 'https://github.com/FoundationVision/Infinity'

# Official files whose code runs here; their hashes go into config.json.
OFFICIAL_SOURCES = (
    'infinity/models/__init__.py',
    'infinity/models/infinity.py',
    'infinity/models/basic.py',
    'infinity/models/fused_op.py',
    'infinity/models/bitwise_self_correction.py',
    'infinity/models/bsq_vae/vae.py',
    'infinity/models/bsq_vae/flux_vqgan.py',
    'infinity/models/bsq_vae/multiscale_bsq.py',
    'infinity/models/bsq_vae/conv.py',
    'infinity/models/bsq_vae/dynamic_resolution.py',
    'infinity/utils/dynamic_resolution.py',
    'infinity/utils/dist.py',
    'tools/run_infinity.py',
)

# Two captions of different lengths (T5 tokens including </s>); their features are seeded noise, not T5's.
CAPTIONS = (
    {'text': 'a red disc over a blue sky', 'len': 7},
    {'text': 'a striped box beside a yellow sun on a green hill at dusk', 'len': 13},
)

# Each configuration: the VAE as tools/run_infinity.py's load_visual_tokenizer builds it (channels reduced),
# the transformer as its load_infinity builds it (release flags unless varied on purpose), and the runs.
CONFIGS = {
    'infinity-A': {
        'about': '16-bit BSQ VAE, 2-block transformer, 0.06M 1:1 (256x256), CFG on the logits, greedy',
        'seed': 1,
        'vae_type': 16,
        'apply_spatial_patchify': 0,
        'vae_channels': {'base_ch': 24, 'num_res_blocks': 1, 'ch_mult': [1, 1, 1, 1, 1]},
        'pn': '0.06M',
        'h_div_w_template': 1.0,
        'model_kwargs': {
            'depth': 2,
            'embed_dim': 64,
            'num_heads': 2,
            'drop_path_rate': 0.1,
            'mlp_ratio': 4,
            'block_chunks': 2,
        },
        'text_channels': 128,
        'add_lvl_embeding_only_first_block': 1,
        'rope2d_normalized_by_hw': 2,
        'scale_mul_probe': {'block': 0, 'head': 1, 'value': 5.3},
        'tf_captions': [0, 1],
        'generations': {
            'gen': {
                'caption': 0,
                'cfg_list': [1.0, 1.5, 2.0, 2.5, 3.0, 3.0, 3.0],
                'tau_list': [1.0] * 7,
                'cfg_insertion_layer': [0],
                'top_k': 1,
                'top_p': 0.0,
                'g_seed': 0,
                'images': True,
                'about': 'greedy (top_k=1 keeps the larger of the two logits of each bit), CFG on the logits',
            },
        },
    },
    'infinity-B': {
        'about': '32-bit BSQ VAE, 4-block transformer, 0.06M at h:w 0.75 (240x320), CFG inside the network',
        'seed': 2,
        'vae_type': 32,
        'apply_spatial_patchify': 0,
        'vae_channels': {'base_ch': 24, 'num_res_blocks': 0, 'ch_mult': [1, 1, 1, 1, 1]},
        'pn': '0.06M',
        'h_div_w_template': 0.75,
        'model_kwargs': {
            'depth': 4,
            'embed_dim': 64,
            'num_heads': 4,
            'drop_path_rate': 0.1,
            'mlp_ratio': 4,
            'block_chunks': 2,
        },
        'text_channels': 256,
        'add_lvl_embeding_only_first_block': 1,
        'rope2d_normalized_by_hw': 2,
        'scale_mul_probe': None,
        'tf_captions': [0],
        'generations': {
            'gen': {
                'caption': 1,
                'cfg_list': [3.0] * 7,
                'tau_list': [1.0] * 7,
                'cfg_insertion_layer': [-2],
                'top_k': 1,
                'top_p': 0.0,
                'g_seed': 0,
                'images': False,
                'about': 'greedy; CFG mixes the hidden state after block index depth-2 (the third of four)',
            },
            'gen_sampled': {
                'caption': 0,
                'cfg_list': [4.0] * 7,
                'tau_list': [0.5] * 7,
                'cfg_insertion_layer': [0],
                'top_k': 900,
                'top_p': 0.97,
                'g_seed': 1,
                'images': False,
                'about': 'seeded sampling with scripts/infer.sh settings (cfg 4, tau 0.5, run_infinity top_k 900,'
                ' top_p 0.97, seed 1); torch.multinomial draws, so compare logits given the bits',
            },
        },
    },
}

# Not in the committed folder (size), made with --only infinity-C: the 8B's tokenizer layout (14 bits, patchify).
OPTIONAL_CONFIGS = {
    'infinity-C': {
        'about': '14-bit BSQ VAE with apply_spatial_patchify=1 (as Infinity-8B), 2-block transformer, 0.06M at h:w'
        ' 0.5 (176x352)',
        'seed': 3,
        'vae_type': 14,
        'apply_spatial_patchify': 1,
        'vae_channels': {'base_ch': 24, 'num_res_blocks': 1, 'ch_mult': [1, 1, 1, 1]},
        'pn': '0.06M',
        'h_div_w_template': 0.5,
        'model_kwargs': dict(CONFIGS['infinity-A']['model_kwargs']),
        'text_channels': 128,
        'add_lvl_embeding_only_first_block': 1,
        'rope2d_normalized_by_hw': 2,
        'scale_mul_probe': None,
        'tf_captions': [1],
        'generations': {
            'gen': dict(CONFIGS['infinity-A']['generations']['gen'], caption=1),
        },
    },
}


# ---------------------------------------------------------------------------------------------------------------
# Stand-ins and the official import


def _flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False, **_):
    """flash_attn_func: q, k, v [B, L, H, c] -> [B, L, H, c], computed in float32, returned in q's dtype."""
    o = F.scaled_dot_product_attention(
        q.float().transpose(1, 2), k.float().transpose(1, 2), v.float().transpose(1, 2), scale=softmax_scale
    )
    return o.transpose(1, 2).to(q.dtype)


def _flash_attn_varlen_kvpacked_func(
    q, kv, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, dropout_p=0.0, softmax_scale=None, **_
):
    """flash_attn_varlen_kvpacked_func: q [Nq, H, c], kv [Nk, 2, H, c], one sequence per cu_seqlens span."""
    out = []
    for b in range(len(cu_seqlens_q) - 1):
        qb = q[cu_seqlens_q[b] : cu_seqlens_q[b + 1]].float().transpose(0, 1)  # [H, lq, c]
        kb, vb = kv[cu_seqlens_k[b] : cu_seqlens_k[b + 1]].float().unbind(1)  # [lk, H, c] each
        ob = F.scaled_dot_product_attention(qb, kb.transpose(0, 1), vb.transpose(0, 1), scale=softmax_scale)
        out.append(ob.transpose(0, 1))  # [lq, H, c]
    return torch.cat(out, 0).to(q.dtype)


class _DropPath(nn.Module):
    """timm's DropPath: drops whole residual branches per sample while training; identity in eval."""

    def __init__(self, drop_prob=0.0, scale_by_keep=True):
        super().__init__()
        self.drop_prob, self.scale_by_keep = drop_prob, scale_by_keep

    def forward(self, x):
        return _drop_path(x, self.drop_prob, self.training, self.scale_by_keep)


def _drop_path(x, drop_prob=0.0, training=False, scale_by_keep=True):
    if drop_prob == 0.0 or not training:
        return x
    keep = 1 - drop_prob
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * (mask / keep if scale_by_keep else mask)


class _SoftTargetCrossEntropy(nn.Module):
    """timm.loss.SoftTargetCrossEntropy (imported by infinity/models/__init__.py, unused here)."""

    def forward(self, x, target):
        return torch.sum(-target * F.log_softmax(x, dim=-1), dim=-1).mean()


STAND_INS = {
    'flash_attn.flash_attn_func': 'F.scaled_dot_product_attention per batch on [B, H, L, c]; inputs upcast to'
    ' float32, output cast back to the input dtype (only imported: customized_flash_attn=False here)',
    'flash_attn.flash_attn_varlen_kvpacked_func': 'a loop over cu_seqlens_q/cu_seqlens_k spans, each'
    ' F.scaled_dot_product_attention in float32; output cast back to the input dtype. The official CrossAttention'
    ' casts float32 q and kv to bfloat16 before this call and the result back to float32, so text cross-attention'
    ' and the text pool carry bfloat16 rounding of q, k, v and of the output (as with real flash-attn)',
    'flash_attn.ops.*': 'absent, so basic.py takes its ImportError branch (flash_fused_op_installed=False,'
    ' rms_norm_impl in plain torch)',
    'timm.models.register_model': 'identity decorator',
    'timm.models.layers.DropPath / drop_path': "timm's semantics (identity in eval, which is how it runs here)",
    'timm.loss.SoftTargetCrossEntropy': 'minimal module (imported by infinity/models/__init__.py, unused)',
    'torchvision, torchvision.transforms': 'empty modules (imported by bsq_vae/flux_vqgan.py, unused)',
    'torch.compile (while importing infinity.models.fused_op only)': 'identity, so fused_ada_layer_norm runs its'
    ' own body eagerly (no compiler on this CPU); restored right after the import. fused_norm=True as in'
    ' tools/run_infinity.py: the non-fused block path drops scale_ind, which breaks RoPE under the KV cache',
}


def install_stand_ins():
    """Puts the test-only flash_attn, timm and torchvision modules into sys.modules."""

    def module(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        m.__file__ = f'<varscope stand-in {name}>'
        sys.modules[name] = m
        return m

    module(
        'flash_attn',
        flash_attn_func=_flash_attn_func,
        flash_attn_varlen_kvpacked_func=_flash_attn_varlen_kvpacked_func,
        __path__=[],  # a package, so `from flash_attn.ops.x import y` fails with ImportError as when not built
    )
    layers = module('timm.models.layers', DropPath=_DropPath, drop_path=_drop_path)
    models = module('timm.models', register_model=lambda fn: fn, layers=layers)
    loss = module('timm.loss', SoftTargetCrossEntropy=_SoftTargetCrossEntropy)
    module('timm', models=models, loss=loss, __path__=[])
    transforms = module('torchvision.transforms')
    module('torchvision', transforms=transforms, __path__=[])


def import_official(root: Path):
    """Imports the official modules from the clone at root; returns them in a namespace."""
    install_stand_ins()
    sys.path.insert(0, str(root))
    compile_ = torch.compile
    torch.compile = lambda fn=None, **kw: fn if fn is not None else (lambda f: f)
    try:
        import infinity.models.fused_op  # noqa: F401  (its functions are decorated at import)
    finally:
        torch.compile = compile_
    import infinity.models.basic as basic
    import infinity.models.bsq_vae.vae as vae_mod
    import infinity.models.infinity as inf_mod
    from infinity.models.bitwise_self_correction import BitwiseSelfCorrection
    from infinity.utils.dynamic_resolution import dynamic_resolution_h_w, h_div_w_templates

    assert inf_mod.fused_ada_layer_norm is not None, 'infinity.models.fused_op did not import'
    return types.SimpleNamespace(
        basic=basic,
        vae_mod=vae_mod,
        inf_mod=inf_mod,
        Infinity=inf_mod.Infinity,
        BitwiseSelfCorrection=BitwiseSelfCorrection,
        dynamic_resolution_h_w=dynamic_resolution_h_w,
        h_div_w_templates=h_div_w_templates,
    )


class _Float32ForBfloat16(types.ModuleType):
    """The torch module, except that torch.bfloat16 reads as torch.float32."""

    def __getattr__(self, name):
        return torch.float32 if name == 'bfloat16' else getattr(torch, name)


@contextlib.contextmanager
def float32_cross_attention(off):
    """Runs CrossAttention without its bfloat16 casts: basic.py's one use of torch.bfloat16 is that cast."""
    off.basic.torch = _Float32ForBfloat16('torch')
    try:
        yield
    finally:
        off.basic.torch = torch


# ---------------------------------------------------------------------------------------------------------------
# Models


def vae_model_kwargs(cfg):
    """The arguments tools/run_infinity.py's load_visual_tokenizer gives vae_model(), with our channel multipliers."""
    codebook_dim = cfg['vae_type']
    return {
        'schedule_mode': 'dynamic',
        'codebook_dim': codebook_dim,
        'codebook_size': 2**codebook_dim,
        'patch_size': 8 if cfg['apply_spatial_patchify'] else 16,
        'encoder_ch_mult': list(cfg['vae_channels']['ch_mult']),
        'decoder_ch_mult': list(cfg['vae_channels']['ch_mult']),
        'test_mode': True,
    }


@contextlib.contextmanager
def small_autoencoder(off, cfg, seen):
    """vae_model() fixes base_ch=128 and num_res_blocks=2 in its args; we override them for the AutoEncoder it builds."""
    real = off.vae_mod.AutoEncoder

    def build(args):
        args.base_ch = cfg['vae_channels']['base_ch']
        args.num_res_blocks = cfg['vae_channels']['num_res_blocks']
        seen.update({k: v for k, v in vars(args).items() if k != 'vqgan_ckpt'})
        return real(args)

    off.vae_mod.AutoEncoder = build
    try:
        yield
    finally:
        off.vae_mod.AutoEncoder = real


def build_vae(off, cfg, ckpt, seen=None):
    """The official vae_model() (loading ckpt: a path, or {} for none), with our channel overrides."""
    with small_autoencoder(off, cfg, {} if seen is None else seen):
        vae = off.vae_mod.vae_model(ckpt, **vae_model_kwargs(cfg))
    return vae.eval()


def infinity_kwargs(cfg):
    """The Infinity constructor arguments of tools/run_infinity.py's load_infinity, for this configuration."""
    kw = {
        'text_channels': cfg['text_channels'],
        'text_maxlen': 512,
        'shared_aln': True,
        'raw_scale_schedule': None,
        'checkpointing': 'full-block',
        'customized_flash_attn': False,
        'fused_norm': True,
        'pad_to_multiplier': 128,
        'use_flex_attn': False,
        'add_lvl_embeding_only_first_block': cfg['add_lvl_embeding_only_first_block'],
        'use_bit_label': 1,
        'rope2d_each_sa_layer': 1,
        'rope2d_normalized_by_hw': cfg['rope2d_normalized_by_hw'],
        'pn': cfg['pn'],
        'apply_spatial_patchify': cfg['apply_spatial_patchify'],
        'inference_mode': True,
        'train_h_div_w_list': [1.0],
    }
    kw.update(cfg['model_kwargs'])
    return kw


def build_infinity(off, cfg, vae):
    """The official Infinity, in eval mode, with conditions never dropped."""
    model = off.Infinity(vae_local=vae, **infinity_kwargs(cfg))
    model.eval()
    model.requires_grad_(False)
    model.cond_drop_rate = 0.0  # forward() replaces captions by cfg_uncond with this probability, even in eval
    return model


@torch.no_grad()
def perturb_(module: nn.Module, gen: torch.Generator, rel=0.1, floor=0.02):
    """p += N(0, 1) * max(rel * rms(p), floor) for every parameter, so no weight is a trivial 0 or 1."""
    for _, p in module.named_parameters():
        sigma = max(rel * p.float().pow(2).mean().sqrt().item(), floor)
        p.add_(torch.randn(p.shape, generator=gen) * sigma)


@torch.no_grad()
def init_models(off, cfg, image):
    """Seeded random weights for both models; returns (vae, infinity, init notes)."""
    seed = cfg['seed']
    seen = {}
    torch.manual_seed(seed)
    vae = build_vae(off, cfg, {}, seen)
    gen = torch.Generator().manual_seed(seed + 1000)
    perturb_(vae, gen)
    # Scale the encoder's last conv so latents have a mean per-position norm of 1.5 on the fixture image: BSQ codes
    # have unit norm, so this keeps several scales informative with random weights.
    h = vae.encode_for_raw_features(image, scale_schedule=None)[0]
    norm = h.norm(dim=1).mean().item()
    factor = 1.5 / norm
    vae.encoder.conv_out.conv.weight.mul_(factor)
    vae.encoder.conv_out.conv.bias.mul_(factor)

    torch.manual_seed(seed + 1)
    model = build_infinity(off, cfg, vae)
    perturb_(model, gen)
    probe = cfg['scale_mul_probe']
    if probe:
        # Above the clamp (log 100 = 4.605) so scale_mul_1H11.clamp_max() changes the result.
        model.block_chunks[0].module[probe['block']].sa.scale_mul_1H11[0, probe['head'], 0, 0] = probe['value']
    notes = {
        'vae': 'torch.manual_seed(seed) before vae_model() (PyTorch default init), then perturb_ (generator seed'
        ' seed+1000), then encoder.conv_out weight and bias times latent_scale',
        'latent_scale': factor,
        'latent_norm_before': norm,
        'infinity': 'torch.manual_seed(seed+1) before Infinity() (its own init: PyTorch defaults, trunc_normal'
        ' pos_start/lvl_embed, cfg_uncond from its own generator seeded 0), then perturb_ with the VAE\'s generator,'
        ' continued',
        'perturb': 'p += N(0,1) * max(0.1 * rms(p), 0.02) for every parameter, in named_parameters() order',
        'scale_mul_probe': probe,
        'autoencoder_args': seen,
    }
    return vae, model, notes


def save_checkpoints(vae, model, out: Path):
    """vae.pth as the official VAE checkpoints ({'vae': state_dict}); infinity.pth as a slim release (weights only)."""
    torch.save({'vae': vae.state_dict()}, out / 'vae.pth')
    torch.save(model.state_dict(), out / 'infinity.pth')


def load_checkpoints(off, cfg, out: Path):
    """Both models rebuilt from the saved files through the official loaders, and checked with strict=True."""
    vae = build_vae(off, cfg, str(out / 'vae.pth'))  # vae_model's own non-strict load_cnn
    saved = torch.load(out / 'vae.pth', map_location='cpu', weights_only=True)['vae']
    loaded = vae.state_dict()
    assert all(torch.equal(loaded[k], t) for k, t in saved.items()), 'vae_model() left weights unloaded'
    vae.load_state_dict(saved, strict=True)
    model = build_infinity(off, cfg, vae)
    state = torch.load(out / 'infinity.pth', map_location='cpu', weights_only=True)
    result = model.load_state_dict(state, strict=True)  # Infinity.load_state_dict defaults to strict=False
    assert not result.missing_keys and not result.unexpected_keys, result
    return vae, model.eval()


# ---------------------------------------------------------------------------------------------------------------
# Inputs


def synthetic_image(height: int, width: int) -> np.ndarray:
    """A deterministic RGB uint8 image [H, W, 3]: smooth gradients, a disc, a box, stripes and a sun."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = x / (width - 1), y / (height - 1)
    r = 0.15 + 0.35 * u + 0.1 * np.sin(6.0 * v)
    g = 0.25 + 0.45 * v * (1 - u)
    b = 0.85 - 0.55 * v
    img = np.stack([r, g, b], -1)
    disc = (x - 0.32 * width) ** 2 + (y - 0.4 * height) ** 2 < (0.18 * min(height, width)) ** 2
    img[disc] = [0.9, 0.12, 0.1]
    box = (np.abs(x - 0.7 * width) < 0.13 * width) & (np.abs(y - 0.68 * height) < 0.16 * height)
    stripes = (np.floor(x / max(2, width // 40)) % 2 == 0) & box
    img[box] = [0.95, 0.95, 0.9]
    img[stripes] = [0.1, 0.1, 0.12]
    sun = (x - 0.82 * width) ** 2 + (y - 0.16 * height) ** 2 < (0.08 * min(height, width)) ** 2
    img[sun] = [1.0, 0.85, 0.2]
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def image_to_input(img: np.ndarray) -> torch.Tensor:
    """[H, W, 3] uint8 -> [1, 3, H, W] in [-1, 1] as run_infinity's transform(): to_tensor, then x + x - 1."""
    x = torch.from_numpy(img).permute(2, 0, 1).float().div(255)
    return x.add(x).add_(-1).unsqueeze(0)


def text_features(channels: int, seed: int):
    """Seeded stand-ins for Flan-T5 last_hidden_state of each caption: a list of [len, channels] float32."""
    gen = torch.Generator().manual_seed(seed + 2000)
    return [torch.randn(c['len'], channels, generator=gen) * 0.2 for c in CAPTIONS]


def pack_text(feats):
    """(kv_compact [sum(lens), Ct5], lens, cu_seqlens_k int32 [B+1], max_seqlen_k), as encode_prompt packs them."""
    lens = [f.shape[0] for f in feats]
    cu_seqlens_k = F.pad(torch.tensor(lens, dtype=torch.int32).cumsum(0, dtype=torch.int32), (1, 0))
    return torch.cat(feats, 0), lens, cu_seqlens_k, max(lens)


# ---------------------------------------------------------------------------------------------------------------
# Runs


def schedules(off, cfg):
    """(scale_schedule, vae_scale_schedule, pixel (H, W)) as tools/run_infinity.py derives them."""
    entry = off.dynamic_resolution_h_w[cfg['h_div_w_template']][cfg['pn']]
    scale_schedule = [(1, h, w) for (_, h, w) in entry['scales']]
    if cfg['apply_spatial_patchify']:
        vae_scale_schedule = [(t, 2 * h, 2 * w) for (t, h, w) in scale_schedule]
    else:
        vae_scale_schedule = scale_schedule
    return scale_schedule, vae_scale_schedule, tuple(entry['pixel'])


@torch.no_grad()
def tokenize(vae, image, vae_scale_schedule):
    """vae.encode() with every scale's BSQ input recorded, the cumulative latent per scale, and the decode."""
    residuals = []
    hook = vae.quantizer.lfq.register_forward_hook(lambda m, inp, out: residuals.append(inp[0].clone()))
    try:
        h, z, _, bits, _, _ = vae.encode(image, scale_schedule=vae_scale_schedule)
    finally:
        hook.remove()
    norms_frac = vae.quantizer(h, scale_schedule=vae_scale_schedule, return_residual_norm_per_scale=True)[3]
    # The cumulative latent after each scale, as autoregressive_infer_cfg and decode_from_indices sum it.
    fhat, cum = [], 0
    for b in bits:
        codes = vae.quantizer.lfq.indices_to_codes(b, label_type='bit_label')  # [B, d, 1, h, w]
        cum = cum + F.interpolate(codes, size=vae_scale_schedule[-1], mode=vae.quantizer.z_interplote_up)
        fhat.append(cum.squeeze(2))
    dec = vae.decode(z)
    return {
        'h': h,  # [B, d, H, W]
        'z': z,  # [B, d, H, W]
        'bits': bits,  # K x [B, 1, h, w, d] int32
        'residuals': residuals,  # K x [B, d, 1, h, w]
        'fhat': fhat,  # K x [B, d, H, W]
        'dec': dec,  # [B, 3, H, W]
        'residual_small_frac': [float(n) for n in norms_frac],  # |residual| < 0.05 * codebook_scale
    }


@torch.no_grad()
def teacher_forced(off, cfg, vae, model, image, text, scale_schedule, vae_scale_schedule):
    """The training forward on the image's own bits, x_BLC_wo_prefix built by the trainer's flip_requant()."""
    B = len(text[1])
    images = image.expand(B, -1, -1, -1)
    raw = vae.encode_for_raw_features(images, scale_schedule=vae_scale_schedule)[0]
    bsc_args = types.SimpleNamespace(
        noise_apply_layers=-1,
        noise_apply_requant=1,
        noise_apply_strength=-1,
        apply_spatial_patchify=cfg['apply_spatial_patchify'],
        debug_bsc=0,
    )
    bsc = off.BitwiseSelfCorrection(vae, bsc_args)
    x_wo_prefix, gt = bsc.flip_requant(vae_scale_schedule, images, raw, 'cpu')
    kv, lens, cu, maxlen = text
    logits = model((kv.clone(), lens, cu, maxlen), x_wo_prefix, scale_schedule=scale_schedule)
    return x_wo_prefix, torch.cat(gt, 1), logits, bsc_args


@torch.no_grad()
def generate(off, vae, model, text, scale_schedule, vae_type, gcfg):
    """autoregressive_infer_cfg as tools/run_infinity.py's gen_one_img calls it; records logits, bits, latent."""
    inf_mod = off.inf_mod
    sampler = inf_mod.sample_with_top_k_top_p_also_inplace_modifying_logits_
    record = {'logits': [], 'bits': [], 'z': None, 'img': None}

    def recording_sampler(logits_BlV, **kw):
        record['logits'].append(logits_BlV.clone())  # [B, l*d, 2], after CFG and 1/tau
        idx = sampler(logits_BlV, **kw)
        record['bits'].append(idx.clone())  # [B, l*d, 1]
        return idx

    decode = vae.decode

    def recording_decode(z):
        record['z'] = z.clone()
        record['img'] = decode(z)
        return record['img']

    inf_mod.sample_with_top_k_top_p_also_inplace_modifying_logits_ = recording_sampler
    vae.decode = recording_decode
    try:
        _, _, img = model.autoregressive_infer_cfg(
            vae=vae,
            scale_schedule=scale_schedule,
            label_B_or_BLT=text,
            g_seed=gcfg['g_seed'],
            B=1,
            negative_label_B_or_BLT=None,
            force_gt_Bhw=None,
            cfg_sc=3,
            cfg_list=list(gcfg['cfg_list']),
            tau_list=list(gcfg['tau_list']),
            top_k=gcfg['top_k'],
            top_p=gcfg['top_p'],
            returns_vemb=1,
            ratio_Bl1=None,
            gumbel=0,
            norm_cfg=False,
            cfg_exp_k=0.0,
            cfg_insertion_layer=list(gcfg['cfg_insertion_layer']),
            vae_type=vae_type,
            softmax_merge_topk=-1,
            ret_img=True,
            trunk_scale=1000,
            gt_leak=0,
            gt_ls_Bl=None,
            inference_mode=True,
            sampling_per_bits=1,
        )
    finally:
        inf_mod.sample_with_top_k_top_p_also_inplace_modifying_logits_ = sampler
        del vae.decode
    record['img_bgr'] = img
    return record


# ---------------------------------------------------------------------------------------------------------------
# Writing


class Writer:
    """Writes arrays and files into one configuration's folder and keeps their index entries."""

    def __init__(self, out: Path):
        self.out = out
        self.files = {}

    def npy(self, name, array, description):
        array = np.ascontiguousarray(array)
        np.save(self.out / f'{name}.npy', array, allow_pickle=False)
        self.files[f'{name}.npy'] = {'dtype': str(array.dtype), 'shape': list(array.shape), 'description': description}

    def png(self, name, rgb, description):
        Image.fromarray(rgb).save(self.out / f'{name}.png', optimize=False)
        self.files[f'{name}.png'] = {'dtype': 'uint8', 'shape': list(rgb.shape), 'description': description}

    def other(self, name, description, **extra):
        self.files[name] = {'description': description, **extra}


def begin_ends(schedule):
    """[(begin, end)] token ranges of each scale in the flattened sequence."""
    out, cur = [], 0
    for t, h, w in schedule:
        out.append((cur, cur + t * h * w))
        cur += t * h * w
    return out


def flat_tokens(per_scale):
    """K x [B, 1, h, w, d] (or [B, l, d]) -> [B, L, d], scales in order, positions row-major."""
    return torch.cat([p.reshape(p.shape[0], -1, p.shape[-1]) for p in per_scale], 1)


def model_layout(bits, patchify):
    """[B, 1, h, w, d] VAE-scale bits -> [B, l, d_model]: with patchify, 2x2 patches unshuffled into 4d channels."""
    if not patchify:
        return bits.reshape(bits.shape[0], -1, bits.shape[-1])
    x = F.pixel_unshuffle(bits.squeeze(1).permute(0, 3, 1, 2), 2)  # [B, 4d, h/2, w/2], channel c*4 + 2i + j
    return x.permute(0, 2, 3, 1).reshape(bits.shape[0], -1, x.shape[1])


def state_summary(path: Path):
    state = torch.load(path, map_location='cpu', weights_only=True)
    sd = state['vae'] if 'vae' in state else state
    return {
        'tensors': len(sd),
        'params': int(sum(t.numel() for t in sd.values())),
        'dtypes': sorted({str(t.dtype).replace('torch.', '') for t in sd.values()}),
        'bytes': path.stat().st_size,
        'keys': {k: list(t.shape) for k, t in sd.items()},
    }


def sha256(path: Path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_configuration(off, name, cfg, official: Path, out: Path):
    """Builds one configuration, runs it and writes its folder; returns its config.json content."""
    out.mkdir(parents=True, exist_ok=True)
    w = Writer(out)
    scale_schedule, vae_scale_schedule, (H, W) = schedules(off, cfg)
    img_u8 = synthetic_image(H, W)
    image = image_to_input(img_u8)  # [1, 3, H, W]

    vae0, model0, init_notes = init_models(off, cfg, image)
    save_checkpoints(vae0, model0, out)
    del vae0, model0
    vae, model = load_checkpoints(off, cfg, out)  # every tensor below comes from the saved weights
    w.png('image', img_u8, 'input image, RGB; the model input is u8 / 255 * 2 - 1 as [1, 3, H, W] (image_to_input)')
    w.other('vae.pth', "VAE checkpoint as the official ones: {'vae': state_dict}", **state_summary(out / 'vae.pth'))
    w.other(
        'infinity.pth',
        "slim Infinity checkpoint: the plain state_dict, as save_slim_model() keeps trainer['gpt_fsdp']",
        **state_summary(out / 'infinity.pth'),
    )

    feats = text_features(cfg['text_channels'], cfg['seed'])
    kv, lens, cu, _ = pack_text(feats)
    w.npy('text_kv_compact', kv.numpy(), 'stand-in T5 features of the captions, packed: [sum(lens), text_channels]')
    w.npy('text_lens', np.array(lens, dtype=np.int64), 'tokens per caption (lens, a Python list in the official call)')
    w.npy('text_cu_seqlens_k', cu.numpy(), 'lens cumulated with a leading 0: int32 [B+1]')

    tok = tokenize(vae, image, vae_scale_schedule)
    write_tokenizer(w, tok)
    checks = {'tok_fhat_last_vs_z_maxabs': float((tok['fhat'][-1] - tok['z']).abs().max())}
    tf = write_teacher_forced(w, off, cfg, vae, model, image, feats, scale_schedule, vae_scale_schedule, tok, checks)
    gens = {}
    for gname, gcfg in cfg['generations'].items():
        gens[gname] = write_generation(w, off, cfg, vae, model, feats, scale_schedule, gname, gcfg, checks)

    config = config_json(off, name, cfg, official, vae, model, init_notes, lens, cu, tf, gens, tok, checks)
    (out / 'config.json').write_text(json.dumps(config, indent=1) + '\n')
    w.other('config.json', 'every constructor argument, flag, seed and setting used; self-checks')
    index = {
        'config': name,
        'official_commit': config['official_commit'],
        'conventions': {
            'batch': 'B=1 squeezed, except tf_logits, which keeps its batch axis',
            'tokens': 'scales in schedule order, each row-major over (h, w): config.schedule.begin_ends (transformer)'
            ' and vae_begin_ends (tok_*)',
            'bits': "0/1 uint8; bit b's code is (2b - 1) / sqrt(d) per channel (l2norm of +-1)",
            'd_model': 'bits per transformer token: d, or 4d with apply_spatial_patchify',
            'images': 'inputs in [-1, 1]; decoded float16 in [-1, 1]; *_img_bgr as returned, BGR',
        },
        'files': dict(sorted(w.files.items())),
    }
    (out / 'index.json').write_text(json.dumps(index, indent=1) + '\n')
    return config


def write_tokenizer(w, tok):
    """The tokenizer's intermediates: latent, residual and bits per scale, cumulative latents, reconstruction."""
    w.npy('tok_h', tok['h'][0].numpy(), 'encoder latent (encode_for_raw_features): [d, h, w] at the last VAE scale')
    w.npy(
        'tok_residual',
        flat_tokens([r.permute(0, 2, 3, 4, 1) for r in tok['residuals']])[0].numpy(),
        "BSQ's input at each scale (the residual, area-downsampled; before l2norm): [L_vae, d]",
    )
    w.npy(
        'tok_bits',
        flat_tokens(tok['bits'])[0].to(torch.uint8).numpy(),
        'BSQ bits (0/1) of every VAE scale: [L_vae, d]',
    )
    w.npy(
        'tok_fhat',
        torch.stack([f[0] for f in tok['fhat']]).numpy(),
        'cumulative latent after each scale, codes trilinear-upsampled and summed: [K, d, h, w]',
    )
    w.npy('tok_dec', tok['dec'][0].numpy().astype(np.float16), 'vae.decode(z): [3, H, W] in [-1, 1], float16')


def write_teacher_forced(w, off, cfg, vae, model, image, feats, scale_schedule, vae_scale_schedule, tok, checks):
    """The teacher-forced pass for the captions of tf_captions, one batch row each (the same image in every row)."""
    captions = cfg['tf_captions']
    n = len(captions)
    text = pack_text([feats[c] for c in captions])
    x_wo_prefix, gt, logits, bsc_args = teacher_forced(
        off, cfg, vae, model, image, text, scale_schedule, vae_scale_schedule
    )
    d_model = model.d_vae
    w.npy(
        'tf_x_wo_prefix',
        x_wo_prefix[0].numpy(),
        "flip_requant's x_BLC_wo_prefix (input after the start token): [L-1, d_model]",
    )
    w.npy('tf_gt_bits', gt[0].to(torch.uint8).numpy(), "flip_requant's labels gt_ms_idx_Bl, concatenated: [L, d_model]")
    w.npy(
        'tf_logits',
        logits.numpy(),
        f'Infinity.forward() logits, row b for caption tf_captions[b] {captions}: [{n}, L, 2*d_model];'
        ' as reshape(B, L, d_model, 2), [..., 0] is bit value 0 and [..., 1] bit value 1',
    )
    with float32_cross_attention(off), torch.no_grad():
        logits32 = model((text[0].clone(), *text[1:]), x_wo_prefix, scale_schedule=scale_schedule)
    w.npy(
        'tf_logits_fp32ca',
        logits32.numpy(),
        'tf_logits with the text attention (CrossAttention) in float32: its bfloat16 casts of q, kv turned off',
    )
    checks['tf_logits_vs_fp32ca_maxabs'] = float((logits - logits32).abs().max())
    bits = [model_layout(b, cfg['apply_spatial_patchify']) for b in tok['bits']]
    checks['tok_bits_equal_tf_gt_bits'] = bool(torch.equal(torch.cat(bits, 1)[0], gt[0].to(torch.int32)))
    acc = logits.reshape(n, -1, d_model, 2).argmax(-1) == gt.long()  # [n, L, d_model]
    checks['tf_bit_accuracy'] = float(acc.float().mean())
    if n > 1:
        alone = pack_text([feats[captions[0]]])
        one = model((alone[0].clone(), *alone[1:]), x_wo_prefix[:1], scale_schedule=scale_schedule)
        checks['tf_logits_row0_vs_alone_maxabs'] = float((logits[:1] - one).abs().max())
    return {
        'call': 'model((kv_compact, lens, cu_seqlens_k, max_seqlen_k), x_BLC_wo_prefix, scale_schedule=scale_schedule)',
        'captions': captions,
        'batch': 'tf_captions packed as text_* are; the same image in every row',
        'flip_requant_args': vars(bsc_args),
    }


def write_generation(w, off, cfg, vae, model, feats, scale_schedule, gname, gcfg, checks):
    """One autoregressive_infer_cfg run: the sampler's logits and bits per scale, the final latent and image."""
    c = gcfg['caption']
    rec = generate(off, vae, model, pack_text([feats[c]]), scale_schedule, cfg['vae_type'], gcfg)
    d_model = model.d_vae
    logits = torch.cat([x.reshape(1, -1, d_model, 2) for x in rec['logits']], 1)[0]  # [L, d_model, 2]
    bits = torch.cat([x.reshape(1, -1, d_model) for x in rec['bits']], 1)[0].to(torch.uint8)  # [L, d_model]
    w.npy(
        f'{gname}_logits',
        logits.numpy(),
        f'{gname}: logits given to the sampler (after CFG and 1/tau): [L, d_model, 2]',
    )
    w.npy(f'{gname}_bits', bits.numpy(), f'{gname}: sampled bits (0/1), transformer layout: [L, d_model]')
    w.npy(f'{gname}_z', rec['z'][0].numpy(), f'{gname}: summed codes given to vae.decode(): [d, h, w]')
    if gcfg['images']:
        w.npy(f'{gname}_img_bgr', rec['img_bgr'][0].numpy(), f'{gname}: the returned image: [H, W, 3] uint8, BGR')
    if gcfg['top_k'] == 1:
        checks[f'{gname}_bits_are_argmax'] = bool(torch.equal(logits.argmax(-1).to(torch.uint8), bits))
    return {**gcfg, 'caption_len': CAPTIONS[c]['len'], 'B': 1, 'negative_label_B_or_BLT': None, 'cfg_sc': 3}


def config_json(off, name, cfg, official, vae, model, init_notes, lens, cu, tf, gens, tok, checks):
    """config.json: everything needed to rebuild and rerun the configuration."""
    scale_schedule, vae_scale_schedule, (H, W) = schedules(off, cfg)
    L = sum(t * h * w for t, h, w in scale_schedule)
    pad = model.pad_to_multiplier
    defaults = {
        k: p.default
        for k, p in inspect.signature(off.Infinity.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    return {
        'name': name,
        'about': cfg['about'],
        'official_repo': OFFICIAL_REPO,
        'official_commit': git_head(official),
        'official_license': 'MIT (LICENSE of the official repository: Copyright (c) 2024 FoundationVision)',
        'official_source_sha256': {p: sha256(official / p) for p in OFFICIAL_SOURCES},
        'generator': 'tools/infinity_fixtures.py',
        'command': 'python tools/infinity_fixtures.py --official /tmp/infinity-official --out test/fixtures/infinity',
        'runtime': {
            'torch': torch.__version__,
            'numpy': np.__version__,
            'python': platform.python_version(),
            'device': 'cpu',
            'dtype': 'float32',
            'torch_threads': torch.get_num_threads(),
        },
        'stand_ins': STAND_INS,
        'seeds': {
            'seed': cfg['seed'],
            'vae_init': 'torch.manual_seed(seed)',
            'infinity_init': 'torch.manual_seed(seed + 1)',
            'perturb_generator': cfg['seed'] + 1000,
            'text_generator': cfg['seed'] + 2000,
        },
        'init': init_notes,
        'vae': {
            'builder': 'infinity.models.bsq_vae.vae.vae_model(path, **vae_model_kwargs), as load_visual_tokenizer()',
            'vae_type': cfg['vae_type'],
            'apply_spatial_patchify': cfg['apply_spatial_patchify'],
            'vae_model_kwargs': vae_model_kwargs(cfg),
            'autoencoder_overrides': {
                'base_ch': cfg['vae_channels']['base_ch'],
                'num_res_blocks': cfg['vae_channels']['num_res_blocks'],
                'why': 'vae_model() fixes base_ch=128 and num_res_blocks=2; set on its args before AutoEncoder(args)',
            },
            'codebook_dim': vae.codebook_dim,
            'codebook_scale': float(vae.quantizer.lfq.codebook_scale),
            'downsample': 8 if cfg['apply_spatial_patchify'] else 16,
            'z_interplote_down': vae.quantizer.z_interplote_down,
            'z_interplote_up': vae.quantizer.z_interplote_up,
        },
        'infinity': {
            'builder': 'infinity.models.infinity.Infinity(vae_local=vae, **constructor_kwargs), as load_infinity();'
            ' then eval(), requires_grad_(False), cond_drop_rate = 0.0; weights loaded with strict=True',
            'constructor_kwargs': infinity_kwargs(cfg),
            'constructor_defaults_not_given': {
                k: v for k, v in defaults.items() if k not in infinity_kwargs(cfg) and k != 'vae_local'
            },
            'runtime_attributes': {'cond_drop_rate': 0.0, 'training': False},
            'd_vae': model.d_vae,
            'V': model.V,
            'cfg_uncond_shape': list(model.cfg_uncond.shape),
            'mlp_hidden': model.unregistered_blocks[0].ffn.fc1.out_features,
            'head_dim': model.C // model.num_heads,
            'text_pool_heads': model.text_proj_for_sos.num_heads,
            'blocks_per_chunk': model.num_blocks_in_a_chunk,
        },
        'schedule': {
            'pn': cfg['pn'],
            'h_div_w_template': cfg['h_div_w_template'],
            'pixel_hw': [H, W],
            'scale_schedule': [list(s) for s in scale_schedule],
            'vae_scale_schedule': [list(s) for s in vae_scale_schedule],
            'L': L,
            'pad_to_multiplier': pad,
            'L_padded': (L + pad - 1) // pad * pad,
            'begin_ends': begin_ends(scale_schedule),
            'vae_begin_ends': begin_ends(vae_scale_schedule),
        },
        'text': {
            'captions': [dict(c) for c in CAPTIONS],
            'features': 'torch.randn(len, text_channels, generator=torch.Generator().manual_seed(seed + 2000)) * 0.2'
            ' for each caption in order (stand-ins for Flan-T5 last_hidden_state; no T5 runs)',
            'text_channels': cfg['text_channels'],
            'text_maxlen': model.text_maxlen,
            'lens': lens,
            'cu_seqlens_k': cu.tolist(),
            'max_seqlen_k': max(lens),
        },
        'teacher_forced': tf,
        'generations': gens,
        'tokenizer': {'residual_small_frac_per_scale': tok['residual_small_frac']},
        'self_checks': checks,
    }


def git_head(root: Path):
    return subprocess.run(['git', '-C', str(root), 'rev-parse', 'HEAD'], capture_output=True, text=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--official', type=Path, required=True, help='clone of FoundationVision/Infinity')
    parser.add_argument('--out', type=Path, required=True, help='output folder (one subfolder per configuration)')
    parser.add_argument(
        '--only', nargs='*', help=f'configurations (default: {", ".join(CONFIGS)}; also {", ".join(OPTIONAL_CONFIGS)})'
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    off = import_official(args.official.resolve())
    configs = {**CONFIGS, **OPTIONAL_CONFIGS}
    for name in args.only or CONFIGS:
        cfg = configs[name]
        t0 = time.time()
        config = run_configuration(off, name, cfg, args.official.resolve(), args.out / name)
        print(f'{name}: {time.time() - t0:.1f} s, self-checks {config["self_checks"]}', flush=True)


if __name__ == '__main__':
    main()
