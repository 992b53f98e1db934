"""What the VAE and VAR trainers share: the default model sizes, device and seeding, the dataset on the
device, the warmup + cosine schedule, the time budget, resumable checkpoints and the CSV log."""
import argparse
import csv
import inspect
import json
import math
import os
import random
import time
from typing import Dict, Optional

import numpy as np
import torch

from ..atomic import atomic_path, write_atomic

PATCH_NUMS = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)

# Sized so that the VAE graphs plus two transformer copies (final + early checkpoint) stay under 30 MB of
# fp32 weights: VQVAE 1.41 M params (5.6 MB), VAR 2.68 M params (10.7 MB) each; see python/varscope/training/README.md.
DEFAULT_VAE = dict(
    vocab_size=512,
    z_channels=16,
    ch=32,
    ch_mult=(1, 2, 2),
    num_res_blocks=2,
    using_sa=True,
    using_mid_sa=True,
    quant_conv_ks=3,
    quant_resi=0.5,
    phi_count=4,
    patch_nums=PATCH_NUMS,
)
DEFAULT_VAR = dict(
    depth=4, embed_dim=192, num_heads=4, mlp_ratio=3.0, shared_aln=False, attn_l2_norm=True, patch_nums=PATCH_NUMS
)


def add_run_args(ap: argparse.ArgumentParser) -> None:
    """Flags every stage takes: data, output folder, budget, seed, device, checkpointing."""
    ap.add_argument('--data', required=True, help='the .npz from varscope/training/prepare_data.py')
    ap.add_argument('--out', required=True, help='output folder')
    ap.add_argument('--steps', type=int, default=None, help='fixed number of optimisation steps')
    ap.add_argument('--minutes', type=float, default=None, help='wall-clock budget (steps fixed after a probe)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--device', default='auto', help='auto (cuda when available), cpu, cuda, cuda:N')
    ap.add_argument('--threads', type=int, default=2, help='CPU threads (1 when other jobs share the machine)')
    ap.add_argument('--no-amp', dest='amp', action='store_false', help='bf16 autocast is on by default on CUDA')
    ap.add_argument('--ckpt-every', type=int, default=1000, help='resumable checkpoint every N steps')
    ap.add_argument('--log-every', type=int, default=50)
    ap.add_argument('--resume', action='store_true', help='continue from <out>/train_state.pt')
    ap.add_argument(
        '--stop-at',
        type=int,
        default=None,
        help='stop after this step as if interrupted (the schedule still spans --steps); then --resume',
    )
    ap.add_argument(
        '--arch',
        type=json.loads,
        default={},
        help='JSON overrides of the architecture, {"vae": {VQVAE kwargs}, "var": {VAR kwargs}} '
        '(tests use tiny models on 16x16 images with patch_nums [1, 2, 4])',
    )


def pick_device(name: str, threads: int = 2) -> torch.device:
    """'auto' -> cuda when available, else cpu; CPU runs use `threads` threads (2 by default: a 2-core machine; 1 when
    other jobs share it, where a second thread spins waiting for a core)."""
    if name == 'auto':
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    dev = torch.device(name)
    if dev.type == 'cpu':
        torch.set_num_threads(threads)
    else:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    return dev


def seed_all(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class EmojiData:
    """The .npz from varscope/training/prepare_data.py, images kept as uint8 on the device."""

    def __init__(self, path: str, device: torch.device):
        with np.load(path) as z:
            self.meta = json.loads(str(z['meta_json']))
            held = z['held'].astype(bool)
            images, labels = z['images'], z['labels'].astype(np.int64)
            self.classes = [str(c) for c in z['classes']]
            self.names = [str(n) for n in z['names']]
        self.path = path
        self.held_mask = held
        self.train_images = torch.from_numpy(images[~held]).to(device)  # [N, 64, 64, 3] uint8
        self.train_labels = torch.from_numpy(labels[~held]).to(device)  # [N]
        self.held_images = torch.from_numpy(images[held]).to(device)
        self.held_labels = torch.from_numpy(labels[held]).to(device)

    @property
    def image_size(self) -> int:
        """Side of the (square) images in pixels."""
        return int(self.train_images.shape[1])


def to_input(u8_BHWC: torch.Tensor) -> torch.Tensor:
    """uint8 [B, H, W, 3] -> float [B, 3, H, W] in [-1, 1], as preprocess.rgb_to_input (x + x - 1)."""
    x = u8_BHWC.permute(0, 3, 1, 2).float().div(255)
    return x.add(x).add(-1)


class BatchSampler:
    """Seeded epoch permutations over N items plus per-sample horizontal flips; state is resumable."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size = n, batch_size
        self.gen = torch.Generator().manual_seed(seed)
        self.perm, self.pos = torch.randperm(n, generator=self.gen), 0

    def next(self):
        """(indices [B], flip mask [B]) on the CPU."""
        if self.pos + self.batch_size > self.n:
            self.perm, self.pos = torch.randperm(self.n, generator=self.gen), 0
        idx = self.perm[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        flip = torch.rand(len(idx), generator=self.gen) < 0.5
        return idx, flip

    def state_dict(self) -> Dict:
        """Generator state and position in the current permutation."""
        return {'gen': self.gen.get_state(), 'perm': self.perm, 'pos': self.pos}

    def load_state_dict(self, sd: Dict) -> None:
        """Continue exactly where state_dict() was taken."""
        self.gen.set_state(sd['gen'])
        self.perm, self.pos = sd['perm'], sd['pos']


def hflip_where(x_BCHW: torch.Tensor, flip_B: torch.Tensor) -> torch.Tensor:
    """Flip the chosen images left-right."""
    f = flip_B.to(x_BCHW.device).view(-1, 1, 1, 1)
    return torch.where(f, x_BCHW.flip(-1), x_BCHW)


def lr_at(step: int, total: int, base: float, warmup: int, final_ratio: float = 0.01) -> float:
    """Linear warmup over `warmup` steps, then cosine from base to base * final_ratio at `total`."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


class StepBudget:
    """Fixes the total step count: given (--steps), or from a wall-clock budget measured over probe steps."""

    def __init__(self, steps: Optional[int], minutes: Optional[float], probe: int = 20, max_steps: int = 10**7):
        if steps is None and minutes is None:
            raise ValueError('give --steps or --minutes')
        self.total = steps
        self.seconds = None if minutes is None else minutes * 60
        self.probe, self.max_steps = probe, max_steps
        self.t0 = time.time()
        self.t_probe = None

    def provisional(self) -> int:
        """Total used by the schedule before it is fixed (only matters for the probe steps)."""
        return self.total if self.total is not None else self.max_steps

    def after_step(self, step_done: int) -> None:
        """Call after every step; fixes `total` once the probe has run (first 3 steps excluded: warm-up)."""
        if self.total is not None:
            return
        if step_done == 3:
            self.t_probe = time.time()
        elif step_done == 3 + self.probe:
            per_step = (time.time() - self.t_probe) / self.probe
            left = self.seconds - (time.time() - self.t0)
            self.total = int(min(self.max_steps, max(step_done + 1, step_done + left / per_step)))

    def done(self, step_done: int) -> bool:
        """True when training should stop."""
        if self.total is not None:
            return step_done >= self.total
        return self.seconds is not None and time.time() - self.t0 >= self.seconds


class CsvLog:
    """Appends rows of scalars to a CSV (header from the first row; kept on resume)."""

    def __init__(self, path: str, resume: bool):
        self.path = path
        self.fields = None
        if resume and os.path.exists(path):
            with open(path) as f:
                self.fields = next(csv.reader(f), None)
        elif os.path.exists(path):
            os.remove(path)

    def write(self, row: Dict) -> None:
        """Append one row (columns fixed by the first row written)."""
        if self.fields is None:
            self.fields = list(row)
            with open(self.path, 'w', newline='') as f:
                csv.writer(f).writerow(self.fields)
        with open(self.path, 'a', newline='') as f:
            csv.writer(f).writerow([_fmt(row.get(k, '')) for k in self.fields])


def _fmt(v):
    return f'{v:.6g}' if isinstance(v, float) else v


def save_json(path: str, obj) -> None:
    """Pretty JSON (tuples as lists)."""
    write_atomic(path, json.dumps(obj, indent=1, default=list))


def atomic_save(obj, path: str) -> None:
    """torch.save to a temp file then rename, so a killed run never leaves a truncated checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def rng_state() -> Dict:
    """Global RNG states (torch CPU / CUDA, numpy, python) for resuming."""
    st = {'torch': torch.get_rng_state(), 'numpy': np.random.get_state(), 'python': random.getstate()}
    if torch.cuda.is_available():
        st['cuda'] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: Dict) -> None:
    """Restore what rng_state() saved."""
    torch.set_rng_state(st['torch'])
    np.random.set_state(st['numpy'])
    random.setstate(st['python'])
    if 'cuda' in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st['cuda'])


def load_train_state(path: str):
    """Trainer state saved by atomic_save (optimizer, samplers, RNG: not a weights-only file)."""
    kwargs = {'map_location': 'cpu'}
    try:
        return torch.load(path, weights_only=False, **kwargs)
    except TypeError:  # torch < 1.13 has no weights_only
        return torch.load(path, **kwargs)


def adamw(groups, lr: float, betas) -> torch.optim.Optimizer:
    """AdamW, fused on CUDA where this torch has it (one kernel instead of several per parameter)."""
    on_cuda = any(p.is_cuda for g in groups for p in g['params'])
    if on_cuda and 'fused' in inspect.signature(torch.optim.AdamW).parameters:
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=True)
    return torch.optim.AdamW(groups, lr=lr, betas=betas)


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA when enabled, a no-op context otherwise."""
    if device.type == 'cuda' and enabled:
        return torch.autocast('cuda', dtype=torch.bfloat16)
    return torch.autocast('cpu', enabled=False)
