"""A VAR-d16 checkpoint pair with random weights (seeded), in the layout of the released files, and the PyTorch
reference's tokens on one image, for test/unit/cli/shippedTemplates.test.ts (the released sizes open with no Python).

    PYTHONPATH=python python3 -m tests.released_d16 OUT IMAGE

writes OUT/vae_ch160v4096z32.pth and OUT/var_d16.pth (our varscope.model builds the official keys and shapes; every
parameter random by PyTorch's default initialisation, the VQ-VAE's training hits too) and OUT/reference/tokens.npy
and OUT/reference/logits.npy, the teacher-forced logits of those tokens for class 3 (as python -m varscope.reference
computes them; without its decodes and generation, which take minutes at d16)."""
import os
import sys

import numpy as np
import torch

from varscope.model.preprocess import load_image_tensor
from varscope.model.var_model import VAR
from varscope.model.vqvae import VQVAE


@torch.no_grad()
def main(out: str, image: str) -> None:
    torch.set_num_threads(2)
    torch.manual_seed(16)
    vae, var = VQVAE(), VAR(Cvae=32, vocab_size=4096, depth=16)  # the released configuration's defaults
    # every parameter as PyTorch's default initialisation leaves it (the official build's random VQ-VAE is the same)
    vae.quantize.ema_vocab_hit_SV.copy_(torch.rand_like(vae.quantize.ema_vocab_hit_SV) * 100)
    os.makedirs(os.path.join(out, 'reference'), exist_ok=True)
    torch.save(vae.state_dict(), os.path.join(out, 'vae_ch160v4096z32.pth'))
    torch.save(var.state_dict(), os.path.join(out, 'var_d16.pth'))
    vae.eval(), var.eval()
    q = vae.quantize
    res = q.quantize(vae.img_to_f(load_image_tensor(image, 256)))  # varscope.reference's steps
    np.save(os.path.join(out, 'reference', 'tokens.npy'), torch.cat(res.idx_Bl, 1).numpy())
    logits = var(torch.tensor([3]), q.idxBl_to_var_input(res.idx_Bl))
    np.save(os.path.join(out, 'reference', 'logits.npy'), logits.numpy())


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
