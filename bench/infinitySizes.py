"""Infinity export at run_infinity's model sizes: a BSQ VAE of the released shape (32 bits, ch 128, ch_mult
1,2,4,4,4, 2 res blocks) and an Infinity of a --model_type preset with random weights (seeded), saved as the slim
release files are, exported with `python -m varscope.infinity.export` under a memory watchdog.

    /usr/bin/python3 bench/infinitySizes.py [--arch infinity_layer12,infinity_2b] [--pn 0.06M] [--ratios 1.0]
        [--work /tmp/varscope-infinity-sizes] [--limit-gb 16] [--threads 2] [--keep]

Per size it prints the parameters, the export time, the bundle's and weights.bin's bytes, the peak RSS of the
export's process tree and its ratio to the weights. --keep keeps the checkpoint (reused by a later run of the same
--arch and --work) and the bundle (<work>/<arch>/bundle-<pn>), to verify and open them. Not a test: numbers for this
machine."""
import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from releasedSizes import GB, ROOT, du, run_limited  # noqa: E402


def build(arch: str, out: str) -> int:
    """vae.pth and infinity.pth of random weights in out; returns the transformer's parameter count."""
    import torch

    sys.path.insert(0, os.path.join(ROOT, 'python'))
    from varscope.infinity.bsq_vae import BSQVAE, BSQVAEConfig
    from varscope.infinity.config import InfinityConfig
    from varscope.infinity.model import Infinity

    torch.manual_seed(0)
    vae = BSQVAE(BSQVAEConfig())
    torch.save({'vae': vae.state_dict()}, os.path.join(out, 'vae.pth'))
    del vae
    model = Infinity(InfinityConfig.preset(arch, 32))
    with torch.no_grad():
        for p in model.parameters():  # PyTorch's default init leaves the zero-initialised AdaLN / text tables trivial
            p.add_(torch.randn_like(p) * 0.02)
    torch.save(model.state_dict(), os.path.join(out, 'infinity.pth'))
    return sum(p.numel() for p in model.parameters())


def torch_load(path: str) -> dict:
    import torch

    return torch.load(path, map_location='cpu', mmap=True) if torch.__version__ >= '2' else torch.load(path, 'cpu')


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', default='infinity_layer12')
    p.add_argument('--pn', default='0.06M')
    p.add_argument('--ratios', default='1.0')
    p.add_argument('--work', default=os.path.join(tempfile.gettempdir(), 'varscope-infinity-sizes'))
    p.add_argument('--limit-gb', type=float, default=16.0)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--keep', action='store_true', help='keep the checkpoint and the bundle')
    args = p.parse_args()
    env = {**os.environ, 'PYTHONPATH': os.path.join(ROOT, 'python'), 'OMP_NUM_THREADS': str(args.threads)}
    for arch in args.arch.split(','):
        ckpt, bundle = os.path.join(args.work, arch, 'ckpt'), os.path.join(args.work, arch, f'bundle-{args.pn}')
        shutil.rmtree(bundle, ignore_errors=True)
        if args.keep and os.path.isfile(os.path.join(ckpt, 'infinity.pth')):
            params = sum(t.numel() for t in torch_load(os.path.join(ckpt, 'infinity.pth')).values())
        else:
            shutil.rmtree(ckpt, ignore_errors=True)
            os.makedirs(ckpt)
            params = build(arch, ckpt)
        cmd = [sys.executable, '-m', 'varscope.infinity.export', '--vae', os.path.join(ckpt, 'vae.pth')]
        cmd += ['--infinity', os.path.join(ckpt, 'infinity.pth'), '--out', bundle, '--arch', arch]
        cmd += ['--pn', args.pn, '--ratios', args.ratios]
        rc, seconds, peak, _, lines = run_limited(cmd, int(args.limit_gb * GB), lambda m: print(m, flush=True), env=env)
        if rc != 0:
            print(f'{arch}: export failed ({rc}) after {seconds:.0f} s, peak {peak / GB:.2f} GB: {lines[-1:]}')
            continue
        weights = os.path.getsize(os.path.join(bundle, 'weights.bin'))
        print(
            f'{arch} {args.pn} ratios {args.ratios}: {params / 1e6:.0f} M parameters, export {seconds:.0f} s, '
            f'bundle {du(bundle) / 1e9:.2f} GB, weights.bin {weights / 1e9:.2f} GB, peak RSS {peak / 1e9:.2f} GB '
            f'({peak / weights:.2f} x weights.bin)'
        )
        if not args.keep:
            shutil.rmtree(os.path.join(args.work, arch), ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
