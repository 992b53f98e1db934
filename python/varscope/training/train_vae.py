"""Train the multi-scale VQ-VAE on the emoji set: L1 + L2 + image-gradient L1 reconstruction, the official VQ loss
(commitment beta 0.25, straight-through), dead-code restart; seeded, resumable, step or wall-clock budget.

    PYTHONPATH=python /usr/bin/python3 -m varscope.train_vae --data out/data/emoji64.npz --out runs/vae --minutes 3

Writes <out>/vae.pth (vae.state_dict(), official key layout, ema_vocab_hit_SV included), <out>/vae.json (config,
data, steps), <out>/log.csv, and <out>/train_state.pt (optimizer + samplers + RNG, for --resume)."""
import argparse
import os
import time

import torch
import torch.nn.functional as F

from .train_common import (
    DEFAULT_VAE,
    BatchSampler,
    CsvLog,
    EmojiData,
    StepBudget,
    adamw,
    add_run_args,
    atomic_save,
    autocast,
    hflip_where,
    load_train_state,
    lr_at,
    pick_device,
    rng_state,
    save_json,
    seed_all,
    set_rng_state,
    to_input,
)
from .train_quant import quantize_train, restart_dead_codes, update_ema_hits, usage_percent
from ..model.vqvae import VQVAE
from ..bundle.checkpoint import canonical_vae_keys, extract, load_strict, torch_load
from ..hashing import sha256_of


def build_vae_model(overrides: dict = None) -> VQVAE:
    """The default VQVAE (train_common.DEFAULT_VAE) with optional overrides."""
    return VQVAE(**dict(DEFAULT_VAE, **(overrides or {})))


def grad_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """L1 between horizontal and vertical finite differences: cheap, rewards sharp edges."""
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]
    return F.l1_loss(dx(a), dx(b)) + F.l1_loss(dy(a), dy(b))


def vae_step_loss(vae: VQVAE, x: torch.Tensor, args, amp: bool = False):
    """Forward one batch x [B, 3, H, W] -> (total loss, dict of parts, quantizer output)."""
    dev = x.device
    with autocast(dev, amp):
        f = vae.quant_conv(vae.encoder(x))  # [B, Cvae, h, w]
    qo = quantize_train(vae.quantize, f.float(), beta=args.beta)  # fp32, as the official quantizer
    with autocast(dev, amp):
        xr = vae.decoder(vae.post_quant_conv(qo.f_hat))  # [B, 3, H, W]
    xr = xr.float()
    l1, l2, g = F.l1_loss(xr, x), F.mse_loss(xr, x), grad_l1(xr, x)
    total = l1 + args.l2_weight * l2 + args.grad_weight * g + qo.vq_loss
    with torch.no_grad():
        mse01 = (xr.clamp(-1, 1) - x).square().mean(dim=(1, 2, 3)) / 4  # in [0, 1] pixel units
        psnr = (10 * torch.log10(1 / mse01.clamp_min(1e-10))).mean()
    # detached tensors: read back (a host sync) only when a row is logged
    parts = {
        'loss': total.detach(),
        'l1': l1.detach(),
        'mse': l2.detach(),
        'grad': g.detach(),
        'vq': qo.vq_loss.detach(),
        'psnr': psnr,
    }
    return total, parts, qo


def make_optimizer(vae: VQVAE, lr: float, wd: float) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases, norms and the codebook."""
    decay, no_decay = [], []
    for name, p in vae.named_parameters():
        if p.requires_grad:
            (decay if p.ndim == 4 else no_decay).append(p)
    return adamw(
        [{'params': decay, 'weight_decay': wd}, {'params': no_decay, 'weight_decay': 0.0}], lr=lr, betas=(0.9, 0.99)
    )


def vae_config(args, data: EmojiData, steps: int) -> dict:
    """What vae.json records: constructor arguments, data, training settings."""
    kw = dict(DEFAULT_VAE, **overrides_from(args))
    return {
        'kind': 'varscope-vqvae',
        'kwargs': kw,
        'image_size': data.image_size,
        'classes': data.classes,
        'normalization': {'mean': 0.5, 'std': 0.5, 'background': data.meta['background']},
        'data': {
            'file': os.path.basename(data.path),
            'split_sha256': data.meta['split_sha256'],
            'train': int(len(data.train_labels)),
            'held_out': int(len(data.held_labels)),
        },
        'training': {
            'steps': steps,
            'batch_size': args.vae_batch_size,
            'lr': args.vae_lr,
            'seed': args.seed,
            'beta': args.beta,
            'l2_weight': args.l2_weight,
            'grad_weight': args.grad_weight,
            'restart_every': args.restart_every,
            'restart_until': args.restart_until,
            'only': args.only,
            'init': args.init and {'file': os.path.basename(args.init), 'sha256': sha256_of(args.init)},
        },
    }


def overrides_from(args) -> dict:
    """Model-size flags and --arch entries that differ from the defaults."""
    out = dict(getattr(args, 'arch', {}).get('vae', {}))
    if args.vocab_size:
        out['vocab_size'] = args.vocab_size
    if args.cvae:
        out['z_channels'] = args.cvae
    if args.ch:
        out['ch'] = args.ch
    return out


def train_vae(args) -> dict:
    """Train (or resume) and return a summary dict; writes the files named in the module doc."""
    dev = pick_device(args.device, args.threads)
    seed_all(args.seed)
    os.makedirs(args.out, exist_ok=True)
    data = EmojiData(args.data, dev)
    vae = build_vae_model(overrides_from(args)).to(dev).train()
    if args.init and not (args.resume and os.path.exists(os.path.join(args.out, 'train_state.pt'))):
        # fine-tune: the codebook is kept; strict, so --init must have this run's architecture (--arch)
        load_strict(vae, canonical_vae_keys(extract(torch_load(args.init), 'vae', args.init)), args.init)
    only = tuple(o for o in args.only.split(',') if o)
    if only:  # e.g. decoder,post_quant_conv: the tokens of every image stay exactly those of --init
        for name, p in vae.named_parameters():
            p.requires_grad_(any(name.startswith(o) for o in only))
    codebook_trained = vae.quantize.embedding.weight.requires_grad
    opt = make_optimizer(vae, args.vae_lr, args.vae_wd)
    sampler = BatchSampler(len(data.train_labels), args.vae_batch_size, args.seed)
    restart_gen = torch.Generator().manual_seed(args.seed + 1)
    budget = StepBudget(args.steps, args.minutes)
    step, record_hit, restarts = 0, 0, 0
    window_hits = torch.zeros(vae.quantize.vocab_size, device=dev)
    state_path = os.path.join(args.out, 'train_state.pt')
    if args.resume and os.path.exists(state_path):
        st = load_train_state(state_path)
        vae.load_state_dict(st['model'])
        opt.load_state_dict(st['opt'])
        sampler.load_state_dict(st['sampler'])
        restart_gen.set_state(st['restart_gen'])
        set_rng_state(st['rng'])
        step, record_hit, restarts = st['step'], st['record_hit'], st['restarts']
        window_hits = st['window_hits'].to(dev)
        if args.steps is None:  # a --minutes run keeps the step count its probe fixed
            budget.total = st['total']
        print(f'[vae] resumed at step {step}')
    log = CsvLog(os.path.join(args.out, 'log.csv'), resume=args.resume)
    amp = args.amp and dev.type == 'cuda'
    t0, parts = time.time(), {}

    def save(final: bool = False):
        total = budget.total
        atomic_save(vae.state_dict(), os.path.join(args.out, 'vae.pth'))
        save_json(os.path.join(args.out, 'vae.json'), vae_config(args, data, step))
        if not final:
            atomic_save(
                {
                    'model': vae.state_dict(),
                    'opt': opt.state_dict(),
                    'sampler': sampler.state_dict(),
                    'restart_gen': restart_gen.get_state(),
                    'rng': rng_state(),
                    'step': step,
                    'record_hit': record_hit,
                    'restarts': restarts,
                    'window_hits': window_hits.cpu(),
                    'total': total,
                },
                state_path,
            )

    while not budget.done(step) and step != args.stop_at:
        total = budget.provisional()
        for g in opt.param_groups:
            g['lr'] = lr_at(step, total, args.vae_lr, args.vae_warmup)
        idx, flip = sampler.next()
        x = hflip_where(to_input(data.train_images[idx.to(dev)]), flip)
        loss, parts, qo = vae_step_loss(vae, x, args, amp)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.vae_clip > 0:
            torch.nn.utils.clip_grad_norm_(vae.parameters(), args.vae_clip)
        opt.step()
        record_hit = update_ema_hits(vae.quantize, qo.hits_SV, record_hit)
        window_hits += qo.hits_SV.sum(0)
        step += 1
        budget.after_step(step)
        restarted = 0
        # step 1 of a fresh VQ-VAE: every code starts from a data vector; later (and from --init), only codes
        # unused over the last window
        fresh_start = step == 1 and not args.init
        restart_due = step % args.restart_every == 0 and step <= args.restart_until * budget.provisional()
        if codebook_trained and (fresh_start or restart_due):
            if fresh_start:
                window_hits.zero_()
            usage = usage_percent(window_hits)
            restarted = restart_dead_codes(vae.quantize, window_hits, qo.rest_NC, restart_gen)
            restarts += restarted
            window_hits.zero_()
            parts['window_usage'] = usage
        if step % args.log_every == 0 or step == 1 or budget.done(step):
            parts = {k: float(v) for k, v in parts.items()}
            row = {
                'step': step,
                'total': budget.total or -1,
                'lr': opt.param_groups[0]['lr'],
                **parts,
                'restarted': restarted,
                'sec': round(time.time() - t0, 2),
            }
            log.write(row)
            print(
                '[vae] ' + ' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in row.items()),
                flush=True,
            )
        if step % args.ckpt_every == 0:
            save()
    save()
    save(final=True)
    return {
        'steps': step,
        'seconds': round(time.time() - t0, 1),
        'restarts': restarts,
        'last': {k: float(v) for k, v in parts.items()},
        'vae': os.path.join(args.out, 'vae.pth'),
    }


def add_args(ap: argparse.ArgumentParser) -> None:
    """The VAE trainer's flags (shared with train_all)."""
    ap.add_argument(
        '--init',
        default=None,
        help='vae.pth to fine-tune instead of training from scratch (its codebook is kept; only codes '
        'unused over a --restart-every window are restarted)',
    )
    ap.add_argument(
        '--only',
        default='',
        help='with --init: train only the parameters whose names start with one of these comma-separated '
        'parts (decoder,post_quant_conv: a sharper decoder, every token unchanged; no code restarts)',
    )
    ap.add_argument('--vae-batch-size', type=int, default=64)
    ap.add_argument('--vae-lr', type=float, default=4e-4)
    ap.add_argument('--vae-wd', type=float, default=0.0)
    ap.add_argument('--vae-warmup', type=int, default=100)
    ap.add_argument('--vae-clip', type=float, default=1.0)
    ap.add_argument('--beta', type=float, default=0.25, help='VQ commitment weight (official 0.25)')
    ap.add_argument('--l2-weight', type=float, default=1.0)
    ap.add_argument('--grad-weight', type=float, default=0.5, help='image-gradient L1 weight')
    ap.add_argument('--restart-every', type=int, default=100, help='dead-code restart window (steps)')
    ap.add_argument('--restart-until', type=float, default=0.85, help='no restarts after this fraction of steps')
    ap.add_argument('--vocab-size', type=int, default=0)
    ap.add_argument('--cvae', type=int, default=0)
    ap.add_argument('--ch', type=int, default=0)


def parse_args(argv=None):
    """CLI of train_vae."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(ap)
    add_args(ap)
    return ap.parse_args(argv)


if __name__ == '__main__':
    print(train_vae(parse_args()))
