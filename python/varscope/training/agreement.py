"""Are a class-conditional model's samples recognisable as their class? A small CNN classifier is trained on the real
training images of the dataset and checked on the real held-out ones; then the VAR draws samples of every class with
the official autoregressive_infer_cfg (KV cache, CFG ramp, top-k / top-p) and the classifier says which class each
sample looks like. Agreement = the fraction of a class's samples classified as that class.

    PYTHONPATH=python /usr/bin/python3 -m varscope.agreement --data out/data/emoji64.npz --vae runs/vae.pth \
        --var runs/var.pth --sampling-from models/emoji64-d4 --per-class 64 --out runs/agreement

Writes <out>/agreement.json (classifier accuracy on the held-out images, per class too; agreement per class and the
sampling used), <out>/samples.png (the first --grid samples of each class, one row per class) and <out>/samples.npz
(every sample, so that another classifier can judge the same samples: --samples-from). The classifier is trained from
a fixed seed, or loaded with --classifier when the file exists (and saved there when it does not).

What the classifier learns from (--train-on): the real training images, and by default also their reconstructions
through the model's own VQ-VAE. Every sample is an image of that decoder, which draws softer edges and its own
texture; a classifier that has only seen crisp originals judges the decoder's style as much as the class (on the
default model, purple zodiac squares went to "Animal faces"). Held-out accuracy is reported on the real held-out
images, and on their reconstructions too."""
import argparse
import json
import os
import time
from typing import Callable, Dict, List

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from .train_common import EmojiData, atomic_save, save_json, to_input
from .train_eval import load_var, reconstruct, tile, to_u8
from .train_var import load_vae


class Classifier(nn.Module):
    """Four stride-2 conv blocks, global average pooling, a linear layer (0.52 M parameters at width 64)."""

    def __init__(self, num_classes: int, width: int = 32):
        super().__init__()
        chans = [3, width, width * 2, width * 2, width * 4]
        layers = []
        for a, b in zip(chans, chans[1:]):
            layers += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.BatchNorm2d(b), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(chans[-1], num_classes)

    def forward(self, u8_BHWC: torch.Tensor) -> torch.Tensor:
        """Logits [B, classes] of uint8 images [B, H, W, 3]."""
        return self.head(self.features(to_input(u8_BHWC)).mean((2, 3)))


def augment(u8_BHWC: torch.Tensor, gen: torch.Generator, min_zoom: float = 0.7) -> torch.Tensor:
    """Per image: a random mirror image, shrunk by a random factor in [min_zoom, 1] and placed at a random spot on
    white (emoji of one class differ in size and position more than in anything a flip or shift covers). One
    bilinear resampling of the whole batch; the white border comes from sampling the inverted image with zero
    padding."""
    B = u8_BHWC.shape[0]
    ink = 255.0 - u8_BHWC.permute(0, 3, 1, 2).float()
    zooms = min_zoom + (1 - min_zoom) * torch.rand(B, generator=gen)
    flips = torch.where(torch.rand(B, generator=gen) < 0.5, -1.0, 1.0)
    shifts = (torch.rand(B, 2, generator=gen) * 2 - 1) * (1 - zooms)[:, None]  # the shrunk image stays inside
    theta = torch.zeros(B, 2, 3)  # output coordinate -> input coordinate, in [-1, 1] units
    theta[:, 0, 0], theta[:, 0, 2] = flips / zooms, -flips * shifts[:, 0] / zooms
    theta[:, 1, 1], theta[:, 1, 2] = 1 / zooms, -shifts[:, 1] / zooms
    grid = F.affine_grid(theta, list(ink.shape), align_corners=False)
    out = 255.0 - F.grid_sample(ink, grid, mode='bilinear', padding_mode='zeros', align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    epochs: int = 30,
    batch: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    width: int = 32,
) -> Classifier:
    """The classifier trained with class-balanced batches on uint8 images [N, H, W, 3] (seeded, CPU)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    clf = Classifier(num_classes, width)
    opt = torch.optim.AdamW(clf.parameters(), lr=lr, weight_decay=1e-4)
    weights = 1.0 / torch.bincount(labels, minlength=num_classes).clamp_min(1).float()[labels]
    steps = max(1, epochs * len(labels) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    clf.train()
    for _ in range(steps):
        pick = torch.multinomial(weights, batch, replacement=True, generator=gen)
        loss = F.cross_entropy(clf(augment(images[pick], gen)), labels[pick], label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return clf.eval()


@torch.no_grad()
def predict(clf: Classifier, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """Predicted class [N] of uint8 images [N, H, W, 3]."""
    return torch.cat([clf(images[i : i + batch]).argmax(-1) for i in range(0, len(images), batch)])


def per_class_rate(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> List[float]:
    """Fraction of the items of each class predicted as that class (nan for a class without items)."""
    return [
        float((pred[target == c] == c).float().mean()) if (target == c).any() else float('nan')
        for c in range(num_classes)
    ]


def agreement(
    clf: Classifier, sample: Callable[[int, int, int], torch.Tensor], num_classes: int, per_class: int, seed: int
) -> Dict:
    """Per-class agreement of sample(class, n, seed) -> uint8 [n, H, W, 3] with the requested class, and the
    predicted classes themselves (rows = requested class)."""
    rates, preds, images = [], [], []
    for c in range(num_classes):
        ims = sample(c, per_class, seed + c)
        p = predict(clf, ims)
        rates.append(float((p == c).float().mean()))
        preds.append(p.tolist())
        images.append(ims)
    return {'per_class': rates, 'min': min(rates), 'mean': float(np.mean(rates)), 'predicted': preds, 'images': images}


def var_sampler(vae, var, cfg: float, top_k: int, top_p: float, batch: int = 32):
    """sample(class, n, seed) with the PyTorch reference of the official autoregressive_infer_cfg."""

    @torch.no_grad()
    def sample(c: int, n: int, seed: int) -> torch.Tensor:
        out = []
        for i in range(0, n, batch):
            b = min(batch, n - i)
            run = var.autoregressive_infer_cfg(
                vae, b, torch.full((b,), c, dtype=torch.long), g_seed=seed * 1000 + i, cfg=cfg, top_k=top_k, top_p=top_p
            )
            out.append(torch.from_numpy(to_u8(vae.fhat_to_img(run.f_hat))))
        return torch.cat(out)

    return sample


def parse_args(argv=None):
    """CLI of agreement."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', required=True)
    ap.add_argument('--vae', required=True)
    ap.add_argument('--var', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--sampling-from', default='', help="a bundle folder: use its varscope.json's sampling settings")
    ap.add_argument('--cfg', type=float, default=3.5)
    ap.add_argument('--top-k', type=int, default=100)
    ap.add_argument('--top-p', type=float, default=0.95)
    ap.add_argument('--per-class', type=int, default=64)
    ap.add_argument('--grid', type=int, default=8, help='samples per class in samples.png')
    ap.add_argument('--samples-from', default='', help='a previous --out folder: judge its samples.npz, draw none')
    ap.add_argument('--classifier', default='', help='classifier weights: loaded when present, saved when not')
    ap.add_argument('--train-on', choices=TRAIN_SETS, default='real+reconstructions')
    ap.add_argument('--epochs', type=int, default=30)
    ap.add_argument('--width', type=int, default=64)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=2)
    return ap.parse_args(argv)


TRAIN_SETS = ('real', 'real+reconstructions')


def load_or_train_classifier(args, data: EmojiData, vae) -> Classifier:
    """The classifier of --classifier when that file exists (it records how it was trained), else trained now (and
    saved there)."""
    n = len(data.classes)
    if args.classifier and os.path.exists(args.classifier):
        saved = torch.load(args.classifier, map_location='cpu')
        if 'state_dict' not in saved:  # weights alone: an older file, trained on the real images
            saved = {'state_dict': saved, 'width': args.width, 'train_on': 'real', 'epochs': None}
        args.width, args.train_on, args.epochs = saved['width'], saved['train_on'], saved['epochs']
        clf = Classifier(n, args.width)
        clf.load_state_dict(saved['state_dict'])
        return clf.eval()
    images, labels = data.train_images, data.train_labels
    if args.train_on == 'real+reconstructions':
        images, labels = torch.cat([images, reconstruct(vae, images)]), torch.cat([labels, labels])
    clf = train_classifier(images, labels, n, args.epochs, seed=args.seed, width=args.width)
    if args.classifier:
        saved = {'state_dict': clf.state_dict(), 'width': args.width, 'train_on': args.train_on, 'epochs': args.epochs}
        atomic_save(saved, args.classifier)
    return clf


def sampling_of(args) -> Dict:
    """The sampling settings of this run, as recorded in agreement.json and samples.npz."""
    return {
        'cfg': args.cfg,
        'top_k': args.top_k,
        'top_p': args.top_p,
        'per_class': args.per_class,
        'seed': args.seed,
        'sampler': 'varscope.var_model.VAR.autoregressive_infer_cfg',
        'var': os.path.realpath(args.var),
    }


def saved_sampler(folder: str, sampling: Dict) -> Callable[[int, int, int], torch.Tensor]:
    """sample(class, n, seed) that returns the samples of a previous run, which must have used the same settings."""
    with np.load(os.path.join(folder, 'samples.npz')) as z:
        images, saved = z['images'], json.loads(str(z['sampling_json']))
    if saved != sampling:
        raise SystemExit(f'error: {folder}/samples.npz was drawn with {saved}, not {sampling}')
    return lambda c, n, seed: torch.from_numpy(images[c, :n])


def main(argv=None) -> Dict:
    """Train or load the classifier, measure it, sample, measure the agreement; write the JSON and the grid."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    data = EmojiData(args.data, torch.device('cpu'))
    n = len(data.classes)
    if args.sampling_from:
        with open(os.path.join(args.sampling_from, 'varscope.json')) as f:
            s = json.load(f)['sampling']
        args.cfg, args.top_k, args.top_p = s['cfg'], s['topK'], s['topP']
    var = load_var(args.var)
    vae = load_vae(args.vae, var.patch_nums)
    clf = load_or_train_classifier(args, data, vae)
    held = {'real': data.held_images, 'reconstructed': reconstruct(vae, data.held_images)}
    held_pred = {k: predict(clf, v) for k, v in held.items()}
    held_acc = {k: float((p == data.held_labels).float().mean()) for k, p in held_pred.items()}
    print(
        f"[agreement] classifier held-out accuracy {held_acc['real']:.3f} ({len(data.held_labels)} images)", flush=True
    )
    sampling = sampling_of(args)
    if args.samples_from:
        sample = saved_sampler(args.samples_from, sampling)
    else:
        sample = var_sampler(vae, var, args.cfg, args.top_k, args.top_p)
    res = agreement(clf, sample, n, args.per_class, args.seed)
    os.makedirs(args.out, exist_ok=True)
    if not args.samples_from:
        path = os.path.join(args.out, 'samples.npz')
        with open(path + '.tmp', 'wb') as f:
            np.savez_compressed(f, images=torch.stack(res['images']).numpy(), sampling_json=json.dumps(sampling))
        os.replace(path + '.tmp', path)
    if args.grid:
        Image.fromarray(tile([list(ims[: args.grid].numpy()) for ims in res['images']])).save(
            os.path.join(args.out, 'samples.png')
        )
    out = {
        'classes': data.classes,
        'classifier': {
            'held_out_accuracy': held_acc['real'],
            'held_out_accuracy_reconstructed': held_acc['reconstructed'],
            'held_out_images': len(data.held_labels),
            'held_out_per_class': per_class_rate(held_pred['real'], data.held_labels, n),
            'held_out_per_class_reconstructed': per_class_rate(held_pred['reconstructed'], data.held_labels, n),
            'train_on': args.train_on,
            'train_images': len(data.train_labels),
            'epochs': args.epochs,
            'width': args.width,
            'seed': args.seed,
        },
        'sampling': sampling,
        'agreement': {k: v for k, v in res.items() if k != 'images'},
        'var': os.path.abspath(args.var),
        'seconds': round(time.time() - t0, 1),
    }
    save_json(os.path.join(args.out, 'agreement.json'), out)
    print('[agreement] ' + ' '.join(f'{c}={r:.2f}' for c, r in zip(data.classes, res['per_class'])), flush=True)
    return out


if __name__ == '__main__':
    main()
