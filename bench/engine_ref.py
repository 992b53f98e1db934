"""PyTorch reference timings for bench/engine.ts, on the same checkpoints as the bundle it benchmarks.

/usr/bin/python3 bench/engine_ref.py (--vae VAE.pth --var VAR.pth | --index INDEX.json) --image IMG [--repeats 5]
    [--threads 2] [--device cuda] [--official VAR_REPO] [--serve]
--index: the checkpoints as an index into a bundle's weights.bin (varscope.from_bundle --index; bench/gpu-check.sh
ships them so), rebuilt bit for bit in memory.
Prints one JSON object: median / all wall times in ms (after one warm-up) of the same work the engine does:
open_image (load + preprocess + encode + quantize + decode every scale, B=1 per scale), teacher_forced (B=1),
generate (KV-cached CFG loop with the given sampling, official defaults unless told, with the final decode).
--official: run the official code (a copy of FoundationVision/VAR: its VQVAE, VAR.forward and
autoregressive_infer_cfg) instead of the python/varscope reference. --serve: warm up each measurement once, print
`ready`, then for every line read (open_image, teacher_forced or generate) run it once and print {"name", "ms"}, so
that bench/engine.ts can interleave the engine's runs with these."""
import argparse
import contextlib
import json
import os
import statistics
import sys
import time
import types

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))
from varscope.bundle.checkpoint import extract, models_from_state_dicts, torch_load  # noqa: E402
from varscope.bundle.weight_index import read_index  # noqa: E402
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


def state_dicts(a):
    """The VQ-VAE and VAR state_dicts: of the --vae / --var files, or rebuilt from the bundle's weights (--index)."""
    if a.index:
        sds = read_index(a.index)
        return sds['vae'], sds['var']
    return extract(torch_load(a.vae), 'vae', a.vae), extract(torch_load(a.var), 'var', a.var)


def ours(a, dev):
    """The three measurements on the python/varscope PyTorch reference."""
    m = models_from_state_dicts(*state_dicts(a), a.vae or a.index, a.var or a.index)
    vae, var, q = m.vae.to(dev), m.var.to(dev), m.vae.quantize
    size = var.patch_nums[-1] * vae.downsample

    def open_image():
        x = load_image_tensor(a.image, size).to(dev)  # [1, 3, S, S]
        res = q.quantize(vae.img_to_f(x))
        return [vae.fhat_to_img(fh) for fh in res.f_hat]  # SN x [1, 3, S, S]

    res = q.quantize(vae.img_to_f(load_image_tensor(a.image, size).to(dev)))
    var_input = q.idxBl_to_var_input(res.idx_Bl)  # [1, L-1, C]
    label = torch.tensor([0], device=dev)

    def generate():
        run = var.autoregressive_infer_cfg(vae, 1, label, g_seed=0, cfg=a.cfg, top_k=a.top_k, top_p=a.top_p)
        return vae.fhat_to_img(run.f_hat)

    return {'open_image': open_image, 'teacher_forced': lambda: var(label, var_input), 'generate': generate}


def official(a, dev):
    """The three measurements on the official code, with the checkpoints loaded strictly into its classes."""
    vae_sd, var_sd = state_dicts(a)
    cfg = models_from_state_dicts(vae_sd, var_sd)  # only to read the configuration off the checkpoints
    vc, rc = cfg.vae_cfg, cfg.var_cfg
    del cfg
    sys.path.insert(0, a.official)
    hub = types.ModuleType('huggingface_hub')  # models/var.py imports it for VARHF only
    hub.PyTorchModelHubMixin = type('PyTorchModelHubMixin', (), {})
    sys.modules.setdefault('huggingface_hub', hub)
    from models.var import VAR  # noqa: E402 (the official code)
    from models.vqvae import VQVAE  # noqa: E402

    vae = VQVAE(
        vocab_size=vc.vocab_size,
        z_channels=vc.Cvae,
        ch=vc.ch,
        quant_conv_ks=vc.quant_conv_ks,
        quant_resi=vc.quant_resi,
        share_quant_resi=vc.phi_count or 4,
        v_patch_nums=rc.patch_nums,
        test_mode=True,
    )
    # The official VQVAE fixes its encoder and decoder to vq-f16's layout (ch_mult 1,1,2,2,4, 2 blocks, attention);
    # a VAE of another layout (the embedded model's) gets the official Encoder / Decoder built with its own.
    layout = dict(
        ch_mult=tuple(vc.ch_mult), num_res_blocks=vc.num_res_blocks, using_sa=vc.using_sa, using_mid_sa=vc.using_mid_sa
    )
    if layout != dict(ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2, using_sa=True, using_mid_sa=True):
        from models.basic_vae import Decoder, Encoder  # noqa: E402 (the official code)

        dd = dict(dropout=0.0, ch=vc.ch, z_channels=vc.Cvae, in_channels=3, **layout)
        vae.encoder, vae.decoder = Encoder(double_z=False, **dd), Decoder(**dd)
        vae.downsample = 2 ** (len(vc.ch_mult) - 1)
    # NOTE: the official VQVAE.load_state_dict passes assign=, which torch < 2.1 lacks: nn.Module's own is called (the
    # official one only swaps a hit-count table of another scale count, which these checkpoints do not have).
    torch.nn.Module.load_state_dict(vae, vae_sd, strict=True)
    var = VAR(
        vae_local=vae,
        num_classes=rc.num_classes,
        depth=rc.depth,
        embed_dim=rc.embed_dim,
        num_heads=rc.num_heads,
        mlp_ratio=rc.mlp_ratio,
        norm_eps=1e-6,
        shared_aln=rc.shared_aln,
        attn_l2_norm=rc.attn_l2_norm,
        patch_nums=rc.patch_nums,
        flash_if_available=False,
        fused_if_available=False,
    )
    var.load_state_dict(var_sd, strict=True)
    vae, var = vae.to(dev).eval(), var.to(dev).eval()
    size = rc.patch_nums[-1] * vae.downsample

    def open_image():
        idx = vae.img_to_idxBl(load_image_tensor(a.image, size).to(dev))
        return vae.idxBl_to_img(idx, same_shape=True, last_one=False)  # SN x [1, 3, S, S]

    var_input = vae.quantize.idxBl_to_var_input(vae.img_to_idxBl(load_image_tensor(a.image, size).to(dev)))
    label = torch.tensor([0], device=dev)
    return {
        'open_image': open_image,
        'teacher_forced': lambda: var(label, var_input),
        # top_k >= V keeps every token, which the official top-k refuses to be asked for
        'generate': lambda: var.autoregressive_infer_cfg(
            1, label, g_seed=0, cfg=a.cfg, top_k=min(a.top_k, vc.vocab_size), top_p=a.top_p
        ),
    }


@torch.no_grad()
def main():
    p = argparse.ArgumentParser()
    p.add_argument('--vae')
    p.add_argument('--var')
    p.add_argument('--index', help='index.json of varscope.from_bundle --index, instead of --vae and --var')
    p.add_argument('--image', required=True)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--cfg', type=float, default=4.0)
    p.add_argument('--top-k', type=int, default=900)
    p.add_argument('--top-p', type=float, default=0.96)
    p.add_argument('--device', default='cpu', help='cpu or cuda (the GPU anchor of bench/gpu-check.sh)')
    p.add_argument('--official', help='folder of the official VAR code: time it instead of python/varscope')
    p.add_argument('--serve', action='store_true', help='run one measurement per line read (see the docstring)')
    a = p.parse_args()
    if bool(a.index) == bool(a.vae and a.var):
        p.error('give either --vae and --var, or --index')
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if dev.type != 'cpu' and hasattr(torch, 'set_default_device'):
        torch.set_default_device(dev)  # the reference makes its zeros / index tensors without a device (torch >= 2.0)
    with contextlib.redirect_stdout(sys.stderr):  # the official constructors print; stdout carries the results only
        fns = official(a, dev) if a.official else ours(a, dev)
    out = {
        'torch': torch.__version__,
        'threads': a.threads,
        'repeats': a.repeats,
        'device': str(dev),
        'gpu': torch.cuda.get_device_name(0) if dev.type == 'cuda' else None,
        'code': 'official' if a.official else 'python/varscope',
    }
    if a.serve:
        with contextlib.redirect_stdout(sys.stderr):
            for fn in fns.values():
                fn()
        print(json.dumps(dict(out, ready=True)), flush=True)
        for line in sys.stdin:
            name = line.strip()
            t = time.perf_counter()
            fns[name]()
            sync()
            print(json.dumps({'name': name, 'ms': (time.perf_counter() - t) * 1000}), flush=True)
        return
    for name, fn in fns.items():
        try:
            out[name] = timed(fn, a.repeats)
        except RuntimeError as e:  # on a GPU: a part of the reference that does not run there is reported, not fatal
            if dev.type == 'cpu':
                raise
            out[name] = {'error': str(e).splitlines()[0]}
    print(json.dumps(out))


if __name__ == '__main__':
    main()
