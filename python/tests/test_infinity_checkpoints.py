"""Infinity checkpoints in the forms the official code writes them: the slim file and the trainer's ar-ckpt (its
args give the architecture flags), and a VAR checkpoint given as Infinity or the reverse refused in one line."""
import os
import tempfile
import unittest

import torch

from varscope.bundle.checkpoint import CheckpointError, extract
from varscope.bundle.safe_load import load_torch
from varscope.infinity.load import load_bsq_vae, load_infinity_checkpoint

from .fixtures import OFFICIAL_A, REPO

A = os.path.join(REPO, 'test', 'fixtures', 'infinity', 'infinity-A')

# The fixture's flags as the official trainer's args name them (infinity/utils/arg_util.py).
ARGS = dict(
    model='infinity_fixture',
    saln=True,
    cos=True,
    norm_eps=1e-6,
    use_bit_label=1,
    add_lvl_embeding_only_first_block=1,
    rope2d_each_sa_layer=1,
    rope2d_normalized_by_hw=2,
    pad_to_multiplier=128,
    apply_spatial_patchify=0,
    tlen=512,
    Ct5=128,
)


def setUpModule():
    torch.set_num_threads(2)


class InfinityCheckpointTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.slim = load_torch(os.path.join(A, 'infinity.pth'))
        cls.vae_sd = load_torch(os.path.join(A, 'vae.pth'))['vae']

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def ar_ckpt(self, name: str, **args) -> str:
        """An ar-ckpt as infinity/utils/save_and_load.py writes it, of the fixture's models (its EMA a copy)."""
        path = os.path.join(self.tmp.name, name)
        trainer = {'config': {'ema_ratio': 0.9}, 'vae_local': self.vae_sd, 'gpt_fsdp': self.slim}
        trainer['gpt_ema_fsdp'] = {k: torch.zeros_like(v) for k, v in self.slim.items()}
        torch.save({'args': {**ARGS, **args}, 'gpt_training': True, 'epoch': 3, 'iter': 7, 'trainer': trainer}, path)
        return path

    def assertOneLine(self, fn, *needles):
        with self.assertRaises((ValueError, CheckpointError)) as caught:
            fn()
        message = str(caught.exception)
        self.assertNotIn('\n', message)
        for needle in needles:
            self.assertIn(needle, message)

    def test_ar_ckpt_gives_the_slim_model_and_its_vae(self):
        path = self.ar_ckpt('ar-ckpt-ep3.pth')
        slim = load_infinity_checkpoint(os.path.join(A, 'infinity.pth'))
        ours = load_infinity_checkpoint(path)
        self.assertEqual(ours.cfg, slim.cfg)
        for (k, a), (_, b) in zip(slim.state_dict().items(), ours.state_dict().items()):
            self.assertTrue(torch.equal(a, b), k)  # gpt_fsdp, not the EMA copy
        vae = load_bsq_vae(path)
        for (k, a), (_, b) in zip(
            load_bsq_vae(os.path.join(A, 'vae.pth')).state_dict().items(), vae.state_dict().items()
        ):
            self.assertTrue(torch.equal(a, b), k)

    def test_ar_ckpt_args_set_the_flags(self):
        model = load_infinity_checkpoint(self.ar_ckpt('ar-ckpt-hw0.pth', rope2d_normalized_by_hw=0))
        self.assertEqual(model.cfg.rope2d_normalized_by_hw, 0)
        self.assertOneLine(
            lambda: load_infinity_checkpoint(self.ar_ckpt('ar-ckpt-patchify.pth', apply_spatial_patchify=1)),
            'apply_spatial_patchify',
        )
        no_vae = os.path.join(self.tmp.name, 'ar-ckpt-novae.pth')
        torch.save({'args': ARGS, 'trainer': {'gpt_fsdp': self.slim}}, no_vae)
        self.assertOneLine(lambda: load_bsq_vae(no_vae), 'no trainer.vae_local')

    def test_var_as_infinity_and_infinity_as_var_are_refused_in_one_line(self):
        var_pth, vae_pth = os.path.join(OFFICIAL_A, 'var.pth'), os.path.join(OFFICIAL_A, 'vae.pth')
        self.assertOneLine(lambda: load_infinity_checkpoint(var_pth), 'a VAR checkpoint', '--var')
        self.assertOneLine(lambda: load_bsq_vae(vae_pth), 'a VAR checkpoint', 'not a BSQ VAE')
        inf, bsq = os.path.join(A, 'infinity.pth'), os.path.join(A, 'vae.pth')
        self.assertOneLine(
            lambda: extract(load_torch(inf), 'var', inf), 'an Infinity checkpoint (its transformer)', '--infinity'
        )
        self.assertOneLine(
            lambda: extract(load_torch(bsq), 'vae', bsq), 'an Infinity checkpoint (its BSQ VAE)', '--infinity'
        )


if __name__ == '__main__':
    unittest.main()
