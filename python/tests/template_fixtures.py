"""Two checkpoints of one small architecture with different random weights, exported in full, for the template tests
(python/tests/test_weight_map.py, test/unit/node/bundleTemplate.test.ts).

    PYTHONPATH=python python3 -m tests.template_fixtures OUT
    PYTHONPATH=python python3 -m tests.template_fixtures --npy VAE.pth VAR.pth OUT   (only the .npy dump)

writes OUT/{A,B}/{vae,var}.pth, their full exports OUT/bundle-{A,B} and OUT/bundle-{A,B}-fp16 (varscope.export, id
template-A / template-B), and B's canonical state_dicts as OUT/B-npy/{vae,var}/<key>.npy plus OUT/B-npy/sources.json
(provenance.sources of B's export)."""
import json
import os
import subprocess
import sys

import numpy as np
import torch

from varscope.bundle.checkpoint import canonical_vae_keys, extract, torch_load
from varscope.hashing import sha256_of
from varscope.model.var_model import VAR
from varscope.model.vqvae import VQVAE

PATCH_NUMS = (1, 2, 3, 4, 6, 8)


def random_checkpoints(seed: int):
    """(vae, var) state_dicts of one small architecture (shared AdaLN, 3 Phi, l2-normed attention), every weight
    random (no zero biases, which would hide a layout that follows the values)."""
    torch.manual_seed(seed)
    vae = VQVAE(vocab_size=64, z_channels=8, ch=32, ch_mult=(1, 2), patch_nums=PATCH_NUMS, phi_count=3)
    var = VAR(Cvae=8, vocab_size=64, num_classes=5, depth=2, embed_dim=32, num_heads=2, shared_aln=True,
              patch_nums=PATCH_NUMS)  # fmt: skip
    with torch.no_grad():
        for p in list(vae.parameters()) + list(var.parameters()):
            p.copy_(torch.randn_like(p) * 0.1)
        vae.quantize.ema_vocab_hit_SV.copy_(torch.rand_like(vae.quantize.ema_vocab_hit_SV) * 100)
    return vae.state_dict(), var.state_dict()


def main(out: str) -> None:
    """Checkpoints, exports and B's tensors under `out`."""
    torch.set_num_threads(2)
    for name, seed in (('A', 1), ('B', 2)):
        os.makedirs(os.path.join(out, name), exist_ok=True)
        for role, sd in zip(('vae', 'var'), random_checkpoints(seed)):
            torch.save(sd, os.path.join(out, name, f'{role}.pth'))
        for suffix in ('', '-fp16'):
            cmd = [
                sys.executable,
                '-W',
                'ignore',
                '-m',
                'varscope.export',
                '--out',
                os.path.join(out, f'bundle-{name}{suffix}'),
            ]
            cmd += ['--vae', os.path.join(out, name, 'vae.pth'), '--var', os.path.join(out, name, 'var.pth')]
            cmd += ['--id', f'template-{name}', '--name', f'Template test {name}'] + (['--fp16'] if suffix else [])
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    dump_npy(os.path.join(out, 'B', 'vae.pth'), os.path.join(out, 'B', 'var.pth'), os.path.join(out, 'B-npy'))


def dump_npy(vae_path: str, var_path: str, out: str) -> None:
    """The canonical state_dicts of a checkpoint pair, as the exporter loads them, as out/{vae,var}/<key>.npy, and
    their provenance.sources as out/sources.json."""
    sources = []
    for role, path in (('vae', vae_path), ('var', var_path)):
        sd = extract(torch_load(path), role, path)
        sd = canonical_vae_keys(sd) if role == 'vae' else sd
        os.makedirs(os.path.join(out, role), exist_ok=True)
        for key, t in sd.items():
            np.save(os.path.join(out, role, f'{key}.npy'), t.numpy())
        del sd
        sources.append(
            {'role': role, 'file': os.path.basename(path), 'sha256': sha256_of(path), 'bytes': os.path.getsize(path)}
        )
    with open(os.path.join(out, 'sources.json'), 'w') as f:
        json.dump(sources, f)


if __name__ == '__main__':
    if sys.argv[1] == '--npy':  # --npy VAE VAR OUT: only the .npy dump of a checkpoint pair (bench/templateWrite.ts)
        dump_npy(*sys.argv[2:5])
    else:
        main(sys.argv[1])
