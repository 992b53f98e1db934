"""Top-k / top-p filtering (official semantics, checked against a direct per-code rule), the Phi tick selection,
and the sampler inside KV-cached generation."""
import unittest

import numpy as np
import torch

from varscope.bundle.checkpoint import load_models
from varscope.model.quant import phi_index_per_scale, phi_ticks
from varscope.model.sampling import filter_top_k_top_p, sample_with_top_k_top_p

from .fixtures import config, fixture, npy


class SamplingTest(unittest.TestCase):
    def setUp(self):
        self.logits = torch.randn(2, 5, 50, generator=torch.Generator().manual_seed(7)) * 3

    def test_top_k_keeps_the_k_largest(self):
        out = filter_top_k_top_p(self.logits, top_k=7)
        for row, kept in zip(self.logits.view(-1, 50), torch.isfinite(out).view(-1, 50)):
            self.assertEqual(set(kept.nonzero().view(-1).tolist()), set(row.topk(7).indices.tolist()))

    def test_top_p_keeps_codes_whose_higher_mass_is_below_p(self):
        p = 0.8
        out = filter_top_k_top_p(self.logits, top_p=p)
        probs = self.logits.double().softmax(-1).view(-1, 50).numpy()
        for row, kept in zip(probs, torch.isfinite(out).view(-1, 50).numpy()):
            higher = np.array([row[row > row[i]].sum() for i in range(50)])  # mass of strictly better codes
            np.testing.assert_array_equal(kept, higher < p)

    def test_top_k_then_top_p_and_input_untouched(self):
        before = self.logits.clone()
        out = filter_top_k_top_p(self.logits, top_k=10, top_p=0.5)
        self.assertTrue(torch.equal(before, self.logits))
        self.assertTrue(bool((torch.isfinite(out).sum(-1) <= 10).all()))
        self.assertTrue(bool((torch.isfinite(out).sum(-1) >= 1).all()))

    def test_top_k_one_is_greedy_and_seeded_sampling_repeats(self):
        idx = sample_with_top_k_top_p(self.logits, top_k=1)[..., 0]
        self.assertTrue(torch.equal(idx, self.logits.argmax(-1)))
        a = sample_with_top_k_top_p(self.logits, top_k=20, top_p=0.9, rng=torch.Generator().manual_seed(3))
        b = sample_with_top_k_top_p(self.logits, top_k=20, top_p=0.9, rng=torch.Generator().manual_seed(3))
        self.assertTrue(torch.equal(a, b))
        self.assertEqual(tuple(a.shape), (2, 5, 1))

    def test_phi_ticks_match_fixture(self):
        cfg = config()
        K, SN = cfg['build_vae_var_kwargs']['share_quant_resi'], len(cfg['patch_nums'])
        np.testing.assert_allclose(phi_ticks(K), cfg['phi_ticks'], rtol=0, atol=1e-12)
        self.assertEqual(phi_index_per_scale(K, SN), cfg['phi_index_per_scale'])
        self.assertEqual(phi_index_per_scale(1, SN), [0] * SN)  # fully shared Phi
        self.assertEqual(phi_index_per_scale(SN, SN), list(range(SN)))  # one Phi per scale

    def test_greedy_generation_takes_the_argmax_of_cfg_logits(self):
        torch.set_num_threads(2)
        m = load_models(fixture('vae.pth'), fixture('var.pth'))
        with torch.no_grad():
            run = m.var.autoregressive_infer_cfg(m.vae, 1, torch.tensor([3]), g_seed=0, cfg=1.5, top_k=1)
        for si, (idx, logits) in enumerate(zip(run.idx_Bl, run.logits)):
            self.assertTrue(torch.equal(idx, logits.argmax(-1)), f'step {si}')
        # the tokens of the generated pyramid rebuild the same f_hat
        f_hat = m.vae.quantize.idxBl_to_fhat(run.idx_Bl)[-1]
        self.assertLessEqual(float((f_hat - run.f_hat).abs().max()), 1e-5)

    def test_forced_prefix_then_greedy_continues_from_the_image(self):
        torch.set_num_threads(2)
        m = load_models(fixture('vae.pth'), fixture('var.pth'))
        idx = [torch.from_numpy(npy('img0_idx.npy')).view(-1)[b:e].view(1, -1) for b, e in m.var.begin_ends]
        kept = 4
        forced = [idx[s] if s < kept else None for s in range(len(idx))]
        with torch.no_grad():
            run = m.var.autoregressive_infer_cfg(m.vae, 1, torch.tensor([3]), cfg=0.0, forced_idx=forced, greedy=True)
            # with cfg 0 the CFG logits are the conditional ones: teacher forcing the run's own tokens gives them back
            tf = m.var(torch.tensor([3]), m.vae.quantize.idxBl_to_var_input(run.idx_Bl))[0]
        for si, (b, e) in enumerate(m.var.begin_ends):
            if si < kept:
                self.assertTrue(torch.equal(run.idx_Bl[si], idx[si]), f'scale {si} kept')
            else:
                self.assertTrue(torch.equal(run.idx_Bl[si][0], tf[b:e].argmax(-1)), f'scale {si} greedy')
        self.assertEqual(len(run.f_hats), len(idx))
        for si, f in enumerate(m.vae.quantize.idxBl_to_fhat(run.idx_Bl)):
            self.assertLessEqual(float((f - run.f_hats[si]).abs().max()), 1e-5, f'f_hat after scale {si}')


if __name__ == '__main__':
    unittest.main(verbosity=2)
