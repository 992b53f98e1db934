"""Train the embedded default model end to end within one time budget: VQ-VAE, then VAR on its tokens, then the
held-out evaluation.

    PYTHONPATH=python python3 -m varscope.train_all --data out/data/emoji64.npz --out runs/default --minutes 7 \
        --device cuda

Writes <out>/vae/{vae.pth,vae.json,log.csv}, <out>/var/{var.pth,var_early.pth,var.json,var_early.json,log.csv},
<out>/eval/{metrics.json,recon.png,samples.png,samples_early.png} and <out>/summary.json. The *.pth files are plain
state_dicts in the official layout; the train_state.pt files beside them only serve --resume."""
import argparse
import copy
import json
import os
import time

from . import train_eval, train_var, train_vae
from .train_common import add_run_args, pick_device, save_json


def parse_args(argv=None) -> argparse.Namespace:
    """One namespace with every stage's flags (they have distinct names) plus the budget split."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(ap)
    ap.add_argument('--vae-steps', type=int, default=None, help='fixed step counts instead of --minutes')
    ap.add_argument('--var-steps', type=int, default=None)
    ap.add_argument('--vae-share', type=float, default=0.4, help='fraction of the training time for the VAE')
    ap.add_argument('--eval-minutes', type=float, default=0.7, help='time kept back for the evaluation')
    train_vae.add_args(ap)
    train_var.add_args(ap)
    train_eval.add_args(ap)
    return ap.parse_args(argv)


def stage(args: argparse.Namespace, **changes) -> argparse.Namespace:
    """A copy of the namespace for one stage."""
    ns = copy.copy(args)
    for k, v in changes.items():
        setattr(ns, k, v)
    return ns


def main(argv=None) -> dict:
    """Run the three stages; return and write <out>/summary.json."""
    args = parse_args(argv)
    if args.minutes is None and (args.vae_steps is None or args.var_steps is None):
        raise SystemExit('give --minutes, or both --vae-steps and --var-steps')
    t0 = time.time()
    dev = str(pick_device(args.device, args.threads))
    os.makedirs(args.out, exist_ok=True)
    train_minutes = None if args.minutes is None else max(0.2, args.minutes - args.eval_minutes)
    vae_dir, var_dir, eval_dir = (os.path.join(args.out, d) for d in ('vae', 'var', 'eval'))

    vae_sum = train_vae.train_vae(
        stage(
            args,
            out=vae_dir,
            device=dev,
            steps=args.vae_steps,
            minutes=None if train_minutes is None else train_minutes * args.vae_share,
        )
    )
    var_sum = train_var.train_var(
        stage(
            args,
            out=var_dir,
            device=dev,
            vae=vae_sum['vae'],
            steps=args.var_steps,
            minutes=None if train_minutes is None else max(0.1, train_minutes - (time.time() - t0) / 60),
        )
    )
    metrics = train_eval.evaluate(
        stage(args, out=eval_dir, device=dev, vae=vae_sum['vae'], var=var_sum['var'], var_early=var_sum['var_early'])
    )

    summary = {
        'minutes': round((time.time() - t0) / 60, 2),
        'device': dev,
        'vae': vae_sum,
        'var': var_sum,
        'metrics': {
            'psnr': metrics['vae']['psnr'],
            'codebook_usage_percent': metrics['vae']['codebook_usage_percent'],
            'token_accuracy': metrics['var']['token_accuracy'],
            'token_accuracy_early': metrics['var_early']['token_accuracy'],
        },
    }
    save_json(os.path.join(args.out, 'summary.json'), summary)
    print(json.dumps(summary, indent=1, default=str))
    return summary


if __name__ == '__main__':
    main()
