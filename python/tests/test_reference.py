"""The PyTorch reference against the official VAR outputs (fixture official-var-A)."""
import unittest

import numpy as np
import torch

from varscope.bundle.checkpoint import load_models
from varscope.model.preprocess import load_image_tensor

from .fixtures import config, fixture, npy

IMAGES = (0, 1, 2)
FLOAT_TOL = 5e-5
IMAGE_TOL = 1e-3


def maxabs(a, b) -> float:
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else a
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


class ReferenceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(2)
        cls.m = load_models(fixture('vae.pth'), fixture('var.pth'))
        cls.cfg = config()
        cls.out = {}
        with torch.no_grad():
            for i in IMAGES:
                x = torch.from_numpy(npy(f'img{i}_input.npy'))
                f = cls.m.vae.img_to_f(x)
                q = cls.m.vae.quantize.quantize(f)
                cls.out[i] = dict(x=x, f=f, q=q, var_input=cls.m.vae.quantize.idxBl_to_var_input(q.idx_Bl))

    def test_config_inferred_from_tensors(self):
        kw, fixed, va = (
            self.cfg['build_vae_var_kwargs'],
            self.cfg['vqvae_fixed_in_official_code'],
            self.cfg['var_constructor_args'],
        )
        vae, var = self.m.vae_cfg, self.m.var_cfg
        self.assertEqual(
            (vae.vocab_size, vae.Cvae, vae.ch, vae.phi_count), (kw['V'], kw['Cvae'], kw['ch'], kw['share_quant_resi'])
        )
        self.assertEqual(list(vae.ch_mult), fixed['ch_mult'])
        self.assertEqual(
            (vae.num_res_blocks, vae.using_sa, vae.using_mid_sa),
            (fixed['num_res_blocks'], fixed['using_sa'], fixed['using_mid_sa']),
        )
        self.assertEqual(vae.quant_conv_ks, self.cfg['vqvae_constructor_args']['quant_conv_ks'])
        self.assertEqual(vae.quant_resi, self.cfg['vqvae_constructor_args']['quant_resi'])
        self.assertEqual(self.m.vae.downsample, fixed['downsample'])
        self.assertEqual(
            (var.depth, var.embed_dim, var.num_heads, var.mlp_ratio),
            (va['depth'], va['embed_dim'], va['num_heads'], va['mlp_ratio']),
        )
        self.assertEqual(
            (var.num_classes, var.shared_aln, var.attn_l2_norm),
            (va['num_classes'], va['shared_aln'], va['attn_l2_norm']),
        )
        self.assertEqual(list(var.patch_nums), self.cfg['patch_nums'])
        self.assertEqual([list(be) for be in self.m.var.begin_ends], self.cfg['begin_ends'])
        self.assertEqual(self.m.vae.quantize.phi_indices(), self.cfg['phi_index_per_scale'])
        self.assertEqual(self.m.var.first_l, self.cfg['first_l'])

    def test_encoder_f(self):
        for i in IMAGES:
            self.assertLessEqual(maxabs(self.out[i]['f'], npy(f'img{i}_f.npy')), FLOAT_TOL, f'img{i}')

    def test_tokens_exact_every_scale(self):
        for i in IMAGES:
            ref = npy(f'img{i}_idx.npy')
            for si, (bg, ed) in enumerate(self.m.var.begin_ends):
                np.testing.assert_array_equal(self.out[i]['q'].idx_Bl[si].numpy(), ref[:, bg:ed], f'img{i} scale {si}')

    def test_fhat_after_every_scale(self):
        for i in IMAGES:
            ref = npy(f'img{i}_fhat.npy')
            for si, fh in enumerate(self.out[i]['q'].f_hat):
                self.assertLessEqual(maxabs(fh[0], ref[si]), FLOAT_TOL, f'img{i} scale {si}')

    def test_var_input(self):
        for i in IMAGES:
            self.assertLessEqual(maxabs(self.out[i]['var_input'], npy(f'img{i}_var_input.npy')), FLOAT_TOL, f'img{i}')

    def test_png_preprocessing_gives_same_tokens(self):
        for i in IMAGES:
            x = load_image_tensor(fixture(f'img{i}.png'), 256)
            self.assertLessEqual(maxabs(x, npy(f'img{i}_input.npy')), 1e-7, f'img{i}')
            with torch.no_grad():
                idx = torch.cat(self.m.vae.img_to_idxBl(x), dim=1).numpy()
            np.testing.assert_array_equal(idx, npy(f'img{i}_idx.npy'), f'img{i}')

    def test_quant_distances(self):
        q = self.out[0]['q']
        codebook = self.m.vae.quantize.embedding.weight.detach()
        for si in range(len(q.idx_Bl)):
            d = q.dist2[si][0]
            self.assertTrue(bool((d[:, 1] >= d[:, 0]).all()), f'scale {si}: second best < best')
            # best distance equals |z - e_idx|^2 computed directly
            z, e = q.quantized[si][0], codebook[q.idx_Bl[si][0]]
            self.assertLessEqual(maxabs(d[:, 0], (z - e).square().sum(-1).clamp_min(0).numpy()), 1e-4)

    def test_teacher_forced_logits_class3(self):
        with torch.no_grad():
            for i in IMAGES:
                logits = self.m.var(torch.tensor([self.cfg['class_label']]), self.out[i]['var_input'])
                self.assertLessEqual(maxabs(logits, npy(f'img{i}_logits_c3.npy')), FLOAT_TOL, f'img{i}')

    def test_attention_weights_are_masked_softmax(self):
        with torch.no_grad():
            _, w = self.m.var(torch.tensor([3]), self.out[0]['var_input'], attn_block=1)
        mask = npy('attn_mask.npy')
        self.assertEqual(tuple(w.shape), (1, self.m.var.num_heads, self.m.var.L, self.m.var.L))
        self.assertEqual(float(w[0][:, ~mask].abs().max()), 0.0)
        self.assertLessEqual(maxabs(w.sum(-1), np.ones((1, self.m.var.num_heads, self.m.var.L))), 1e-5)

    def test_kv_cached_cfg_logits(self):
        ref_idx = npy('img0_idx.npy')
        forced = [torch.from_numpy(ref_idx[:, bg:ed]) for bg, ed in self.m.var.begin_ends]
        with torch.no_grad():
            run = self.m.var.autoregressive_infer_cfg(
                self.m.vae, 1, torch.tensor([self.cfg['class_label']]), cfg=self.cfg['cfg'], forced_idx=forced
            )
        ref = npy('cfg_logits.npy')
        for si, (bg, ed) in enumerate(self.m.var.begin_ends):
            self.assertLessEqual(maxabs(run.logits[si], ref[:, bg:ed]), FLOAT_TOL, f'step {si}')
        with torch.no_grad():
            img = self.m.vae.fhat_to_img(run.f_hat).add(1).mul(0.5)
        self.assertLessEqual(maxabs(img, npy('cfg_img.npy')), IMAGE_TOL)

    def test_decoded_images(self):
        with torch.no_grad():
            for i in IMAGES:
                dec = self.m.vae.fhat_to_img(torch.cat(self.out[i]['q'].f_hat, dim=0))
                self.assertLessEqual(maxabs(dec, npy(f'img{i}_dec.npy')), IMAGE_TOL, f'img{i}')

    def test_mask(self):
        np.testing.assert_array_equal((self.m.var.attn_bias_for_masking[0, 0] == 0).numpy(), npy('attn_mask.npy'))


if __name__ == '__main__':
    unittest.main(verbosity=2)
