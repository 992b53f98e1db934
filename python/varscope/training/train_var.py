"""Train the class-conditional VAR transformer on the frozen VQ-VAE's token pyramids: teacher-forced cross-entropy
over all scales, class dropout 0.1 (for CFG), AdamW with warmup + cosine; seeded, resumable, step or time budget.

    PYTHONPATH=python /usr/bin/python3 -m varscope.train_var --data out/data/emoji64.npz --vae runs/vae/vae.pth \
        --out runs/var --minutes 3

Writes <out>/var.pth (var.state_dict() incl. buffers, official layout), <out>/var_early.pth (the same at
--early-frac of the steps), <out>/var.json, <out>/log.csv and <out>/train_state.pt (for --resume)."""
import argparse
import math
import os
import time
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..hashing import sha256_of
from ..bundle.checkpoint import build_vae, canonical_vae_keys, extract, infer_vae_config, load_strict, torch_load
from .train_common import (
    DEFAULT_VAR,
    BatchSampler,
    CsvLog,
    EmojiData,
    StepBudget,
    adamw,
    add_run_args,
    atomic_save,
    autocast,
    load_train_state,
    lr_at,
    pick_device,
    rng_state,
    save_json,
    seed_all,
    set_rng_state,
    to_input,
)
from ..model.var_model import VAR
from ..model.vqvae import VQVAE


def load_vae(path: str, patch_nums) -> VQVAE:
    """The trained VQVAE, loaded strictly the way the exporter loads official checkpoints (eval, frozen)."""
    sd = canonical_vae_keys(extract(torch_load(path), 'vae', path))
    vae = build_vae(infer_vae_config(sd, path), patch_nums)
    load_strict(vae, sd, path)
    for p in vae.parameters():
        p.requires_grad_(False)
    return vae.eval()


def build_var_model(Cvae: int, vocab_size: int, num_classes: int, overrides: dict = None) -> VAR:
    """The default VAR (train_common.DEFAULT_VAR) with the official initialisation."""
    var = VAR(Cvae=Cvae, vocab_size=vocab_size, num_classes=num_classes, **dict(DEFAULT_VAR, **(overrides or {})))
    init_weights(var)
    return var


@torch.no_grad()
def init_weights(var: VAR, init_adaln: float = 0.5, init_adaln_gamma: float = 1e-5, init_head: float = 0.02) -> None:
    """Official VAR initialisation (init_std = sqrt(1 / 3C)): truncated normals, head and AdaLN scaled down,
    residual projections divided by sqrt(2 depth), the AdaLN gates near zero so every block starts as identity."""
    std = math.sqrt(1 / var.C / 3)
    for m in var.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.trunc_normal_(m.weight, std=std)
            if getattr(m, 'bias', None) is not None:
                m.bias.zero_()
        elif isinstance(m, nn.LayerNorm) and m.weight is not None:
            m.weight.fill_(1.0)
            m.bias.zero_()
    for p in (var.pos_start, var.pos_1LC):
        nn.init.trunc_normal_(p, std=std)
    var.head.weight.mul_(init_head)
    var.head.bias.zero_()
    var.head_nm.ada_lin[-1].weight.mul_(init_adaln)
    var.head_nm.ada_lin[-1].bias.zero_()
    for b in var.blocks:
        b.attn.proj.weight.div_(math.sqrt(2 * var.depth))
        b.ffn.fc2.weight.div_(math.sqrt(2 * var.depth))
        if hasattr(b, 'ada_lin'):
            b.ada_lin[-1].weight[2 * var.C :].mul_(init_adaln)
            b.ada_lin[-1].weight[: 2 * var.C].mul_(init_adaln_gamma)
            b.ada_lin[-1].bias.zero_()
        else:
            b.ada_gss[:, :, 2:].mul_(init_adaln)
            b.ada_gss[:, :, :2].mul_(init_adaln_gamma)


@torch.no_grad()
def tokens_of(vae: VQVAE, images_u8: torch.Tensor, flip: bool, batch: int = 256) -> torch.Tensor:
    """Ground-truth token pyramids [N, L] (int64) of uint8 images [N, H, W, 3], optionally mirrored."""
    out = []
    for i in range(0, len(images_u8), batch):
        x = to_input(images_u8[i : i + batch])
        if flip:
            x = x.flip(-1)
        out.append(torch.cat(vae.quantize.quantize(vae.img_to_f(x)).idx_Bl, dim=1))
    return torch.cat(out)


@torch.no_grad()
def var_input_of(vae: VQVAE, idx_BL: torch.Tensor, begin_ends: List) -> torch.Tensor:
    """Teacher-forcing input [B, L - first_l, Cvae]: area-down of the cumulative f_hat to scales 1..SN-1
    (device-agnostic twin of MultiScaleQuantizer.idxBl_to_var_input)."""
    q = vae.quantize
    B, H = idx_BL.shape[0], q.patch_nums[-1]
    f_hat = torch.zeros(B, q.Cvae, H, H, device=idx_BL.device)
    nxt = []
    for si in range(q.SN - 1):
        bg, ed = begin_ends[si]
        f_hat = f_hat + q.up_phi(si, q.idx_to_h(idx_BL[:, bg:ed]), H)
        pn = q.patch_nums[si + 1]
        nxt.append(F.interpolate(f_hat, size=(pn, pn), mode='area').flatten(2).transpose(1, 2))  # [B, pn*pn, C]
    return torch.cat(nxt, dim=1)


class TokenCache:
    """Token pyramids [2N, L] of the training images and their mirror images, each computed once, when first
    needed (a short run never pays for tokenising the whole set)."""

    def __init__(self, vae: VQVAE, images_u8: torch.Tensor, L: int):
        self.vae, self.images, self.n = vae, images_u8, len(images_u8)
        self.idx = torch.zeros(2 * self.n, L, dtype=torch.long, device=images_u8.device)
        self.done = torch.zeros(2 * self.n, dtype=torch.bool, device=images_u8.device)

    def get(self, which: torch.Tensor) -> torch.Tensor:
        """Tokens [B, L] of the given indices (device tensor)."""
        todo = which[~self.done[which]].unique()
        for flip in (False, True):
            sel = todo[(todo >= self.n) == flip]
            if len(sel):
                self.idx[sel] = tokens_of(self.vae, self.images[sel - self.n if flip else sel], flip)
                self.done[sel] = True
        return self.idx[which]


def per_scale(values_BL: torch.Tensor, begin_ends: List) -> List[float]:
    """Mean of a [B, L] tensor within each scale."""
    return [values_BL[:, bg:ed].float().mean().item() for bg, ed in begin_ends]


def make_optimizer(var: VAR, lr: float, wd: float) -> torch.optim.Optimizer:
    """AdamW (betas 0.9, 0.95 as official); weight decay only on matrices, not on embeddings, biases, scales."""
    decay, no_decay = [], []
    for name, p in var.named_parameters():
        big = p.ndim == 2 and not any(s in name for s in ('class_emb', 'lvl_embed', 'pos_'))
        (decay if big else no_decay).append(p)
    return adamw(
        [{'params': decay, 'weight_decay': wd}, {'params': no_decay, 'weight_decay': 0.0}], lr=lr, betas=(0.9, 0.95)
    )


def var_step_loss(var: VAR, vae: VQVAE, idx_BL: torch.Tensor, label_B: torch.Tensor, amp: bool = False):
    """Teacher-forced CE over all L tokens (official uniform 1/L weights) -> (loss, acc [B, L] bool)."""
    x_in = var_input_of(vae, idx_BL, var.begin_ends)
    with autocast(idx_BL.device, amp):
        logits = var(label_B, x_in)  # [B, L, V]
    logits = logits.float()
    loss = F.cross_entropy(logits.reshape(-1, var.V), idx_BL.reshape(-1))
    return loss, logits.argmax(-1) == idx_BL


def train_var(args) -> dict:
    """Train (or resume) and return a summary dict; writes the files named in the module doc."""
    dev = pick_device(args.device, args.threads)
    seed_all(args.seed)
    os.makedirs(args.out, exist_ok=True)
    budget = StepBudget(args.steps, args.minutes)  # the clock starts before tokenising the data
    data = EmojiData(args.data, dev)
    vae = load_vae(args.vae, dict(DEFAULT_VAR, **overrides_from(args))['patch_nums']).to(dev)
    var = (
        build_var_model(vae.quantize.Cvae, vae.quantize.vocab_size, len(data.classes), overrides_from(args))
        .to(dev)
        .train()
    )
    # every training image and its mirror image, tokenised when first drawn: index i >= N is image i - N mirrored
    tokens = TokenCache(vae, data.train_images, var.L)
    if dev.type == 'cuda':  # seconds on a GPU; keeps the step-time probe of --minutes free of tokenising
        t0 = time.time()
        tokens.get(torch.arange(2 * tokens.n, device=dev))
        print(f'[var] tokenised {2 * tokens.n} images in {time.time() - t0:.1f}s', flush=True)
    labels_all = torch.cat([data.train_labels, data.train_labels])
    opt = make_optimizer(var, args.var_lr, args.var_wd)
    sampler = BatchSampler(len(labels_all), args.var_batch_size, args.seed)
    drop_gen = torch.Generator().manual_seed(args.seed + 2)
    step, early_saved = 0, False
    state_path = os.path.join(args.out, 'train_state.pt')
    if args.resume and os.path.exists(state_path):
        st = load_train_state(state_path)
        var.load_state_dict(st['model'])
        opt.load_state_dict(st['opt'])
        sampler.load_state_dict(st['sampler'])
        drop_gen.set_state(st['drop_gen'])
        set_rng_state(st['rng'])
        step, early_saved = st['step'], st['early_saved']
        if args.steps is None:  # a --minutes run keeps the step count its probe fixed
            budget.total = st['total']
        print(f'[var] resumed at step {step}')
    log = CsvLog(os.path.join(args.out, 'log.csv'), resume=args.resume)
    amp = args.amp and dev.type == 'cuda'
    t0, parts = time.time(), {}

    def save(name: str = 'var.pth', with_state: bool = True):
        atomic_save(var.state_dict(), os.path.join(args.out, name))
        save_json(os.path.join(args.out, os.path.splitext(name)[0] + '.json'), var_config(args, data, vae, step))
        if with_state:
            atomic_save(
                {
                    'model': var.state_dict(),
                    'opt': opt.state_dict(),
                    'sampler': sampler.state_dict(),
                    'drop_gen': drop_gen.get_state(),
                    'rng': rng_state(),
                    'step': step,
                    'early_saved': early_saved,
                    'total': budget.total,
                },
                state_path,
            )

    while not budget.done(step) and step != args.stop_at:
        for g in opt.param_groups:
            g['lr'] = lr_at(step, budget.provisional(), args.var_lr, args.var_warmup)
        idx, _ = sampler.next()  # mirror images are indices >= N (TokenCache), so the flip draw goes unused
        idx = idx.to(dev)
        label = labels_all[idx]
        drop = (torch.rand(len(idx), generator=drop_gen) < args.cond_drop).to(dev)
        label = torch.where(drop, torch.full_like(label, var.num_classes), label)  # null class for CFG
        loss, correct = var_step_loss(var, vae, tokens.get(idx), label, amp)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(var.parameters(), args.var_clip if args.var_clip > 0 else 1e9)
        opt.step()
        step += 1
        budget.after_step(step)
        if not early_saved and budget.total is not None and step >= max(1, round(args.early_frac * budget.total)):
            save('var_early.pth', with_state=False)
            early_saved = True
        if step % args.log_every == 0 or step == 1 or budget.done(step):
            acc = per_scale(correct, var.begin_ends)
            parts = {
                'loss': loss.item(),
                'acc': correct.float().mean().item(),
                'acc_last': acc[-1],
                'acc_first3': sum(acc[:3]) / 3,
                'gnorm': float(gnorm),
            }
            row = {
                'step': step,
                'total': budget.total or -1,
                'lr': opt.param_groups[0]['lr'],
                **parts,
                'sec': round(time.time() - t0, 2),
            }
            log.write(row)
            print(
                '[var] ' + ' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in row.items()),
                flush=True,
            )
        if step % args.ckpt_every == 0:
            save()
    save()
    if not early_saved:  # a run shorter than the probe: the early checkpoint is the final one
        save('var_early.pth', with_state=False)
    return {
        'steps': step,
        'seconds': round(time.time() - t0, 1),
        'last': parts,
        'var': os.path.join(args.out, 'var.pth'),
        'var_early': os.path.join(args.out, 'var_early.pth'),
    }


def var_config(args, data: EmojiData, vae: VQVAE, step: int) -> dict:
    """What var.json records: constructor arguments, classes, the VAE it was trained on, training settings."""
    return {
        'kind': 'varscope-var',
        'kwargs': dict(
            DEFAULT_VAR,
            **overrides_from(args),
            Cvae=vae.quantize.Cvae,
            vocab_size=vae.quantize.vocab_size,
            num_classes=len(data.classes),
        ),
        'classes': data.classes,
        'vae': {'file': os.path.basename(args.vae), 'sha256': sha256_of(args.vae)},
        'step': step,
        'data': {'file': os.path.basename(data.path), 'split_sha256': data.meta['split_sha256']},
        'training': {
            'batch_size': args.var_batch_size,
            'lr': args.var_lr,
            'wd': args.var_wd,
            'warmup': args.var_warmup,
            'cond_drop': args.cond_drop,
            'seed': args.seed,
            'early_frac': args.early_frac,
        },
    }


def overrides_from(args) -> dict:
    """Model-size flags and --arch entries that differ from the defaults."""
    out = dict(getattr(args, 'arch', {}).get('var', {}))
    if args.depth:
        out['depth'] = args.depth
    if args.width:
        out['embed_dim'] = args.width
    if args.heads:
        out['num_heads'] = args.heads
    return out


def add_args(ap: argparse.ArgumentParser) -> None:
    """The VAR trainer's flags (shared with train_all)."""
    ap.add_argument('--var-batch-size', type=int, default=64)
    ap.add_argument('--var-lr', type=float, default=6e-4)
    ap.add_argument('--var-wd', type=float, default=0.05)
    ap.add_argument('--var-warmup', type=int, default=200)
    ap.add_argument('--var-clip', type=float, default=2.0)
    ap.add_argument('--cond-drop', type=float, default=0.1, help='class dropout for CFG (official 0.1)')
    ap.add_argument('--early-frac', type=float, default=0.1, help='save var_early.pth at this fraction of steps')
    ap.add_argument('--depth', type=int, default=0)
    ap.add_argument('--width', type=int, default=0)
    ap.add_argument('--heads', type=int, default=0)


def parse_args(argv=None):
    """CLI of train_var."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(ap)
    ap.add_argument('--vae', required=True, help='vae.pth written by train_vae')
    add_args(ap)
    return ap.parse_args(argv)


if __name__ == '__main__':
    print(train_var(parse_args()))
