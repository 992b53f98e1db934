"""Self-verification of an exported Infinity bundle, as the VAR export verifies its own: per schedule, the PyTorch
reference (bsq_vae.py, model.py: not the traced graph modules) on a probe image and two probe captions, written as
.npy cases and run through the bundle's graphs by tools/verify_bundle.js (onnxruntime-node).

    PYTHONPATH=python python3 -m varscope.infinity.verify --vae VAE.pth --infinity INF.pth --bundle DIR [--arch A]

checks a bundle exported earlier (or with --no-verify) and records the worst differences in its varscope.json
(`provenance.verification`); `varscope.infinity.export` runs the same check before it writes varscope.json.

Per schedule: bsqEncoder (latent, bits exact, residuals), bitsToLatent (latent, nextInput), bsqDecoder (image),
infinityTransformer (teacher-forced logits of the probe's bits for two captions of different lengths, batch 2), and
infinityStep at scales 0 and 1 without CFG (its logits equal the teacher-forced rows of those scales; scale 1 takes
the keys and values scale 0's step returned, so the cache is checked through them), and infinityAttention (when the
bundle has it) for the last block, mean of heads, on the same input. Tolerances are the VAR verifier's: bits exact,
images 1e-3, everything else 5e-5 (max abs difference)."""
import argparse
import gc
import json
import os
import sys
import tempfile
import time
from typing import Dict, List

import numpy as np
import torch

from ..atomic import write_atomic
from ..bundle.verify import FLOAT_TOL, IMAGE_TOL, CaseWriter, probe_image, run_verifier
from .bsq_vae import BSQVAE
from .bundle_spec import FAMILY
from .config import PRESETS
from .graphs import logits_per_bit
from .inputs import image_input
from .load import load_bsq_vae, load_infinity_checkpoint
from .model import Infinity, block_attention, caption_mask

PROBE_CAPTION_TOKENS = (5, 9)  # two captions of different lengths: the packing is checked too
STEP_SCALES = 2  # infinityStep is checked at scales 0 and 1


class VerificationError(ValueError):
    """The bundle's graphs differ from the PyTorch reference beyond the tolerances."""


def tolerance(key: str) -> float:
    """Allowed max abs diff of one '<case>.<output>': bits exact, images IMAGE_TOL, the rest FLOAT_TOL."""
    if key.endswith('.bits'):
        return 0.0
    return IMAGE_TOL if key.startswith('bsqDecoder') else FLOAT_TOL


def probe_input(H: int, W: int) -> torch.Tensor:
    """The VAR verifier's probe image, centre-cropped to H x W, as the model's input [1, 3, H, W]."""
    side = max(H, W)
    rgb = probe_image(side)
    top, left = (side - H) // 2, (side - W) // 2
    return image_input(rgb[top : top + H, left : left + W])


def probe_captions(width: int):
    """Two seeded captions' features, packed: (textFeatures [N, width], textOffsets int64 [3])."""
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(sum(PROBE_CAPTION_TOKENS), width, generator=g) * 0.2
    return feats, torch.tensor([0, PROBE_CAPTION_TOKENS[0], sum(PROBE_CAPTION_TOKENS)], dtype=torch.int64)


class LastProbe(list):
    """A probes list (Infinity.forward's) that keeps only the latest block's probe: the last block's at the end, and
    one block's q and k in memory rather than every block's."""

    def append(self, probe) -> None:
        self[:] = [probe]


def flat_bits(bits: List[torch.Tensor]) -> torch.Tensor:
    """K x [B, 1, h, w, d] -> [B, L, d] uint8."""
    return torch.cat([b.reshape(b.shape[0], -1, b.shape[-1]) for b in bits], dim=1).to(torch.uint8)


@torch.no_grad()
def write_cases(vae: BSQVAE, model: Infinity, entry: dict, w: CaseWriter) -> None:
    """The cases of one schedule entry of the manifest (its scales, pixel size and graph files)."""
    stem = {g: spec['file'][: -len('.onnx')] for g, spec in entry['graphs'].items()}
    schedule = [tuple(s) for s in entry['scales']]
    sid = entry['id']
    image = probe_input(*entry['pixelSize'])
    latent = vae.encode_latent(image)
    run = vae.quantize_scales(latent, schedule)
    bits = flat_bits(run.bits)
    residual = torch.cat([r.flatten(2).transpose(1, 2) for r in run.residuals], dim=1)
    w.add(
        f'bsqEncoder.{sid}',
        stem['bsqEncoder'],
        {'image': image},
        {'latent': latent, 'bits': bits, 'residual': residual},
    )
    f_hat = vae.bits_to_latent(run.bits, schedule)
    next_input = vae.next_scale_inputs(run.bits, schedule)
    w.add(f'bitsToLatent.{sid}', stem['bitsToLatent'], {'bits': bits}, {'latent': f_hat, 'nextInput': next_input})
    w.add(f'bsqDecoder.{sid}', stem['bsqDecoder'], {'latent': f_hat}, {'image': vae.decode(f_hat)})
    feats, offsets = probe_captions(model.cfg.text_channels)
    pair = next_input.repeat(2, 1, 1)
    probes = LastProbe()
    logits = logits_per_bit(model(feats, offsets, pair, schedule, probes=probes))  # [2, L, d, 2]
    text = {'textFeatures': feats, 'textOffsets': offsets}
    w.add(f'infinityTransformer.{sid}', stem['infinityTransformer'], {**text, 'nextInput': pair}, {'logits': logits})
    if 'infinityAttention' in stem:  # optional: bundles exported before it lack it
        self_w, cross_w = block_attention(probes[0], schedule, caption_mask(offsets, feats.shape[0]))
        w.add(
            f'infinityAttention.{sid}',
            stem['infinityAttention'],
            {**text, 'nextInput': pair, 'attnLayer': torch.tensor(model.cfg.depth - 1), 'attnHead': torch.tensor(-1)},
            {'selfAttention': self_w.mean(dim=1), 'crossAttention': cross_w.mean(dim=1)},
        )
    del probes
    cfg = model.cfg
    head_dim = cfg.embed_dim // cfg.num_heads
    begin = 0
    for si, (_, h, wd) in enumerate(schedule[:STEP_SCALES]):
        rows = pair[:, begin - 1 : begin - 1 + h * wd] if si else torch.zeros(2, 1, cfg.d_model)
        past = lambda name: (  # noqa: E731  scale 0: an empty cache; scale 1: scale 0's step output
            torch.zeros(cfg.depth, 2, cfg.num_heads, 0, head_dim) if si == 0 else f'step0.{sid}.{name}.npy'
        )
        w.add(
            f'infinityStep{si}.{sid}',
            stem['infinityStep'],
            {
                **text,
                'nextInput': rows,
                'scaleIndex': torch.tensor(si),
                'pastKey': past('newKey'),
                'pastValue': past('newValue'),
                'cfgScale': torch.tensor(1.0),
                'cfgLayer': torch.tensor(-1),
            },
            {'logits': logits[:, begin : begin + h * wd]},
            save={'newKey': f'step0.{sid}.newKey.npy', 'newValue': f'step0.{sid}.newValue.npy'} if si == 0 else None,
        )
        begin += h * wd


def read_manifest(bundle: str) -> dict:
    with open(os.path.join(bundle, 'varscope.json'), encoding='utf-8') as f:
        manifest = json.load(f)
    if not isinstance(manifest, dict) or manifest.get('family') != FAMILY:
        family = manifest.get('family', 'var') if isinstance(manifest, dict) else None
        raise ValueError(f'--bundle {bundle}: not an Infinity bundle (family {family!r})')
    schedules = manifest.get('schedules')
    if not isinstance(schedules, list) or not all(isinstance(e, dict) and 'graphs' in e for e in schedules):
        raise ValueError(f'--bundle {bundle}: varscope.json has no schedules with graphs; re-export the bundle')
    return manifest


def verify(bundle: str, manifest: dict, models: list, log=print) -> Dict[str, float]:
    """Write every schedule's cases with models = [vae, model], release the models (the list is emptied: the graphs
    need the memory they held), run the bundle's graphs; returns the worst diff per graph output, or raises
    VerificationError naming each output beyond its tolerance."""
    with tempfile.TemporaryDirectory(prefix='varscope-infinity-verify-') as cases:
        w = CaseWriter(cases)
        log('computing PyTorch reference outputs')
        for entry in manifest['schedules']:
            write_cases(*models, entry, w)
        w.close()
        models.clear()
        gc.collect()
        log('running the graphs with onnxruntime-node (tools/verify_bundle.js)')
        diffs = run_verifier(bundle, cases)
    bad = [(k, v, tolerance(k)) for k, v in diffs.items() if not v <= tolerance(k)]
    if bad:
        raise VerificationError('verification failed: ' + '; '.join(f'{k} = {v:.3g} > {t:g}' for k, v, t in bad))
    return summarize(diffs)


def summarize(diffs: Dict[str, float]) -> Dict[str, float]:
    """Worst diff per graph output over the schedules and steps ('infinityStep.logits'), for provenance."""
    out: Dict[str, float] = {}
    for k, v in diffs.items():
        key = k.split('.', 1)[0].rstrip('0123456789') + '.' + k.rsplit('.', 1)[1]
        out[key] = max(out.get(key, 0.0), v)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog='python -m varscope.infinity.verify', description=__doc__.split('\n')[0])
    p.add_argument('--vae', required=True, help='the BSQ VAE checkpoint the bundle was exported from')
    p.add_argument('--infinity', required=True, help='the Infinity checkpoint the bundle was exported from')
    p.add_argument('--bundle', required=True, help='the exported bundle folder')
    p.add_argument('--arch', default='', choices=[''] + list(PRESETS), help='run_infinity --model_type to check')
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    started = time.time()
    try:
        manifest = read_manifest(args.bundle)
        summary = verify(
            args.bundle, manifest, [load_bsq_vae(args.vae), load_infinity_checkpoint(args.infinity, args.arch)]
        )
    except (ValueError, OSError) as e:
        print(f'varscope.infinity.verify: error: {e}', file=sys.stderr)
        return 2
    manifest.setdefault('provenance', {})['verification'] = summary
    write_atomic(os.path.join(args.bundle, 'varscope.json'), (json.dumps(manifest, indent=1) + '\n').encode('utf-8'))
    print(json.dumps(summary))
    print(f'verified {args.bundle} in {time.time() - started:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
