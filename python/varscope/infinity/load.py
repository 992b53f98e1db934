"""Official-format Infinity checkpoints, read through the safe loader (no pickled code runs) and loaded strictly: the
BSQ VAE ({'vae': state_dict}), the slim Infinity file (a plain state_dict), and the trainer's ar-ckpt-*.pth
({'args': dict, 'trainer': {'gpt_fsdp', 'gpt_ema_fsdp', 'vae_local', ...}, ...}), whose args give the architecture
flags. A VAR checkpoint given as Infinity, or an Infinity one given as VAR, is refused in one line saying so."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn

from ..bundle.checkpoint import uninitialised
from ..bundle.safe_load import load_torch
from .bsq_vae import BSQVAE, BSQVAEConfig
from .config import InfinityConfig
from .model import Infinity


def _state_dict(obj, path: str, key: str = '') -> Dict[str, torch.Tensor]:
    if key and isinstance(obj, dict) and isinstance(obj.get(key), dict):
        obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f'{path}: not a state dict of tensors{" under " + repr(key) if key else ""}')
    return obj


# The trainer's models in an ar-ckpt, in the order they are taken (tools/run_infinity.py save_slim_model takes gpt_fsdp;
# a trainer without FSDP saves gpt_wo_ddp, and with EMA also gpt_ema_for_vis, the EMA weights).
AR_CKPT_TRANSFORMERS = ('gpt_fsdp', 'gpt_wo_ddp', 'gpt_ema_fsdp', 'gpt_ema_for_vis')

# The ar-ckpt args (infinity/utils/arg_util.py) that are architecture flags of InfinityConfig, by their arg name.
ARG_FLAGS = {
    'norm_eps': 'norm_eps',
    'saln': 'shared_aln',
    'cos': 'cos_attn',
    'use_bit_label': 'use_bit_label',
    'add_lvl_embeding_only_first_block': 'add_lvl_embeding_only_first_block',
    'rope2d_each_sa_layer': 'rope2d_each_sa_layer',
    'rope2d_normalized_by_hw': 'rope2d_normalized_by_hw',
    'pad_to_multiplier': 'pad_to_multiplier',
    'apply_spatial_patchify': 'apply_spatial_patchify',
}


def _trainer(obj) -> Optional[dict]:
    """An ar-ckpt's trainer state, or None for another file."""
    return obj['trainer'] if isinstance(obj, dict) and isinstance(obj.get('trainer'), dict) else None


def _looks_like_var(obj) -> bool:
    """Whether a loaded file holds a VAR transformer or VQ-VAE (the official VAR's keys or its trainer's)."""
    trainer = _trainer(obj)
    if trainer is not None and ('var_wo_ddp' in trainer or 'var_opt' in trainer):
        return True
    sd = obj.get('vae', obj) if isinstance(obj, dict) else None
    keys = set(sd) if isinstance(sd, dict) else set()
    return 'class_emb.weight' in keys or 'quantize.embedding.weight' in keys or 'encoder.conv_in.weight' in keys


def _not_var(obj, path: str, what: str) -> None:
    if _looks_like_var(obj):
        raise ValueError(
            f'{path}: a VAR checkpoint, not {what}: export it as VAR (varscope export --vae VAE --var VAR)'
        )


def _load_strict(model: nn.Module, sd: Dict[str, torch.Tensor], path: str, what: str) -> None:
    """load_state_dict(strict=True), with one line naming what does not fit instead of torch's listing."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    shapes = [k for k in expected if k in sd and tuple(sd[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or shapes:
        problems = {'missing': missing, 'unexpected': unexpected, 'of another shape': shapes}
        parts = [f'{len(v)} {name} (first {v[0]})' for name, v in problems.items() if v]
        raise ValueError(f'{path}: not {what}: ' + ', '.join(parts))
    # The model takes the checkpoint's tensors themselves (built uninitialised(), its own storages were never touched):
    # one copy of the weights in memory instead of two.
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    with torch.no_grad():
        for k, t in tensors.items():
            if sd[k].dtype == t.dtype:
                t.data = sd[k]
            else:
                t.copy_(sd[k])


def load_bsq_vae(path: str) -> BSQVAE:
    """An official BSQ VAE checkpoint ({'vae': state_dict}, or an ar-ckpt's trainer.vae_local), its shape read off the
    tensors."""
    obj = load_torch(path)
    _not_var(obj, path, 'a BSQ VAE checkpoint')
    trainer = _trainer(obj)
    if trainer is not None:
        if not isinstance(trainer.get('vae_local'), dict):
            raise ValueError(f'{path}: an ar-ckpt without its VAE (no trainer.vae_local): give the BSQ VAE checkpoint')
        obj = trainer['vae_local']
    sd = _state_dict(obj, path, 'vae')
    if 'encoder.conv_in.conv.weight' not in sd or 'decoder.up.0.block.0.conv2.conv.weight' not in sd:
        raise ValueError(f'{path}: not a BSQ VAE checkpoint (no encoder.conv_in / decoder.up.0 convolutions)')
    with uninitialised():
        vae = BSQVAE(BSQVAEConfig.from_state_dict(sd))
    _load_strict(vae, sd, path, 'a BSQ VAE checkpoint')
    return vae.eval()


def shape_of_weights(sd: Dict[str, torch.Tensor], path: str) -> Dict[str, int]:
    """What a slim checkpoint's tensors say of the architecture: bits, width, heads, depth, block chunks, text width
    and length (the other flags are not in the file: the release values of InfinityConfig stand)."""
    if 'pos_start' not in sd or 'cfg_uncond' not in sd or 'head.weight' not in sd:
        raise ValueError(f'{path}: not an Infinity checkpoint (no pos_start / cfg_uncond / head tensors)')
    chunked = sorted({tuple(map(int, k.split('.')[1:4:2])) for k in sd if k.startswith('block_chunks.')})
    plain = {int(k.split('.')[1]) for k in sd if k.startswith('blocks.')}
    chunks = len({c for c, _ in chunked}) if chunked else 1
    depth = len(chunked) if chunked else len(plain)
    first = 'block_chunks.0.module.0' if chunked else 'blocks.0'
    if f'{first}.sa.scale_mul_1H11' not in sd:
        raise ValueError(f'{path}: not an Infinity checkpoint (no {first}.sa.scale_mul_1H11)')
    text_maxlen, text_channels = sd['cfg_uncond'].shape
    return dict(
        d_vae=sd['head.weight'].shape[0] // 2,
        embed_dim=sd['pos_start'].shape[-1],
        num_heads=sd[f'{first}.sa.scale_mul_1H11'].shape[1],
        depth=depth,
        block_chunks=chunks,
        text_channels=text_channels,
        text_maxlen=text_maxlen,
    )


def infinity_state_dict(path: str) -> Tuple[Dict[str, torch.Tensor], Optional[dict]]:
    """The transformer's state_dict of a slim file or an ar-ckpt (its first of AR_CKPT_TRANSFORMERS), and the
    ar-ckpt's args (None for a slim file)."""
    obj = load_torch(path)
    _not_var(obj, path, 'an Infinity checkpoint')
    trainer = _trainer(obj)
    if trainer is None:
        return _state_dict(obj, path), None
    key = next((k for k in AR_CKPT_TRANSFORMERS if isinstance(trainer.get(k), dict) and trainer[k]), None)
    if key is None:
        raise ValueError(
            f'{path}: an ar-ckpt without the transformer (none of trainer.{", trainer.".join(AR_CKPT_TRANSFORMERS)})'
        )
    args = obj.get('args')
    return _state_dict(trainer[key], path), dict(args) if isinstance(args, dict) else None


def flags_of_args(args: dict) -> Dict[str, object]:
    """The InfinityConfig flags an ar-ckpt's args set (ARG_FLAGS), as the official build_vae_gpt passes them."""
    return {flag: args[arg] for arg, flag in ARG_FLAGS.items() if arg in args}


def load_infinity_checkpoint(path: str, model_type: str = '', text_attention_bf16: bool = False) -> Infinity:
    """A slim Infinity checkpoint or an ar-ckpt, with the shape its tensors give (checked against run_infinity's
    --model_type preset when one is named) and the flags of the ar-ckpt's args (else the release values)."""
    sd, args = infinity_state_dict(path)
    shape = shape_of_weights(sd, path)
    flags = flags_of_args(args) if args else {}
    if model_type:
        cfg = InfinityConfig.preset(model_type, shape['d_vae'], text_channels=shape['text_channels'], **flags)
        cfg.text_maxlen = shape['text_maxlen']
    else:
        cfg = InfinityConfig(**shape, **flags)
    return _load_model(sd, cfg, path, text_attention_bf16)


def load_infinity(path: str, cfg: InfinityConfig, text_attention_bf16: bool = False) -> Infinity:
    """A slim Infinity checkpoint (the plain state_dict, float32 or bfloat16) with the architecture flags of cfg."""
    return _load_model(_state_dict(load_torch(path), path), cfg, path, text_attention_bf16)


def _load_model(sd: Dict[str, torch.Tensor], cfg: InfinityConfig, path: str, text_attention_bf16: bool) -> Infinity:
    with uninitialised():
        model = Infinity(cfg, text_attention_bf16)
    _load_strict(model, sd, path, f'an Infinity checkpoint of depth {cfg.depth}, width {cfg.embed_dim}')
    return model.eval()
