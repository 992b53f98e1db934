"""A stand-in for the official VAR trainer, for watch-mode tests: it rewrites RUN_DIR/ar-ckpt-last.pth in place every
few seconds with the official trainer's layout ({'epoch', 'iter', 'trainer': {'config', 'var_wo_ddp', 'vae_local',
'var_opt'}, 'args'}), as train.py does with torch.save (not atomic: the file is truncated, then written), and copies it
to ar-ckpt-best.pth when the epoch is "best". The transformer's weights move a little each epoch (seeded), so each
version evaluates differently; the VQ-VAE stays.

    /usr/bin/python3 test/integration/simulated_trainer.py --vae VAE.pth --var VAR.pth --out RUN_DIR \
        [--epochs 3] [--every 3] [--kill-at 2] [--best 1,3]
    /usr/bin/python3 test/integration/simulated_trainer.py --vae VAE.pth --var A.pth,B.pth,C.pth --epochs-of 1,5,20 \
        --out RUN_DIR

--epochs-of replays a real run: the k-th epoch listed saves the k-th --var file's state_dict as it is (no moves).

--kill-at E: the write of epoch E stops halfway (the process dies with half a file on disk, as a trainer killed while
saving leaves it); the trainer then "resumes" and writes epoch E again, whole, --every seconds later.
"""
import argparse
import io
import os
import shutil
import sys
import time

import torch

# official-var-A's pyramid (the fixture these tests train from)
PATCH_NUMS = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)


def moved(var: dict, epoch: int) -> dict:
    """A training step's worth of change: the matrices move a little (seeded by the epoch), norms and scales stay."""
    g = torch.Generator().manual_seed(epoch)
    return {
        k: (v + 2e-3 * torch.randn(v.shape, generator=g)) if v.is_floating_point() and v.dim() == 2 else v
        for k, v in var.items()
    }


def depth_of(var: dict) -> int:
    return 1 + max(int(k.split('.')[1]) for k in var if k.startswith('blocks.'))


def checkpoint_bytes(epoch: int, vae: dict, var: dict) -> bytes:
    first = next(k for k, v in var.items() if v.is_floating_point())
    state = {
        'epoch': epoch,
        'iter': 0,
        'trainer': {
            'config': {
                'patch_nums': PATCH_NUMS,
                'resos': tuple(16 * p for p in PATCH_NUMS),
                'label_smooth': 0.0,
                'prog_it': 0,
            },
            'var_wo_ddp': var,
            'vae_local': vae,
            'var_opt': {
                'optimizer': {
                    'state': {0: {'step': torch.tensor(float(epoch)), 'exp_avg': torch.zeros_like(var[first])}},
                    'param_groups': [{'lr': 1e-4, 'betas': (0.9, 0.95), 'params': [0]}],
                }
            },
        },
        'args': {
            'depth': depth_of(var),
            'patch_size': 16,
            'pn': '1_2_3_4_5_6_8_10_13_16',
            'ep': 250,
            'tblr': 1e-4,
            'cfg': 1.5,
            'top_k': 900,
            'top_p': 0.96,
            'vL_mean': 1.0 / epoch,
        },
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def write_in_place(path: str, data: bytes, stop_at: int = -1) -> None:
    """torch.save's way: truncate, then write in pieces; stop_at >= 0 leaves only that many bytes (a killed save)."""
    with open(path, 'wb') as f:
        end = len(data) if stop_at < 0 else stop_at
        for i in range(0, end, 1 << 16):
            f.write(data[i : min(i + (1 << 16), end)])
            f.flush()


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument('--vae', required=True)
    p.add_argument('--var', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--epochs-of', default='', help='replay: the epoch each --var file is saved as')
    p.add_argument('--every', type=float, default=3.0)
    p.add_argument('--kill-at', type=int, default=0)
    p.add_argument('--best', default='1')
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    vae = torch.load(a.vae, map_location='cpu')
    files = a.var.split(',')
    if a.epochs_of:
        epochs = [int(e) for e in a.epochs_of.split(',')]
        if len(epochs) != len(files):
            p.error(f'--epochs-of gives {len(epochs)} epochs for {len(files)} --var files')
        versions = [(e, torch.load(f, map_location='cpu')) for e, f in zip(epochs, files)]
    else:
        var = torch.load(a.var, map_location='cpu')
        versions = [(e, moved(var, e)) for e in range(1, a.epochs + 1)]
    os.makedirs(a.out, exist_ok=True)
    last = os.path.join(a.out, 'ar-ckpt-last.pth')
    best = {int(e) for e in a.best.split(',') if e}
    for i, (epoch, var) in enumerate(versions):
        data = checkpoint_bytes(epoch, vae, var)
        if epoch == a.kill_at:
            write_in_place(last, data, stop_at=len(data) // 2)
            print(f'epoch {epoch}: killed halfway through saving', flush=True)
            time.sleep(a.every)
        write_in_place(last, data)
        if epoch in best:
            shutil.copy(last, os.path.join(a.out, 'ar-ckpt-best.pth'))
        print(f'epoch {epoch}: saved {len(data)} bytes', flush=True)
        if i + 1 < len(versions):
            time.sleep(a.every)
    return 0


if __name__ == '__main__':
    sys.exit(main())
