"""Strict checkpoint loading: nesting, configuration inference, and clear errors for bad inputs."""
import os
import shutil
import tempfile
import unittest

import torch

from varscope.bundle.checkpoint import CheckpointError, infer_patch_nums, load_models

from .fixtures import config, fixture

VAE, VAR = fixture('vae.pth'), fixture('var.pth')


class CheckpointTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(2)
        cls.tmp = tempfile.mkdtemp(prefix='varscope-ckpt-')
        cls.vae_sd = torch.load(VAE, map_location='cpu')
        cls.var_sd = torch.load(VAR, map_location='cpu')

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def save(self, name, obj):
        path = os.path.join(self.tmp, name)
        torch.save(obj, path)
        return path

    def assertError(self, vae, var, *fragments):
        with self.assertRaises(CheckpointError) as ctx:
            load_models(vae, var)
        for frag in fragments:
            self.assertIn(frag, str(ctx.exception))

    def test_trainer_checkpoint_nesting(self):
        path = self.save(
            'ar-ckpt-last.pth',
            {
                'epoch': 3,
                'iter': 10,
                'args': {'depth': 2},
                'trainer': {'var_wo_ddp': self.var_sd, 'vae_local': self.vae_sd},
            },
        )
        m = load_models(path, path)
        self.assertEqual(m.var_cfg.depth, config()['var_constructor_args']['depth'])
        self.assertTrue(torch.equal(m.var.head.weight, self.var_sd['head.weight']))
        self.assertTrue(torch.equal(m.vae.quantize.embedding.weight, self.vae_sd['quantize.embedding.weight']))

    def test_module_prefix_is_stripped(self):
        path = self.save('ddp.pth', {'module.' + k: v for k, v in self.var_sd.items()})
        self.assertEqual(load_models(VAE, path).var_cfg.embed_dim, config()['var_constructor_args']['embed_dim'])

    def test_patch_nums_without_buffers(self):
        trimmed = {k: v for k, v in self.var_sd.items() if k not in ('lvl_1L', 'attn_bias_for_masking')}
        self.assertEqual(list(infer_patch_nums(trimmed, 'x')), config()['patch_nums'])
        only_mask = {k: v for k, v in self.var_sd.items() if k != 'lvl_1L'}
        self.assertEqual(list(infer_patch_nums(only_mask, 'x')), config()['patch_nums'])
        m = load_models(VAE, self.save('trimmed.pth', trimmed))
        self.assertTrue(torch.equal(m.var.attn_bias_for_masking, self.var_sd['attn_bias_for_masking']))

    def test_missing_file(self):
        self.assertError(os.path.join(self.tmp, 'nope.pth'), VAR, 'no such file')

    def test_empty_file(self):
        path = os.path.join(self.tmp, 'empty.pth')
        open(path, 'wb').close()
        self.assertError(VAE, path, 'empty file')

    def test_truncated_file(self):
        path = os.path.join(self.tmp, 'truncated.pth')
        with open(VAR, 'rb') as src, open(path, 'wb') as dst:
            dst.write(src.read(os.path.getsize(VAR) // 2))
        self.assertError(VAE, path, 'not a PyTorch checkpoint, truncated')

    def test_text_file(self):
        path = os.path.join(self.tmp, 'notes.pth')
        with open(path, 'w') as f:
            f.write('hello')
        self.assertError(path, VAR, 'not a PyTorch checkpoint')

    def test_pickled_objects_are_refused(self):
        import argparse

        path = self.save('with-args.pth', {'trainer': {'var_wo_ddp': self.var_sd}, 'args': argparse.Namespace(depth=2)})
        self.assertError(VAE, path, 'holds a Python object of type argparse.Namespace')

    def test_swapped_roles(self):
        self.assertError(VAR, VAE, 'VAR transformer checkpoint', 'given as the VAE')

    def test_vocab_mismatch(self):
        sd = dict(
            self.var_sd,
            **{'head.weight': self.var_sd['head.weight'][:256], 'head.bias': self.var_sd['head.bias'][:256]},
        )
        self.assertError(VAE, self.save('v256.pth', sd), 'vocab mismatch', 'V=512', 'V=256')

    def test_cvae_mismatch(self):
        sd = dict(self.var_sd, **{'word_embed.weight': torch.zeros(128, 8)})
        self.assertError(VAE, self.save('c8.pth', sd), 'Cvae mismatch')

    def test_unknown_key(self):
        sd = dict(self.var_sd, **{'blocks.0.attn.extra': torch.zeros(3)})
        self.assertError(VAE, self.save('extra.pth', sd), 'unknown keys', 'blocks.0.attn.extra')

    def test_missing_key(self):
        sd = {k: v for k, v in self.vae_sd.items() if k != 'decoder.conv_out.bias'}
        self.assertError(self.save('missing.pth', sd), VAR, 'missing keys', 'decoder.conv_out.bias')

    def test_not_a_model(self):
        self.assertError(self.save('other.pth', {'weight': torch.zeros(2)}), VAR, 'neither a VAR nor a VQ-VAE')


if __name__ == '__main__':
    unittest.main(verbosity=2)
