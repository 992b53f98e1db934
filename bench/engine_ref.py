"""PyTorch reference timings for bench/engine.ts, on the same checkpoints as the bundle it benchmarks.

/usr/bin/python3 bench/engine_ref.py --vae VAE.pth --var VAR.pth --image IMG [--repeats 5] [--threads 2] [--device cuda]
Prints one JSON object: median / all wall times in ms (after one warm-up) of the same work the engine does:
open_image (load + preprocess + encode + quantize + decode every scale, B=1 per scale), teacher_forced (B=1),
generate (KV-cached CFG loop with the given sampling, official defaults unless told, with the final decode)."""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))
from varscope.bundle.checkpoint import load_models  # noqa: E402
from varscope.model.preprocess import load_image_tensor  # noqa: E402


def sync():
    """Wait for queued CUDA work (a GPU run returns before it ends)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, repeats):
    """Median and all wall times (ms) of fn over `repeats` runs after one warm-up."""
    fn()
    sync()
    all_ms = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        all_ms.append(round((time.perf_counter() - t) * 1000, 2))
    return {'median': statistics.median(all_ms), 'all': all_ms}


@torch.no_grad()
def main():
    p = argparse.ArgumentParser()
    p.add_argument('--vae', required=True)
    p.add_argument('--var', required=True)
    p.add_argument('--image', required=True)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--cfg', type=float, default=4.0)
    p.add_argument('--top-k', type=int, default=900)
    p.add_argument('--top-p', type=float, default=0.96)
    p.add_argument('--device', default='cpu', help='cpu or cuda (the GPU anchor of bench/gpu-check.sh)')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if dev.type != 'cpu' and hasattr(torch, 'set_default_device'):
        torch.set_default_device(dev)  # the reference makes its zeros / index tensors without a device (torch >= 2.0)
    m = load_models(a.vae, a.var)
    vae, var, q = m.vae.to(dev), m.var.to(dev), m.vae.quantize
    size = var.patch_nums[-1] * vae.downsample

    def open_image():
        x = load_image_tensor(a.image, size).to(dev)                           # [1, 3, S, S]
        res = q.quantize(vae.img_to_f(x))
        return [vae.fhat_to_img(fh) for fh in res.f_hat]                       # SN x [1, 3, S, S]

    res = q.quantize(vae.img_to_f(load_image_tensor(a.image, size).to(dev)))
    var_input = q.idxBl_to_var_input(res.idx_Bl)                               # [1, L-1, C]
    label = torch.tensor([0], device=dev)

    def generate():
        run = var.autoregressive_infer_cfg(vae, 1, label, g_seed=0, cfg=a.cfg, top_k=a.top_k, top_p=a.top_p)
        return vae.fhat_to_img(run.f_hat)

    out = {
        'torch': torch.__version__, 'threads': a.threads, 'repeats': a.repeats, 'device': str(dev),
        'gpu': torch.cuda.get_device_name(0) if dev.type == 'cuda' else None,
    }
    for name, fn in (('open_image', open_image), ('teacher_forced', lambda: var(label, var_input)), ('generate', generate)):
        try:
            out[name] = timed(fn, a.repeats)
        except RuntimeError as e:  # on a GPU: a part of the reference that does not run there is reported, not fatal
            if dev.type == 'cpu':
                raise
            out[name] = {'error': str(e).splitlines()[0]}
    print(json.dumps(out))


if __name__ == '__main__':
    main()
