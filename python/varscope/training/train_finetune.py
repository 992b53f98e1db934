"""Fine-tune a trained VAR transformer on new classes, on the CPU, in the background, resumable: the VQ-VAE stays
frozen, the class embedding table is rebuilt for the new classes (each new class starts from the old class its
emoji came from), and every teacher-forcing input is computed once before the first step.

    PYTHONPATH=python nice -n 10 /usr/bin/python3 -m varscope.train_finetune --data out/data/emoji64.npz \
        --vae runs/start/vae.pth --var runs/start/var.pth --old-bundle models/emoji64-d4 \
        --out runs/finetune --minutes 25 --only class_emb,ada_lin --prefix-scales 6 [--resume]

(the default model's exact command is in tools/export_default.sh)

Writes <out>/var.pth (latest), <out>/var_step<N>.pth at each --keep step (the shipped training run), <out>/var.json,
<out>/log.csv and <out>/train_state.pt (for --resume; saved every --ckpt-minutes). Stop it at any time: a resumed run
continues from the last state with the same batches. --bench N measures samples/s of the from-scratch trainer's
step (train_var: tokens cached, teacher input rebuilt every step) against this one's, interleaved, and exits."""
import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F

from .train_common import (
    CsvLog,
    EmojiData,
    atomic_save,
    load_train_state,
    lr_at,
    rng_state,
    save_json,
    seed_all,
    set_rng_state,
)
from .train_eval import load_var
from ..hashing import sha256_of
from .train_var import load_vae, make_optimizer, tokens_of, var_input_of
from ..model.var_model import VAR


@torch.no_grad()
def pyramids(vae, images_u8: torch.Tensor, begin_ends, flip: bool, batch: int = 64):
    """Token pyramids [N, L] and teacher-forcing inputs [N, L - 1, Cvae] of the images (then of their mirror images
    too, [2N, ...], with flip)."""
    idx = torch.cat([tokens_of(vae, images_u8, flip=f) for f in ((False, True) if flip else (False,))])
    x_in = torch.cat([var_input_of(vae, idx[i : i + batch], begin_ends) for i in range(0, len(idx), batch)])
    return idx, x_in


@torch.no_grad()
def with_new_classes(old: VAR, num_classes: int, init_from: list) -> VAR:
    """A copy of `old` whose class table has num_classes + 1 rows: row c is old row init_from[c] (or the mean of
    the old class rows where init_from[c] is None), the null class (CFG) keeps the old null row."""
    var = VAR(
        Cvae=old.Cvae,
        vocab_size=old.V,
        num_classes=num_classes,
        depth=old.depth,
        embed_dim=old.C,
        num_heads=old.num_heads,
        mlp_ratio=old.blocks[0].ffn.fc1.out_features / old.C,
        shared_aln=not isinstance(old.shared_ada_lin, torch.nn.Identity),
        attn_l2_norm=old.blocks[0].attn.attn_l2_norm,
        patch_nums=old.patch_nums,
    )
    sd = {k: v for k, v in old.state_dict().items() if k != 'class_emb.weight'}
    table = old.class_emb.weight
    rows = [table[: old.num_classes].mean(0) if src is None else table[src] for src in init_from]
    sd['class_emb.weight'] = torch.stack(rows + [table[old.num_classes]])
    var.load_state_dict(sd)
    return var


def class_init(data: EmojiData, old_classes: list) -> list:
    """For each new class, the index of the old class named like the emoji.json category of its images (or None)."""
    cats = data.meta.get('class_categories') or [None] * len(data.classes)
    return [old_classes.index(c) if c in old_classes else None for c in cats]


def balanced_weights(labels: torch.Tensor) -> torch.Tensor:
    """Sampling weight per item so that every class is drawn equally often."""
    counts = torch.bincount(labels).float()
    return 1.0 / counts[labels]


def prefix_logits(var: VAR, label_B: torch.Tensor, x_in: torch.Tensor, n: int) -> torch.Tensor:
    """Teacher-forced logits [B, n, V] of the first n tokens (whole scales), from the first n - 1 input rows only.

    Equal to var(label_B, x_in)[:, :n]: the block-causal mask lets no token see a finer scale, so the coarse scales
    can be trained without paying for the fine ones (16x16 alone is 256 of the 680 tokens and most of the
    attention's L x L cost)."""
    B = label_B.shape[0]
    cond_BD = var.class_emb(label_B)
    sos = cond_BD.unsqueeze(1).expand(B, var.first_l, -1) + var.pos_start.expand(B, var.first_l, -1)
    x = torch.cat((sos, var.word_embed(x_in[:, : n - var.first_l].float())), dim=1)
    x = x + var.lvl_embed(var.lvl_1L[:, :n].expand(B, -1)) + var.pos_1LC[:, :n]
    return var.run_blocks(x, cond_BD, var.attn_bias_for_masking[:, :, :n, :n])[0]


def step_loss(var: VAR, idx_BL: torch.Tensor, x_in: torch.Tensor, label_B: torch.Tensor, n: int = 0):
    """Teacher-forced cross-entropy over the first n tokens (all L when n is 0) -> (loss, correct [B, n] bool)."""
    if n and n < var.L:
        logits, idx_BL = prefix_logits(var, label_B, x_in, n), idx_BL[:, :n]
    else:
        logits = var(label_B, x_in)
    loss = F.cross_entropy(logits.reshape(-1, var.V), idx_BL.reshape(-1))
    return loss, logits.argmax(-1) == idx_BL


def timed_lr(args, step: int, spent: float, final_ratio: float = 0.01) -> float:
    """Linear warmup over --warmup steps, then cosine from --lr to final_ratio * --lr over the fraction of time
    spent."""
    cos = final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, spent)))
    return args.lr * min(1.0, (step + 1) / args.warmup) * cos


def parse_args(argv=None):
    """CLI of train_finetune."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', required=True, help='the .npz from varscope/training/prepare_data.py')
    ap.add_argument('--vae', required=True, help='vae.pth (e.g. from varscope.from_bundle)')
    ap.add_argument('--var', required=True, help='var.pth to start from')
    ap.add_argument('--old-bundle', default='', help="bundle whose varscope.json names --var's classes (class init)")
    ap.add_argument('--out', required=True)
    ap.add_argument('--steps', type=int, default=3000, help='total steps (the lr schedule spans them)')
    ap.add_argument(
        '--minutes',
        type=float,
        default=None,
        help='instead of --steps: train for this much step time (summed over resumes); the cosine '
        'schedule follows the time spent, so a machine shared with other jobs still ends on time',
    )
    ap.add_argument(
        '--keep-fractions',
        default='',
        help='with --minutes: keep var_step<N>.pth when these fractions of the time are spent',
    )
    ap.add_argument('--batch-size', type=int, default=32)
    ap.add_argument('--lr', type=float, default=3e-4)
    ap.add_argument('--wd', type=float, default=0.05)
    ap.add_argument('--warmup', type=int, default=50)
    ap.add_argument('--clip', type=float, default=2.0)
    ap.add_argument('--cond-drop', type=float, default=0.1, help='class dropout for CFG (official 0.1)')
    ap.add_argument(
        '--prefix-scales',
        type=int,
        default=0,
        help='train on the first N scales only in most steps (0: always all scales)',
    )
    ap.add_argument('--full-every', type=int, default=4, help='with --prefix-scales: every Nth step uses all scales')
    ap.add_argument(
        '--full-batch-size',
        type=int,
        default=0,
        help='with --prefix-scales: batch of the all-scales steps (default --batch-size)',
    )
    ap.add_argument(
        '--only',
        default='',
        help='train only the parameters whose names contain one of these comma-separated parts '
        '(class_emb,ada_lin: the class path, whose AdaLN layers see one vector per image); '
        'the rest stays frozen and its weight gradients are skipped',
    )
    ap.add_argument('--keep', default='', help='comma-separated steps whose weights are kept as var_step<N>.pth')
    ap.add_argument('--ckpt-minutes', type=float, default=3.0, help='resumable state at least this often')
    ap.add_argument('--log-every', type=int, default=10)
    ap.add_argument('--flip', action='store_true', help='train on the mirror images too (twice the precomputation)')
    ap.add_argument(
        '--threads',
        type=int,
        default=1,
        help='CPU threads; on a machine shared by many jobs 1 is much faster than 2 (measured: ~1.4 s '
        'against ~130 s per step, the second thread spins while the first waits for a core)',
    )
    ap.add_argument('--device', default='cpu', help='cpu, cuda, or auto (cuda when available): a GPU runs longer')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--resume', action='store_true', help='continue from <out>/train_state.pt')
    ap.add_argument('--stop-at', type=int, default=None, help='stop after this step as if interrupted')
    ap.add_argument('--bench', type=int, default=0, help='measure samples/s (N steps of each trainer) and exit')
    return ap.parse_args(argv)


def setup(args):
    """Data, frozen VAE, the new-class VAR, the precomputed pyramids and their labels."""
    torch.set_num_threads(args.threads)
    seed_all(args.seed)
    dev = torch.device(args.device if args.device != 'auto' else 'cuda' if torch.cuda.is_available() else 'cpu')
    data = EmojiData(args.data, torch.device('cpu'))
    old = load_var(args.var)
    vae = load_vae(args.vae, old.patch_nums).to(dev)
    old_classes = []
    if args.old_bundle:
        with open(os.path.join(args.old_bundle, 'varscope.json'), encoding='utf-8') as f:
            old_classes = json.load(f)['classes']
    if old.num_classes == len(data.classes) and not args.old_bundle:
        # a continued run (e.g. all weights after a class-path-only one): the class table is already this data's
        init = list(range(len(data.classes)))
        var = old.to(dev).train()
    else:
        init = class_init(data, old_classes)
        var = with_new_classes(old, len(data.classes), init).to(dev).train()
    cache = os.path.join(args.out, 'pyramids.pt')  # keyed by the data split and the VAE: reused on --resume
    key = {'split_sha256': data.meta['split_sha256'], 'vae_sha256': sha256_of(args.vae), 'flip': args.flip}
    saved = load_train_state(cache) if os.path.exists(cache) else {}
    if saved.get('key') == key:
        idx, x_in = saved['idx'], saved['x_in']
    else:
        t0 = time.time()
        idx, x_in = pyramids(vae, data.train_images.to(dev), var.begin_ends, args.flip)
        print(f'[finetune] {len(idx)} token pyramids in {time.time() - t0:.1f}s', flush=True)
        os.makedirs(args.out, exist_ok=True)
        atomic_save({'key': key, 'idx': idx.cpu(), 'x_in': x_in.cpu()}, cache)
    idx, x_in = idx.to(dev), x_in.to(dev)
    labels = torch.cat([data.train_labels] * (2 if args.flip else 1)).to(dev)
    return data, vae, var, idx, x_in, labels, init


def bench(args, vae, var, idx, x_in, labels) -> dict:
    """samples/s of train_var's step (teacher input rebuilt from the tokens every step, all scales, every weight
    trained) and of this trainer's steps as configured (precomputed input, --only; all scales at --full-batch-size,
    --prefix-scales at --batch-size), interleaved, N steps each, all at --batch-size but the all-scales one; medians
    and bests, and the rate of a run's mix of the two kinds of step."""
    opt = make_optimizer(var, args.lr, args.wd)
    gen = torch.Generator().manual_seed(0)
    only = tuple(p for p in args.only.split(',') if p)
    n_prefix = var.begin_ends[args.prefix_scales - 1][1] if args.prefix_scales else var.L
    kinds = (
        ('before', args.batch_size, 0),
        ('after_full', args.full_batch_size or args.batch_size, 0),
        ('after_prefix', args.batch_size, n_prefix),
    )
    times = {name: [] for name, _, _ in kinds}
    for _ in range(args.bench):
        for name, bs, n in kinds:
            pick = torch.randint(len(idx), (bs,), generator=gen).to(idx.device)
            for pname, p in var.named_parameters():
                p.requires_grad_(name == 'before' or not only or any(o in pname for o in only))
            t0 = time.perf_counter()
            x = var_input_of(vae, idx[pick], var.begin_ends) if name == 'before' else x_in[pick]
            loss, _ = step_loss(var, idx[pick], x, labels[pick], n)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            times[name].append(bs / (time.perf_counter() - t0))
    out = {k: {'median': statistics.median(v), 'best': max(v)} for k, v in times.items()}
    k = args.full_every if args.prefix_scales else 1
    bs_full, bs = kinds[1][1], kinds[2][1]
    for stat in ('median', 'best'):  # a run: (k - 1) prefix steps, then one all-scales step
        mixed = ((k - 1) * bs + bs_full) / (
            (k - 1) * bs / out['after_prefix'][stat] + bs_full / out['after_full'][stat]
        )
        out.setdefault('after_run', {})[stat] = mixed
        out[f'ratio_{stat}'] = mixed / out['before'][stat]
        out[f'ratio_{stat}_all_scales'] = out['after_full'][stat] / out['before'][stat]
    return out


def main(argv=None) -> dict:
    """Fine-tune (or resume, or bench) and return a summary."""
    args = parse_args(argv)
    data, vae, var, idx, x_in, labels, init = setup(args)
    if args.bench:
        res = bench(args, vae, var, idx, x_in, labels)
        print(json.dumps(res, indent=1))
        return res
    os.makedirs(args.out, exist_ok=True)
    only = tuple(p for p in args.only.split(',') if p)
    for name, p in var.named_parameters():  # frozen weights skip their gradients: a cheaper backward
        p.requires_grad_(not only or any(o in name for o in only))
    opt = make_optimizer(var, args.lr, args.wd)
    weights = balanced_weights(labels.cpu())
    gen = torch.Generator().manual_seed(args.seed + 1)
    keep = {int(s) for s in args.keep.split(',') if s}
    fractions = sorted(float(f) for f in args.keep_fractions.split(',') if f)
    budget = args.minutes * 60 if args.minutes else None
    step, seconds = 0, 0.0
    state_path = os.path.join(args.out, 'train_state.pt')
    if args.resume and os.path.exists(state_path):
        st = load_train_state(state_path)
        var.load_state_dict(st['model'])
        opt.load_state_dict(st['opt'])
        gen.set_state(st['gen'])
        set_rng_state(st['rng'])
        step, seconds = st['step'], st['seconds']
        print(f'[finetune] resumed at step {step}', flush=True)
        fractions = [f for f in fractions if not budget or f * budget > seconds]
    log = CsvLog(os.path.join(args.out, 'log.csv'), resume=args.resume)
    config = {
        'kind': 'varscope-var',
        'classes': data.classes,
        'class_init': init,
        'vae': {'file': os.path.basename(args.vae), 'sha256': sha256_of(args.vae)},
        'start': {'file': os.path.basename(args.var), 'sha256': sha256_of(args.var)},
        'data': {'file': os.path.basename(args.data), 'split_sha256': data.meta['split_sha256']},
        'training': {
            k: getattr(args, k)
            for k in (
                'steps',
                'minutes',
                'batch_size',
                'lr',
                'wd',
                'warmup',
                'clip',
                'cond_drop',
                'seed',
                'threads',
                'flip',
                'prefix_scales',
                'full_every',
                'full_batch_size',
                'only',
            )
        },
    }

    def save_state():
        atomic_save(
            {
                'model': var.state_dict(),
                'opt': opt.state_dict(),
                'gen': gen.get_state(),
                'rng': rng_state(),
                'step': step,
                'seconds': seconds,
            },
            state_path,
        )

    def save_weights(name):
        atomic_save(var.state_dict(), os.path.join(args.out, name))
        save_json(
            os.path.join(args.out, os.path.splitext(name)[0] + '.json'),
            dict(config, step=step, seconds=round(seconds, 1)),
        )

    if step == 0 and 0 in keep:
        save_weights('var_step0.pth')
    last_ckpt = time.time()

    def finished():
        return seconds >= budget if budget else step >= args.steps

    while not finished() and step != args.stop_at:
        t0 = time.time()
        for g in opt.param_groups:
            g['lr'] = (
                timed_lr(args, step, seconds / budget) if budget else lr_at(step, args.steps, args.lr, args.warmup)
            )
        pick = torch.multinomial(weights, args.batch_size, replacement=True, generator=gen).to(idx.device)
        label = labels[pick]
        drop = (torch.rand(len(pick), generator=gen) < args.cond_drop).to(idx.device)
        label = torch.where(drop, torch.full_like(label, var.num_classes), label)  # null class for CFG
        full = not args.prefix_scales or step % args.full_every == args.full_every - 1
        n = var.L if full else var.begin_ends[args.prefix_scales - 1][1]
        if full and args.prefix_scales and args.full_batch_size:  # an all-scales step costs ~6x a 7-scale one
            pick, label = pick[: args.full_batch_size], label[: args.full_batch_size]
        loss, correct = step_loss(var, idx[pick], x_in[pick], label, n)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_([p for p in var.parameters() if p.requires_grad], args.clip)
        opt.step()
        step += 1
        seconds += time.time() - t0
        if (full and (args.prefix_scales or step % args.log_every == 0 or step == 1)) or finished():
            last = correct[:, var.begin_ends[-1][0] :].float().mean().item() if full else float('nan')
            row = {
                'step': step,
                'lr': opt.param_groups[0]['lr'],
                'loss': loss.item(),
                'acc': correct.float().mean().item(),
                'acc_last': last,
                'gnorm': float(gnorm),
                'sec': round(seconds, 1),
                'samples_per_s': round(step * args.batch_size / max(seconds, 1e-9), 2),
            }
            log.write(row)
            print(
                '[finetune] '
                + ' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in row.items()),
                flush=True,
            )
        while fractions and budget and seconds >= fractions[0] * budget:
            keep.add(step)
            fractions.pop(0)
        if step in keep:
            save_weights(f'var_step{step}.pth')
        if time.time() - last_ckpt >= args.ckpt_minutes * 60 or finished():
            save_weights('var.pth')
            save_state()
            last_ckpt = time.time()
    save_weights('var.pth')
    save_state()
    return {'steps': step, 'seconds': round(seconds, 1), 'var': os.path.join(args.out, 'var.pth')}


if __name__ == '__main__':
    print(main())
