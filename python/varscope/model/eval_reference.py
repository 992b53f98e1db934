"""Command line: the per-scale metrics of a folder evaluation, computed independently with the PyTorch reference.

PYTHONPATH=python python3 -m varscope.eval_reference --bundle DIR --images LIST.json --out OUT.json [--vae V --var W]
    [--free-running]
    LIST.json: [{"file": ..., "classId": ...}, ...]. Without --vae/--var the checkpoints are recovered from the
    bundle (varscope.from_bundle), once when --cache DIR is given. Writes the same per-scale fields as `varscope evaluate` (see
    src/shared/evaluation.ts) from PyTorch tensors: the model runs in torch, the metrics in torch / numpy.
    --free-running adds the greedy free-running curves of `varscope evaluate --free-running` (the sampled ones draw with
    the engine's own random numbers, which torch does not reproduce).
"""
import argparse
import contextlib
import io
import json
import math
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

from ..bundle.checkpoint import load_models
from ..bundle.from_bundle import main as from_bundle_main
from .preprocess import load_image_tensor

ECE_BINS = 15
MIX = 1e-3  # weight of the uniform distribution in a frequency prior


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """[3, 1, size, size] normalised gaussian, one per channel."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(3, 1, size, size).contiguous()


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """SSIM of [3, S, S] images in [0, 1] (valid positions, C1 = 0.01², C2 = 0.03², mean over map and channels)."""
    w = gaussian_window()
    a, b = a[None].double(), b[None].double()
    f = lambda t: F.conv2d(t, w, groups=3)
    mx, my = f(a), f(b)
    vx, vy, cxy = f(a * a) - mx**2, f(b * b) - my**2, f(a * b) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    m = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(m.mean())


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return min(100.0, 10 * math.log10(1 / mse)) if mse > 0 else 100.0


def prior(counts: np.ndarray):
    """(log-probabilities, predicted code) of a frequency prior mixed with the uniform distribution."""
    total = counts.sum()
    V = len(counts)
    p = (1 - MIX) * counts / total + MIX / V if total > 0 else np.full(V, 1 / V)
    return np.log(p), int(np.argmax(counts))


def free_run_greedy(var, vae, idx, class_id: int, cfg: float, target: torch.Tensor):
    """Per prefix (kept = 1 … SN-1): the greedy continuation (argmax of the CFG-combined logits) with the image's tokens
    forced at scales < kept; per later scale j its hits on the image's tokens, Σ -ln p of its tokens, and the PSNR of
    decode(f_hat after j) against the target [3, S, S] in [0, 1]."""
    SN = len(idx)
    out = []
    for kept in range(1, SN):
        forced = [idx[s] if s < kept else None for s in range(SN)]
        run = var.autoregressive_infer_cfg(vae, 1, torch.tensor([class_id]), cfg=cfg, forced_idx=forced, greedy=True)
        decoded = vae.fhat_to_img(torch.cat(run.f_hats[kept:], 0)).add(1).mul(0.5)
        p = {'hits': [], 'nll': [], 'psnr': []}
        for j in range(kept, SN):
            tok = run.idx_Bl[j][0]
            lp = torch.log_softmax(run.logits[j][0].double(), -1)
            p['hits'].append(int((tok == idx[j]).sum()))
            p['nll'].append(float(-lp.gather(1, tok[:, None]).sum()))
            p['psnr'].append(psnr(decoded[j - kept], target))
        out.append(p)
    return out


def free_run_result(pns, rows, true_nll):
    """The curves and per-image rows of `varscope evaluate --free-running` (greedy) from every image's prefixes."""
    n = len(rows)
    curves = []
    for kept in range(1, len(pns)):
        scales = []
        for i, pn in enumerate(pns[kept:]):
            j = kept + i
            ps = [r[kept - 1] for r in rows]
            scales.append(
                {
                    'scaleIndex': j,
                    'pn': pn,
                    'agreement': sum(p['hits'][i] for p in ps) / (n * pn * pn),
                    'psnr': float(np.mean([p['psnr'][i] for p in ps])),
                    'nll': sum(p['nll'][i] for p in ps) / (n * pn * pn),
                    'trueNll': true_nll[j],
                }
            )
        curves.append({'kept': kept, 'scales': scales})
    last = pns[-1] ** 2
    per_image = [{'agreement': [p['hits'][-1] / last for p in r], 'psnr': [p['psnr'][-1] for p in r]} for r in rows]
    return {'greedy': curves, 'perImage': per_image}


def ece(conf: np.ndarray, correct: np.ndarray):
    """ECE and the reliability bins of equal width on [0, 1]."""
    edges = np.linspace(0, 1, ECE_BINS + 1)
    out, total = [], 0.0
    for i in range(ECE_BINS):
        lo, hi = edges[i], edges[i + 1]
        sel = (conf >= lo) & ((conf < hi) if i < ECE_BINS - 1 else (conf <= hi))
        n = int(sel.sum())
        out.append(
            {
                'count': n,
                'confidence': float(conf[sel].mean()) if n else None,
                'accuracy': float(correct[sel].mean()) if n else None,
            }
        )
        if n:
            total += n / len(conf) * abs(float(correct[sel].mean()) - float(conf[sel].mean()))
    return total, out


@torch.no_grad()
def run(a) -> dict:
    torch.set_num_threads(a.threads)
    with open(os.path.join(a.bundle, 'varscope.json'), encoding='utf-8') as f:
        manifest = json.load(f)
    if not (a.vae and a.var):
        # recovering the checkpoints is the slow part: kept in --cache (keyed by the manifest's source hashes)
        key = '-'.join(s['sha256'][:12] for s in manifest['provenance']['sources'])
        out = os.path.join(a.cache, key) if a.cache else tempfile.mkdtemp(prefix='varscope-evalref-')
        a.vae, a.var = os.path.join(out, 'vae.pth'), os.path.join(out, 'var.pth')
        if not (os.path.isfile(a.vae) and os.path.isfile(a.var)):
            if a.cache:
                os.makedirs(a.cache, exist_ok=True)
            tmp = tempfile.mkdtemp(prefix='varscope-evalref-', dir=a.cache)
            with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.redirect_stdout(io.StringIO()):
                if from_bundle_main(['--bundle', a.bundle, '--out', tmp]) != 0:
                    raise RuntimeError(f'from_bundle failed: {err.getvalue()}')
            if a.cache:
                os.replace(tmp, out)  # whole or absent
    m = load_models(a.vae, a.var)
    vae, var, q = m.vae, m.var, m.vae.quantize
    pns = list(var.patch_nums)
    S = pns[-1] * vae.downsample
    V = manifest['vae']['vocabSize']
    bg = manifest.get('normalization', {}).get('background', [255, 255, 255])
    hits = None
    if manifest.get('trainingHits'):
        hits = (
            np.fromfile(os.path.join(a.bundle, manifest['trainingHits']['file']), dtype=np.float32)
            .reshape(len(pns), V)
            .astype(np.float64)
        )
    with open(a.images, encoding='utf-8') as f:
        images = json.load(f)
    per_scale = [dict(conf=[], rank=[], nll=[], ent=[], brier=[], psnr=[], ssim=[], copy=[], tokens=[]) for _ in pns]
    per_image = []
    free_rows = []
    cfg = manifest.get('sampling', {}).get('cfg', 4.0)  # the official sampler's when the bundle does not say
    for im in images:
        x = load_image_tensor(im['file'], S, bg)
        res = q.quantize(vae.img_to_f(x))
        idx = [t[0] for t in res.idx_Bl]  # per scale [pn²]
        logits = var(torch.tensor([im['classId']]), q.idxBl_to_var_input(res.idx_Bl))[0].double()  # [L, V]
        decoded = vae.fhat_to_img(torch.cat(res.f_hat, 0)).add(1).mul(0.5)  # [SN, 3, S, S] in [0, 1]
        target = x[0].add(1).mul(0.5)
        logp = torch.log_softmax(logits, -1)
        b = 0
        for k, pn in enumerate(pns):
            t = idx[k]
            lp = logp[b : b + pn * pn]
            s = per_scale[k]
            true_lp = lp.gather(1, t[:, None])[:, 0]
            s['rank'].append((lp > true_lp[:, None]).sum(1).numpy())
            s['conf'].append(lp.max(1).values.exp().numpy())
            s['nll'].append((-true_lp).numpy())
            s['ent'].append((-(lp.exp() * lp).sum(1)).numpy())
            one_hot = F.one_hot(t, lp.shape[1]).double()
            s['brier'].append(((lp.exp() - one_hot) ** 2).sum(1).numpy())  # Σ_v (p_v − [v = true])²
            s['psnr'].append(psnr(decoded[k], target))
            s['ssim'].append(ssim(decoded[k], target))
            s['tokens'].append(t.numpy())
            if k > 0:
                up = (
                    F.interpolate(idx[k - 1].view(1, 1, pns[k - 1], pns[k - 1]).double(), size=(pn, pn), mode='nearest')
                    .long()
                    .view(-1)
                )
                s['copy'].append(int((up == t).sum()))
            b += pn * pn
        if a.free_running:
            free_rows.append(free_run_greedy(var, vae, idx, im['classId'], cfg, target))
        all_rank = np.concatenate([per_scale[k]['rank'][-1] for k in range(len(pns))])
        all_nll = np.concatenate([per_scale[k]['nll'][-1] for k in range(len(pns))])
        per_image.append(
            {
                'file': im['file'],
                'classId': im['classId'],
                'accuracy': float((all_rank == 0).mean()),
                'nll': float(all_nll.mean()),
                'psnr': per_scale[-1]['psnr'][-1],
                'ssim': per_scale[-1]['ssim'][-1],
            }
        )
    scales = []
    n = len(images)
    all_conf, all_correct = [], []
    for k, pn in enumerate(pns):
        s = per_scale[k]
        rank, conf = np.concatenate(s['rank']), np.concatenate(s['conf'])
        correct = (rank == 0).astype(np.float64)
        all_conf.append(conf)
        all_correct.append(correct)
        e, bins = ece(conf, correct)
        counts = np.bincount(np.concatenate(s['tokens']), minlength=V).astype(np.float64)
        nz = counts[counts > 0] / counts.sum()
        loo_hits = loo_nll = 0.0
        for t in s['tokens']:
            c = counts - np.bincount(t, minlength=V)
            lp, arg = prior(c)
            loo_hits += float((t == arg).sum())
            loo_nll += float(-lp[t].sum())
        base = {
            'priorFolder': {'accuracy': loo_hits / len(rank), 'nll': loo_nll / len(rank)},
            'copyCoarser': {'accuracy': sum(s['copy']) / len(rank)} if k > 0 else None,
            'priorTraining': None,
        }
        if hits is not None:
            lp, arg = prior(hits[k])
            toks = np.concatenate(s['tokens'])
            base['priorTraining'] = {'accuracy': float((toks == arg).mean()), 'nll': float(-lp[toks].mean())}
        scales.append(
            {
                'scaleIndex': k,
                'pn': pn,
                'tokens': len(rank),
                'accuracy': float(correct.mean()),
                'top5': float((rank < 5).mean()),
                'nll': float(np.concatenate(s['nll']).mean()),
                'entropy': float(np.concatenate(s['ent']).mean()),
                'ece': e,
                'reliability': bins,
                'brier': float(np.concatenate(s['brier']).mean()),
                'psnr': float(np.mean(s['psnr'])),
                'ssim': float(np.mean(s['ssim'])),
                'used': int((counts > 0).sum()),
                'dead': int(V - (counts > 0).sum()),
                'perplexity': float(np.exp(-(nz * np.log(nz)).sum())),
                'baselines': base,
                'counts': counts.tolist(),
            }
        )
    for i, row in enumerate(per_image):
        r = []
        for k, pn in enumerate(pns):
            counts = np.array(scales[k]['counts'])
            t = per_scale[k]['tokens'][i]
            r.append(-np.log(counts[t] / (pn * pn * n)))
        row['rarity'] = float(np.concatenate(r).mean())
    conf, correct = np.concatenate(all_conf), np.concatenate(all_correct)
    e, bins = ece(conf, correct)
    out = {
        'images': n,
        'scales': scales,
        'overall': {'accuracy': float(correct.mean()), 'ece': e, 'reliability': bins},
        'perImage': per_image,
    }
    if a.free_running:
        out['freeRunning'] = free_run_result(pns, free_rows, [s['nll'] for s in scales])
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog='varscope.eval_reference', description=__doc__.split('\n')[0])
    p.add_argument('--bundle', required=True)
    p.add_argument('--images', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--vae')
    p.add_argument('--var')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--free-running', action='store_true', help='also the greedy free-running curves')
    p.add_argument('--cache', help='keep the checkpoints recovered from the bundle here (reused when present)')
    a = p.parse_args(sys.argv[1:] if argv is None else argv)
    out = run(a)
    with open(a.out, 'w', encoding='utf-8') as f:
        json.dump(out, f)
    return 0


if __name__ == '__main__':
    sys.exit(main())
