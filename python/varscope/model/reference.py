"""Command line: run the PyTorch reference on one image, save every intermediate as .npy, and time each stage.

PYTHONPATH=python python3 -m varscope.reference --vae VAE.pth --var VAR.pth --image IMG --out DIR
    [--class 3] [--cfg 4] [--top-k 900] [--top-p 0.96] [--seed 0] [--repeats 3] [--threads 2]
Writes tokens [1,L], fhat [SN,C,h,w], var_input, quant_dist [L,2], logits [1,L,V], decoded [SN,3,H,W],
gen_tokens [1,L], gen_logits [1,L,V] (CFG-combined), gen_image [1,3,H,W] in [0,1], and timings.json (median ms)."""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

from ..atomic import atomic_path, write_atomic
from ..bundle.checkpoint import CheckpointError, load_models
from .preprocess import load_image_tensor


def median_ms(fn, repeats: int):
    """(last result, median wall time in ms over `repeats` runs, after one warm-up when repeats > 1)."""
    out = fn() if repeats > 1 else None
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1000)
    return out, round(statistics.median(times), 2)


def parse_args(argv):
    """The command line options."""
    p = argparse.ArgumentParser(prog='varscope.reference', description='PyTorch reference outputs and timings.')
    p.add_argument('--vae', required=True)
    p.add_argument('--var', required=True)
    p.add_argument('--image', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--class', dest='class_label', type=int, default=0)
    p.add_argument('--cfg', type=float, default=4.0)
    p.add_argument('--top-k', type=int, default=900)
    p.add_argument('--top-p', type=float, default=0.96)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--background', default='255,255,255')
    return p.parse_args(argv)


@torch.no_grad()
def run(argv) -> int:
    """Reference pass over one image plus one seeded generation; 0 on success."""
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    m = load_models(a.vae, a.var)
    vae, var, q = m.vae, m.var, m.vae.quantize
    size = var.patch_nums[-1] * vae.downsample
    x = load_image_tensor(a.image, size, [int(v) for v in a.background.split(',')])
    label = torch.tensor([a.class_label])
    res, t_tok = median_ms(lambda: q.quantize(vae.img_to_f(x)), a.repeats)
    var_input = q.idxBl_to_var_input(res.idx_Bl)
    fhat = torch.cat(res.f_hat, 0)
    logits, t_tf = median_ms(lambda: var(label, var_input), a.repeats)
    decoded, t_dec = median_ms(lambda: vae.fhat_to_img(fhat), a.repeats)
    gen = lambda: var.autoregressive_infer_cfg(vae, 1, label, g_seed=a.seed, cfg=a.cfg, top_k=a.top_k, top_p=a.top_p)
    run_, t_gen = median_ms(gen, a.repeats)
    image, t_gen_dec = median_ms(lambda: vae.fhat_to_img(run_.f_hat).add(1).mul(0.5), a.repeats)
    os.makedirs(a.out, exist_ok=True)
    arrays = {
        'tokens': torch.cat(res.idx_Bl, 1),
        'fhat': fhat,
        'var_input': var_input,
        'logits': logits,
        'quant_dist': torch.cat([d[0] for d in res.dist2], 0),
        'decoded': decoded,
        'gen_tokens': torch.cat(run_.idx_Bl, 1),
        'gen_logits': torch.cat(run_.logits, 1),
        'gen_image': image,
    }
    for name, t in arrays.items():
        with atomic_path(os.path.join(a.out, f'{name}.npy')) as tmp, open(tmp, 'wb') as f:
            np.save(f, t.numpy())
    timings = {
        'torch': torch.__version__,
        'threads': a.threads,
        'repeats': a.repeats,
        'stat': 'median ms (1 warm-up when repeats > 1)',
        'encode_quantize': t_tok,
        'teacher_forced_B1': t_tf,
        'decode_all_scales_batched': t_dec,
        'generate_kv_cfg_B1_without_decode': t_gen,
        'decode_final_B1': t_gen_dec,
    }
    write_atomic(os.path.join(a.out, 'timings.json'), json.dumps(timings, indent=1))
    print(json.dumps(timings))
    return 0


def main(argv=None) -> int:
    """Entry point: 0 on success, 2 for unusable checkpoints."""
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except CheckpointError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
