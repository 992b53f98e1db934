"""The architecture flags of an Infinity transformer, named as the official constructor and run_infinity name them."""
from dataclasses import dataclass, fields
from typing import Any, Dict

# tools/run_infinity.py's --model_type presets: depth, width, heads and block chunks (not in the slim checkpoints).
PRESETS: Dict[str, Dict[str, int]] = {
    'infinity_2b': dict(depth=32, embed_dim=2048, num_heads=16, block_chunks=8),
    'infinity_8b': dict(depth=40, embed_dim=3584, num_heads=28, block_chunks=8),
    'infinity_layer12': dict(depth=12, embed_dim=768, num_heads=8, block_chunks=4),
    'infinity_layer16': dict(depth=16, embed_dim=1152, num_heads=12, block_chunks=4),
    'infinity_layer24': dict(depth=24, embed_dim=1536, num_heads=16, block_chunks=4),
    'infinity_layer32': dict(depth=32, embed_dim=2080, num_heads=20, block_chunks=4),
    'infinity_layer40': dict(depth=40, embed_dim=2688, num_heads=24, block_chunks=4),
    'infinity_layer48': dict(depth=48, embed_dim=3360, num_heads=28, block_chunks=4),
}


@dataclass
class InfinityConfig:
    """Transformer shape and flags; defaults are the release settings of tools/run_infinity.py / scripts/infer.sh."""

    d_vae: int = 32  # bits per VAE token (vae_type)
    depth: int = 32
    embed_dim: int = 2048
    num_heads: int = 16
    mlp_ratio: float = 4.0
    block_chunks: int = 8
    text_channels: int = 2048  # Flan-T5 feature width (Ct5)
    text_maxlen: int = 512
    norm_eps: float = 1e-6
    shared_aln: bool = True
    cos_attn: bool = True
    use_bit_label: int = 1
    add_lvl_embeding_only_first_block: int = 1
    rope2d_each_sa_layer: int = 1
    rope2d_normalized_by_hw: int = 2
    pad_to_multiplier: int = 128
    apply_spatial_patchify: int = 0

    def __post_init__(self):
        unsupported = {
            'shared_aln': (self.shared_aln, True),
            'cos_attn': (self.cos_attn, True),
            'use_bit_label': (self.use_bit_label, 1),
            'rope2d_each_sa_layer': (self.rope2d_each_sa_layer, 1),
            'apply_spatial_patchify': (self.apply_spatial_patchify, 0),
        }
        for name, (value, supported) in unsupported.items():
            if value != supported:
                raise ValueError(f'Infinity flag {name}={value} is not supported yet (only {supported})')
        if self.rope2d_normalized_by_hw not in (0, 2):
            raise ValueError(f'rope2d_normalized_by_hw={self.rope2d_normalized_by_hw} is not supported (0 or 2)')
        if self.embed_dim % self.num_heads or self.depth % self.block_chunks:
            raise ValueError(
                f'embed_dim {self.embed_dim} / num_heads {self.num_heads} and depth {self.depth} / block_chunks'
                f' {self.block_chunks} must divide'
            )

    @property
    def d_model(self) -> int:
        """Bits per transformer token (4 d_vae with spatial patchify)."""
        return self.d_vae * (4 if self.apply_spatial_patchify else 1)

    @property
    def mlp_hidden(self) -> int:
        """FFN width: C * mlp_ratio rounded to a multiple of 256, as the official blocks round it."""
        return round(self.embed_dim * self.mlp_ratio / 256) * 256

    @property
    def text_pool_heads(self) -> int:
        """Heads of the text pool: one per 128 T5 channels (per 64 when C > 4096)."""
        return self.text_channels // (64 if self.embed_dim > 4096 else 128)

    @staticmethod
    def from_kwargs(d_vae: int, kwargs: Dict[str, Any]) -> 'InfinityConfig':
        """From the official constructor's keyword arguments (unknown ones, such as drop_path_rate, are ignored)."""
        names = {f.name for f in fields(InfinityConfig)}
        return InfinityConfig(d_vae=d_vae, **{k: v for k, v in kwargs.items() if k in names})

    @staticmethod
    def preset(model_type: str, d_vae: int, **flags) -> 'InfinityConfig':
        """A run_infinity --model_type preset, with other flags given."""
        if model_type not in PRESETS:
            raise ValueError(f'unknown Infinity model type {model_type!r} (one of {", ".join(PRESETS)})')
        return InfinityConfig(d_vae=d_vae, **{**PRESETS[model_type], **flags})
