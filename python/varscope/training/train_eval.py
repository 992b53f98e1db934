"""Evaluate a trained VQ-VAE + VAR on the held-out emoji: reconstruction PSNR overall and per scale, codebook usage,
teacher-forced per-scale token accuracy / NLL, and PNG grids (progressive reconstructions, class-conditional
samples with CFG, top-k, top-p) for the model card.

    PYTHONPATH=python /usr/bin/python3 -m varscope.train_eval --data out/data/emoji64.npz --vae runs/vae/vae.pth \
        --var runs/var/var.pth [--var-early runs/var/var_early.pth] --out runs/eval

Writes <out>/metrics.json, <out>/recon.png, <out>/samples.png (and samples_early.png)."""
import argparse
import copy
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..bundle.checkpoint import build_var, extract, infer_var_config, load_strict, torch_load
from .train_common import EmojiData, pick_device, save_json, to_input
from .train_var import load_vae, tokens_of, var_input_of
from ..model.var_model import VAR
from ..model.vqvae import VQVAE


def load_var(path: str) -> VAR:
    """A trained VAR, loaded strictly like an official checkpoint (eval)."""
    sd = extract(torch_load(path), 'var', path)
    var = build_var(infer_var_config(sd, path))
    load_strict(var, sd, path)
    return var.eval()


def psnr_01(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR [B] of images in [-1, 1], measured on the [0, 1] pixel scale."""
    mse = (a.clamp(-1, 1) - b.clamp(-1, 1)).div(2).square().flatten(1).mean(1)
    return 10 * torch.log10(1 / mse.clamp_min(1e-10))


@torch.no_grad()
def vae_metrics(vae: VQVAE, images_u8: torch.Tensor, batch: int = 64) -> dict:
    """PSNR of the decoded cumulative f_hat after every scale, and codebook usage, over the given images."""
    q = vae.quantize
    SN, V = q.SN, q.vocab_size
    psnr_sum, hits = torch.zeros(SN), torch.zeros(SN, V)
    n = 0
    for i in range(0, len(images_u8), batch):
        x = to_input(images_u8[i : i + batch])
        res = q.quantize(vae.img_to_f(x))
        for si in range(SN):
            psnr_sum[si] += psnr_01(vae.fhat_to_img(res.f_hat[si]), x).sum().cpu()
            hits[si] += res.idx_Bl[si].flatten().bincount(minlength=V).float().cpu()
        n += len(x)
    total = hits.sum(0)
    p = total / total.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum().item()
    per_scale = (psnr_sum / n).tolist()
    return {
        'images': n,
        'psnr': per_scale[-1],
        'psnr_per_scale': per_scale,
        'codebook_usage_percent': float((total > 0).float().mean() * 100),
        'codebook_usage_percent_per_scale': ((hits > 0).float().mean(1) * 100).tolist(),
        'dead_codes': int((total == 0).sum()),
        'perplexity': math.exp(entropy),
        'vocab_size': V,
    }


@torch.no_grad()
def codebook_usage_percent(vae: VQVAE, images_u8: torch.Tensor, batch: int = 64) -> float:
    """% of the codes hit on any scale by the given images (tokens only: no decoding)."""
    hits = torch.zeros(vae.quantize.vocab_size)
    for i in range(0, len(images_u8), batch):
        for idx in vae.quantize.quantize(vae.img_to_f(to_input(images_u8[i : i + batch]))).idx_Bl:
            hits += idx.flatten().bincount(minlength=len(hits)).float().cpu()
    return float((hits > 0).float().mean() * 100)


@torch.no_grad()
def var_metrics(vae: VQVAE, var: VAR, images_u8: torch.Tensor, labels: torch.Tensor, batch: int = 64) -> dict:
    """Teacher-forced token accuracy and NLL per scale with the true class, over the given images."""
    idx = tokens_of(vae, images_u8, flip=False)
    SN = len(var.begin_ends)
    correct, nll = torch.zeros(SN), torch.zeros(SN)
    for i in range(0, len(idx), batch):
        idx_BL, lab = idx[i : i + batch], labels[i : i + batch]
        logits = var(lab, var_input_of(vae, idx_BL, var.begin_ends)).float()  # [B, L, V]
        ce = F.cross_entropy(logits.transpose(1, 2), idx_BL, reduction='none')  # [B, L]
        hit = logits.argmax(-1) == idx_BL
        for si, (bg, ed) in enumerate(var.begin_ends):
            correct[si] += hit[:, bg:ed].float().mean(1).sum().cpu()
            nll[si] += ce[:, bg:ed].mean(1).sum().cpu()
    n = len(idx)
    sizes = torch.tensor([ed - bg for bg, ed in var.begin_ends], dtype=torch.float)
    acc, nll = correct / n, nll / n
    return {
        'images': n,
        'token_accuracy': float((acc * sizes).sum() / sizes.sum()),
        'nll': float((nll * sizes).sum() / sizes.sum()),
        'token_accuracy_per_scale': acc.tolist(),
        'nll_per_scale': nll.tolist(),
    }


def to_u8(x: torch.Tensor) -> np.ndarray:
    """[B, 3, H, W] in [-1, 1] -> uint8 [B, H, W, 3]."""
    return x.clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def tile(rows: list, pad: int = 2) -> np.ndarray:
    """Grid of equally sized uint8 [H, W, 3] images (a list of rows) on white."""
    h, w = rows[0][0].shape[:2]
    cols = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, im in enumerate(row):
            out[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = im
    return out


@torch.no_grad()
def reconstruct(vae: VQVAE, images_u8: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """uint8 images [N, H, W, 3] through the VQ-VAE: encoded, quantized at every scale, decoded (uint8, same shape)."""
    out = []
    for i in range(0, len(images_u8), batch):
        res = vae.quantize.quantize(vae.img_to_f(to_input(images_u8[i : i + batch])))
        out.append(torch.from_numpy(to_u8(vae.fhat_to_img(res.f_hat[-1]))))
    return torch.cat(out)


@torch.no_grad()
def recon_grid(vae: VQVAE, images_u8: torch.Tensor) -> np.ndarray:
    """One row per image: the input, then the decoded cumulative f_hat after each scale."""
    x = to_input(images_u8)
    res = vae.quantize.quantize(vae.img_to_f(x))
    steps = [to_u8(vae.fhat_to_img(f)) for f in res.f_hat]
    src = images_u8.cpu().numpy()
    return tile([[src[i]] + [s[i] for s in steps] for i in range(len(x))])


@torch.no_grad()
def sample_grid(vae: VQVAE, var: VAR, per_class: int, cfg: float, top_k: int, top_p: float, seed: int):
    """Class-conditional samples (one row per class) on the CPU: the KV-cached sampler allocates on the CPU."""
    vae_c, var_c = copy.deepcopy(vae).cpu().eval(), copy.deepcopy(var).cpu().eval()
    rows = []
    for c in range(var_c.num_classes):
        labels = torch.full((per_class,), c, dtype=torch.long)
        run = var_c.autoregressive_infer_cfg(
            vae_c, per_class, labels, g_seed=seed + c, cfg=cfg, top_k=top_k, top_p=top_p
        )
        rows.append(list(to_u8(vae_c.fhat_to_img(run.f_hat))))
    return tile(rows)


def evaluate(args) -> dict:
    """Compute every metric and write metrics.json and the PNGs into args.out."""
    dev = pick_device(args.device)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    data = EmojiData(args.data, dev)
    held, labels = data.held_images, data.held_labels
    if args.max_held and len(held) > args.max_held:  # an even subsample, deterministic
        pick = torch.linspace(0, len(held) - 1, args.max_held).round().long().to(dev)
        held, labels = held[pick], labels[pick]
    patch_nums = load_var(args.var).patch_nums if args.var else (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)
    vae = load_vae(args.vae, patch_nums).to(dev)
    metrics = {
        'data': {
            'file': os.path.basename(args.data),
            'split_sha256': data.meta['split_sha256'],
            'classes': data.classes,
        },
        'vae': vae_metrics(vae, held, args.eval_batch),
        # the codebook over every image (training and held-out): a held-out set of ~100 emoji, mostly white
        # background, hits fewer codes than the tokenizer uses
        'codebook_usage_percent_all_images': codebook_usage_percent(
            vae, torch.cat([data.train_images, data.held_images]), args.eval_batch
        ),
    }
    Image.fromarray(recon_grid(vae, held[torch.linspace(0, len(held) - 1, 8).round().long().to(dev)])).save(
        os.path.join(args.out, 'recon.png')
    )
    sampling = {
        'cfg': args.cfg,
        'top_k': args.top_k,
        'top_p': args.top_p,
        'seed': args.seed,
        'per_class': args.per_class,
    }
    for name, path in (('var', args.var), ('var_early', args.var_early)):
        if not path:
            continue
        var = load_var(path).to(dev)
        metrics[name] = var_metrics(vae, var, held, labels, args.eval_batch)
        png = 'samples.png' if name == 'var' else 'samples_early.png'
        if args.per_class > 0:
            Image.fromarray(sample_grid(vae, var, args.per_class, args.cfg, args.top_k, args.top_p, args.seed)).save(
                os.path.join(args.out, png)
            )
        metrics[name]['samples'] = dict(sampling, file=png)
    metrics['seconds'] = round(time.time() - t0, 1)
    save_json(os.path.join(args.out, 'metrics.json'), metrics)
    return metrics


def add_args(ap: argparse.ArgumentParser) -> None:
    """The evaluation flags (shared with train_all)."""
    ap.add_argument('--cfg', type=float, default=3.5)
    ap.add_argument('--top-k', type=int, default=100, help='about 20 %% of V=512 (official 900 of 4096)')
    ap.add_argument('--top-p', type=float, default=0.95)
    ap.add_argument('--per-class', type=int, default=8, help='samples per class in samples.png (0: none)')
    ap.add_argument('--max-held', type=int, default=0, help='evaluate at most this many held-out images (0: all)')
    ap.add_argument('--eval-batch', type=int, default=64)


def parse_args(argv=None):
    """CLI of train_eval."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', required=True)
    ap.add_argument('--vae', required=True)
    ap.add_argument('--var', default='')
    ap.add_argument('--var-early', default='')
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--device', default='auto')
    add_args(ap)
    return ap.parse_args(argv)


if __name__ == '__main__':
    m = evaluate(parse_args())
    print(
        {
            k: {kk: vv for kk, vv in v.items() if not isinstance(vv, list)} if isinstance(v, dict) else v
            for k, v in m.items()
        }
    )
