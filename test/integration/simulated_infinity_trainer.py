"""A stand-in for the official Infinity trainer, for timeline and watch-mode tests: it saves the checkpoints of one
training run as the official CKPTSaver does (infinity/utils/save_and_load.py): one new file per save, named
ar-ckpt-giter<g_it // 1000 as 3 digits>K-ep<epoch>-iter<iter>-last.pth, holding {'args', 'gpt_training', 'arch',
'epoch', 'iter', 'trainer': {'config', 'gpt_fsdp', 'vae_local'}, 'acc_str', 'milestones'}, where g_it = epoch *
iters_train + iter and args['cur_it'] is "it/iters_train" as train.py sets it. The transformer's matrices move a little
at each save (seeded by g_it), so each checkpoint evaluates differently; the BSQ VAE stays.

    /usr/bin/python3 test/integration/simulated_infinity_trainer.py --vae VAE.pth --infinity INFINITY.pth \
        --out RUN_DIR --at 0:500,0:1000,1:200 [--iters-per-epoch 1000] [--args '{"use_bit_label": 1}']

--at lists the saves as EPOCH:ITER (the official trainer's next_ep and next_it); --args are the architecture flags the
trainer's args carry (those of the fixture the checkpoints come from).
"""
import argparse
import json
import os
import sys

import torch


def moved(sd: dict, seed: int) -> dict:
    """A training step's worth of change: the matrices move (seeded), vectors (norms, biases, embeddings) stay."""
    g = torch.Generator().manual_seed(seed)
    return {
        k: (v + 2e-2 * torch.randn(v.shape, generator=g)) if v.is_floating_point() and v.dim() == 2 else v
        for k, v in sd.items()
    }


def file_name(g_it: int, epoch: int, it: int) -> str:
    """The official CKPTSaver's name of a transformer checkpoint."""
    return f'ar-ckpt-giter{g_it // 1000:03d}K-ep{epoch}-iter{it}-last.pth'


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument('--vae', required=True, help='the official BSQ VAE checkpoint ({"vae": state_dict})')
    p.add_argument('--infinity', required=True, help='a slim Infinity checkpoint (a plain state_dict)')
    p.add_argument('--out', required=True)
    p.add_argument('--at', required=True, help='EPOCH:ITER of each save, comma-separated')
    p.add_argument('--iters-per-epoch', type=int, default=1000)
    p.add_argument('--args', default='{}', help="JSON: the architecture flags of the trainer's args")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    vae = torch.load(a.vae, map_location='cpu')['vae']
    slim = torch.load(a.infinity, map_location='cpu')
    os.makedirs(a.out, exist_ok=True)
    for at in a.at.split(','):
        epoch, it = (int(x) for x in at.split(':'))
        g_it = epoch * a.iters_per_epoch + it
        args = {**json.loads(a.args), 'cur_it': f'{it}/{a.iters_per_epoch}', 'ep': 10, 'model': 'layer12'}
        state = {
            'args': args,
            'gpt_training': True,
            'arch': args['model'],
            'epoch': epoch,
            'iter': it,
            'trainer': {'config': {}, 'gpt_fsdp': moved(slim, g_it), 'vae_local': vae},
            'acc_str': '[todo]',
            'milestones': None,
        }
        path = os.path.join(a.out, file_name(g_it, epoch, it))
        torch.save(state, path)
        print(path, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
