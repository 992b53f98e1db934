"""Strict loading of official VAR / VQ-VAE checkpoints, with the whole configuration inferred from the tensors."""
import contextlib
import math
import os
import re
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from .safe_load import NotACheckpoint, UnsafeCheckpoint, load_torch, peek
from ..model.var_model import VAR
from ..model.vqvae import VQVAE

# Official 256px and 512px pyramids: the fallback when a VAR checkpoint lacks its lvl_1L / mask buffers.
KNOWN_PATCH_NUMS = [(1, 2, 3, 4, 5, 6, 8, 10, 13, 16), (1, 2, 3, 4, 6, 9, 13, 18, 24, 32)]
StateDict = Dict[str, torch.Tensor]


class CheckpointError(Exception):
    """A checkpoint that cannot be used, with a message meant for the user."""


@dataclass
class VaeConfig:
    """Everything needed to build the VQ-VAE, inferred from its state_dict."""

    vocab_size: int
    Cvae: int
    ch: int
    ch_mult: Tuple[int, ...]
    num_res_blocks: int
    using_sa: bool
    using_mid_sa: bool
    quant_conv_ks: int
    phi_count: int
    quant_resi: float
    hit_scales: int  # rows of quantize.ema_vocab_hit_SV (0 when absent)


@dataclass
class VarConfig:
    """Everything needed to build the VAR transformer, inferred from its state_dict."""

    depth: int
    embed_dim: int
    num_heads: int
    mlp_ratio: float
    num_classes: int
    shared_aln: bool
    attn_l2_norm: bool
    Cvae: int
    vocab_size: int
    patch_nums: Tuple[int, ...]


def torch_load(path: str, structure_only: bool = False):
    """A checkpoint's contents on CPU, with no code run from the file (see safe_load): PyTorch files or safetensors.
    structure_only: every tensor empty, no tensor data read (to tell what a file holds)."""
    if not os.path.exists(path):
        raise CheckpointError(f'{path}: no such file')
    if not os.path.isfile(path):
        raise CheckpointError(f'{path}: not a regular file')
    if os.path.getsize(path) == 0:
        raise CheckpointError(f'{path}: empty file (0 bytes), not a checkpoint')
    try:
        return peek(path) if structure_only else load_torch(path)
    except NotACheckpoint as e:
        raise CheckpointError(f'{path}: {e}') from e
    except UnsafeCheckpoint as e:
        raise CheckpointError(
            f'{path}: a PyTorch checkpoint that holds a Python object of type {e}, which is not plain data; '
            f'VARScope loads only tensors and plain containers (dict, list, tuple, set, str, bytes, numbers, '
            f'None, torch.Size) so that opening a file never runs code from it. Save the model\'s state_dict '
            f'(with its optimizer state and plain-dict args, as the official trainer does) instead'
        ) from e
    except OSError as e:
        raise CheckpointError(f'{path}: cannot read ({e.strerror or e})') from e


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def _strip_prefixes(sd: StateDict) -> StateDict:
    for prefix in ('module.', '_orig_mod.'):
        if all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix) :]: v for k, v in sd.items()}
    return sd


def looks_like(sd: StateDict) -> str:
    """'var', 'vae', or 'unknown' from the key names (an Infinity model's: 'unknown')."""
    if infinity_part(sd):
        return 'unknown'
    if 'class_emb.weight' in sd or any(k.startswith('blocks.') for k in sd):
        return 'var'
    if 'quantize.embedding.weight' in sd or 'encoder.conv_in.weight' in sd:
        return 'vae'
    return 'unknown'


def infinity_part(sd: StateDict) -> str:
    """Which part of an Infinity model a state_dict is ('transformer', 'BSQ VAE'), else '' (varscope/infinity/load.py)."""
    if 'pos_start' in sd and 'cfg_uncond' in sd:
        return 'transformer'
    return 'BSQ VAE' if 'encoder.conv_in.conv.weight' in sd else ''


def find_state_dicts(obj, depth: int = 0, path: str = '') -> List[Tuple[str, StateDict]]:
    """Every state_dict nested in a checkpoint (trainer checkpoints: {'trainer': {'var_wo_ddp', 'vae_local'}})."""
    if _is_state_dict(obj):
        return [(path or '<root>', _strip_prefixes(obj))]
    found = []
    if isinstance(obj, dict) and depth < 4:
        for k, v in obj.items():
            if isinstance(v, dict):
                found += find_state_dicts(v, depth + 1, f'{path}.{k}' if path else str(k))
    return found


def extract(obj, role: str, path: str) -> StateDict:
    """The state_dict of `role` ('vae' or 'var') inside a loaded checkpoint, or a clear error."""
    if isinstance(obj, dict):  # a state_dict that also carries non-tensor entries
        plain = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if plain and looks_like(plain) != 'unknown' and len(plain) >= len(obj) - 2:
            obj = plain
    cands = find_state_dicts(obj)
    if not cands:
        raise CheckpointError(f'{path}: no tensors found (expected a state_dict or a trainer checkpoint)')
    mine = [(p, sd) for p, sd in cands if looks_like(sd) == role]
    if not mine:
        infinity = [part for part in (infinity_part(sd) for _, sd in cands) if part]
        if infinity:
            raise CheckpointError(
                f'{path}: an Infinity checkpoint (its {infinity[0]}), not VAR: export it as Infinity'
                ' (varscope export --vae BSQ_VAE --infinity INFINITY)'
            )
        other = {looks_like(sd) for _, sd in cands} - {'unknown'}
        what = {'vae': 'a VQ-VAE', 'var': 'a VAR transformer'}
        if other:
            raise CheckpointError(
                f'{path}: this is {what[other.pop()]} checkpoint, but it was given as the '
                f'{role.upper()} (swap --vae and --var?)'
            )
        raise CheckpointError(
            f'{path}: neither a VAR nor a VQ-VAE state_dict (keys: {", ".join(list(cands[0][1])[:5])} ...)'
        )
    if len(mine) > 1:  # EMA copies etc.: prefer the canonical trainer names
        for name in ('var_wo_ddp', 'vae_local', 'model', 'state_dict'):
            for p, sd in mine:
                if p.split('.')[-1] == name:
                    return sd
    return mine[0][1]


def _need(sd: StateDict, key: str, path: str) -> torch.Tensor:
    if key not in sd:
        raise CheckpointError(f'{path}: missing key {key!r}; not a complete checkpoint of this kind')
    return sd[key]


def canonical_vae_keys(sd: StateDict) -> StateDict:
    """Map the shared / non-shared Phi layouts (quant_resi.qresi.*, quant_resi.<k>.*) to quant_resi.qresi_ls.<k>.*."""
    out = {}
    for k, v in sd.items():
        k = re.sub(r'^quantize\.quant_resi\.qresi\.', 'quantize.quant_resi.qresi_ls.0.', k)
        k = re.sub(r'^quantize\.quant_resi\.(\d+)\.', r'quantize.quant_resi.qresi_ls.\1.', k)
        out[k] = v
    return out


def infer_vae_config(sd: StateDict, path: str = 'vae', quant_resi: float = 0.5) -> VaeConfig:
    """VQ-VAE hyper-parameters from tensor shapes (quant_resi is not stored: official 0.5)."""
    emb = _need(sd, 'quantize.embedding.weight', path)
    ch = _need(sd, 'encoder.conv_in.weight', path).shape[0]
    levels = sorted({int(m.group(1)) for k in sd for m in [re.match(r'encoder\.down\.(\d+)\.', k)] if m})
    ch_mult = tuple(int(sd[f'encoder.down.{i}.block.0.conv1.weight'].shape[0]) // ch for i in levels)
    blocks = {int(m.group(1)) for k in sd for m in [re.match(r'encoder\.down\.0\.block\.(\d+)\.', k)] if m}
    phis = {int(m.group(1)) for k in sd for m in [re.match(r'quantize\.quant_resi\.qresi_ls\.(\d+)\.', k)] if m}
    hits = sd.get('quantize.ema_vocab_hit_SV')
    return VaeConfig(
        vocab_size=int(emb.shape[0]),
        Cvae=int(emb.shape[1]),
        ch=int(ch),
        ch_mult=ch_mult,
        num_res_blocks=len(blocks),
        using_sa=any(k.startswith(f'encoder.down.{levels[-1]}.attn.') for k in sd),
        using_mid_sa='encoder.mid.attn_1.qkv.weight' in sd,
        quant_conv_ks=int(_need(sd, 'quant_conv.weight', path).shape[-1]),
        phi_count=len(phis),
        quant_resi=quant_resi if phis else 0.0,
        hit_scales=int(hits.shape[0]) if hits is not None else 0,
    )


def infer_patch_nums(sd: StateDict, path: str) -> Tuple[int, ...]:
    """Scale sides from lvl_1L (tokens per level), else the mask, else a known pyramid of the same L and SN."""
    if 'lvl_1L' in sd:
        counts = torch.bincount(sd['lvl_1L'].view(-1).long()).tolist()
        pns = tuple(int(round(math.sqrt(c))) for c in counts)
        if all(p * p == c for p, c in zip(pns, counts)):
            return pns
    if 'attn_bias_for_masking' in sd:
        visible = (sd['attn_bias_for_masking'].view(sd['attn_bias_for_masking'].shape[-2], -1) == 0).sum(1).tolist()
        ends = sorted(set(int(v) for v in visible))
        sizes = [e - b for b, e in zip([0] + ends[:-1], ends)]
        pns = tuple(int(round(math.sqrt(s))) for s in sizes)
        if all(p * p == s for p, s in zip(pns, sizes)):
            return pns
    L, SN = _need(sd, 'pos_1LC', path).shape[1], _need(sd, 'lvl_embed.weight', path).shape[0]
    for pns in KNOWN_PATCH_NUMS:
        if len(pns) == SN and sum(p * p for p in pns) == L:
            return pns
    raise CheckpointError(f'{path}: cannot infer patch_nums (L={L}, {SN} scales, no lvl_1L buffer); pass --patch-nums')


def infer_var_config(sd: StateDict, path: str = 'var', patch_nums: Optional[Sequence[int]] = None) -> VarConfig:
    """VAR hyper-parameters from tensor shapes; heads from scale_mul_1H11 (official d-heads rule otherwise)."""
    cls = _need(sd, 'class_emb.weight', path)
    embed_dim = int(cls.shape[1])
    depth = len({int(m.group(1)) for k in sd for m in [re.match(r'blocks\.(\d+)\.', k)] if m})
    l2 = 'blocks.0.attn.scale_mul_1H11' in sd
    heads = int(sd['blocks.0.attn.scale_mul_1H11'].shape[1]) if l2 else depth
    if embed_dim % heads:
        raise CheckpointError(f'{path}: cannot infer the number of heads (width {embed_dim}, depth {depth})')
    pns = tuple(patch_nums) if patch_nums else infer_patch_nums(sd, path)
    L = int(_need(sd, 'pos_1LC', path).shape[1])
    if sum(p * p for p in pns) != L:
        raise CheckpointError(f'{path}: patch_nums {list(pns)} give L={sum(p * p for p in pns)}, checkpoint has L={L}')
    head = _need(sd, 'head.weight', path)
    return VarConfig(
        depth=depth,
        embed_dim=embed_dim,
        num_heads=heads,
        mlp_ratio=float(_need(sd, 'blocks.0.ffn.fc1.weight', path).shape[0]) / embed_dim,
        num_classes=int(cls.shape[0]) - 1,
        shared_aln='shared_ada_lin.1.weight' in sd,
        attn_l2_norm=l2,
        Cvae=int(_need(sd, 'word_embed.weight', path).shape[1]),
        vocab_size=int(head.shape[0]),
        patch_nums=pns,
    )


def build_vae(cfg: VaeConfig, patch_nums: Sequence[int]) -> VQVAE:
    """An (untrained) VQVAE of this configuration."""
    return VQVAE(
        vocab_size=cfg.vocab_size,
        z_channels=cfg.Cvae,
        ch=cfg.ch,
        ch_mult=cfg.ch_mult,
        num_res_blocks=cfg.num_res_blocks,
        using_sa=cfg.using_sa,
        using_mid_sa=cfg.using_mid_sa,
        quant_conv_ks=cfg.quant_conv_ks,
        quant_resi=cfg.quant_resi,
        phi_count=cfg.phi_count or 4,
        patch_nums=patch_nums,
    )


def build_var(cfg: VarConfig) -> VAR:
    """An (untrained) VAR of this configuration."""
    return VAR(
        Cvae=cfg.Cvae,
        vocab_size=cfg.vocab_size,
        num_classes=cfg.num_classes,
        depth=cfg.depth,
        embed_dim=cfg.embed_dim,
        num_heads=cfg.num_heads,
        mlp_ratio=cfg.mlp_ratio,
        shared_aln=cfg.shared_aln,
        attn_l2_norm=cfg.attn_l2_norm,
        patch_nums=cfg.patch_nums,
    )


# Buffers that only encode structure (computed from the configuration); trimmed checkpoints may omit them.
STRUCTURAL = re.compile(r'^(lvl_1L|attn_bias_for_masking|blocks\.\d+\.attn\.zero_k_bias)$')


@contextlib.contextmanager
def uninitialised():
    """Build modules without initialising their parameters: the storages stay untouched, so they take no memory until
    the checkpoint's tensors replace them (load_strict with share=True)."""
    nn = torch.nn
    classes = (nn.Linear, nn.LayerNorm, nn.Embedding, nn.Conv2d, nn.GroupNorm)
    own = {c: vars(c).get('reset_parameters') for c in classes}
    for c in classes:
        c.reset_parameters = lambda self: None
    try:
        yield
    finally:
        for c, fn in own.items():
            if fn is None:
                delattr(c, 'reset_parameters')  # back to the inherited one
            else:
                c.reset_parameters = fn


def load_strict(model: torch.nn.Module, sd: StateDict, path: str, share: bool = False) -> None:
    """load_state_dict(strict=True) with the unknown / missing / mis-shaped keys spelled out.

    share: the model takes the checkpoint's tensors themselves (no copy; the caller drops sd). With a model built
    uninitialised() this keeps one copy of the weights in memory instead of two (official d30: 8 GB instead of 16)."""
    own = model.state_dict()
    sd = dict(sd, **{k: v for k, v in own.items() if k not in sd and STRUCTURAL.match(k)})
    missing = [k for k in own if k not in sd]
    unknown = [k for k in sd if k not in own]
    shapes = [
        f'{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}'
        for k in own
        if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing keys ({", ".join(missing[:6])}{" ..." if len(missing) > 6 else ""})')
    if unknown:
        problems.append(f'{len(unknown)} unknown keys ({", ".join(unknown[:6])}{" ..." if len(unknown) > 6 else ""})')
    if shapes:
        problems.append('shape mismatches: ' + '; '.join(shapes[:4]))
    if problems:
        raise CheckpointError(f'{path}: does not match the inferred architecture: ' + '; '.join(problems))
    if not share:
        model.load_state_dict(sd, strict=True)
        return
    tensors = dict(model.named_parameters())
    tensors.update(model.named_buffers())
    with torch.no_grad():
        for k in own:
            t, v = tensors[k], sd[k]
            if v.dtype == t.dtype:
                t.data = v
            else:
                t.copy_(v)


@dataclass
class LoadedModels:
    """A strictly loaded VQVAE + VAR pair and their inferred configurations."""

    vae: VQVAE
    var: VAR
    vae_cfg: VaeConfig
    var_cfg: VarConfig
    has_hits: bool

    def config_dict(self) -> dict:
        """Both configurations as plain data (plus derived layout)."""
        return {
            'vae': asdict(self.vae_cfg),
            'var': asdict(self.var_cfg),
            'phi_index_per_scale': self.vae.quantize.phi_indices(),
            'image_size': self.var_cfg.patch_nums[-1] * self.vae.downsample,
        }


def load_models(
    vae_path: str, var_path: str, patch_nums: Optional[Sequence[int]] = None, quant_resi: float = 0.5
) -> LoadedModels:
    """Load both checkpoints strictly (eval mode, float32) after checking they belong together."""
    vae_obj = torch_load(vae_path)
    var_obj = vae_obj if os.path.realpath(var_path) == os.path.realpath(vae_path) else torch_load(var_path)
    vae_sd, var_sd = extract(vae_obj, 'vae', vae_path), extract(var_obj, 'var', var_path)
    del vae_obj, var_obj  # a trainer checkpoint's optimizer state goes now
    return models_from_state_dicts(vae_sd, var_sd, vae_path, var_path, patch_nums, quant_resi)


def models_from_state_dicts(
    vae_sd: StateDict,
    var_sd: StateDict,
    vae_path: str = 'vae',
    var_path: str = 'var',
    patch_nums: Optional[Sequence[int]] = None,
    quant_resi: float = 0.5,
) -> LoadedModels:
    """load_models on state_dicts already in memory (the models take their tensors); the paths name them in errors."""
    vae_sd = canonical_vae_keys(vae_sd)
    vae_cfg = infer_vae_config(vae_sd, vae_path, quant_resi)
    var_cfg = infer_var_config(var_sd, var_path, patch_nums)
    if vae_cfg.vocab_size != var_cfg.vocab_size:
        raise CheckpointError(
            f'vocab mismatch: VAE {vae_path} has V={vae_cfg.vocab_size}, '
            f'VAR {var_path} predicts V={var_cfg.vocab_size}'
        )
    if vae_cfg.Cvae != var_cfg.Cvae:
        raise CheckpointError(
            f'Cvae mismatch: VAE {vae_path} has Cvae={vae_cfg.Cvae}, VAR {var_path} expects {var_cfg.Cvae}'
        )
    has_hits = 'quantize.ema_vocab_hit_SV' in vae_sd and vae_cfg.hit_scales == len(var_cfg.patch_nums)
    with uninitialised():
        vae = build_vae(vae_cfg, var_cfg.patch_nums)
    if 'quantize.ema_vocab_hit_SV' in vae_sd and not has_hits:  # official load_state_dict keeps its own then
        vae_sd = dict(vae_sd, **{'quantize.ema_vocab_hit_SV': vae.quantize.ema_vocab_hit_SV})
    if 'quantize.ema_vocab_hit_SV' not in vae_sd:
        vae_sd = dict(vae_sd, **{'quantize.ema_vocab_hit_SV': vae.quantize.ema_vocab_hit_SV})
    load_strict(vae, {k: v.float() if v.is_floating_point() else v for k, v in vae_sd.items()}, vae_path, share=True)
    with uninitialised():
        var = build_var(var_cfg)
    load_strict(var, {k: v.float() if v.is_floating_point() else v for k, v in var_sd.items()}, var_path, share=True)
    for p in list(vae.parameters()) + list(var.parameters()):
        p.requires_grad_(False)
    return LoadedModels(vae.eval(), var.eval(), vae_cfg, var_cfg, has_hits)


def roles(path: str) -> List[str]:
    """Which models a checkpoint file holds: a subset of ['vae', 'var'] (both for a trainer checkpoint), from the
    key names alone (no tensor data is read)."""
    found = {looks_like(sd) for _, sd in find_state_dicts(torch_load(path, structure_only=True))}
    return [r for r in ('vae', 'var') if r in found]
