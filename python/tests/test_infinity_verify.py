"""The Infinity export's self-verification (varscope/infinity/verify.py): an exported bundle passes and records its
worst differences; the same bundle with its weights moved by 1 % fails, naming the graphs' outputs; a VAR bundle is
refused."""
import json
import os
import tempfile
import unittest

import numpy as np
import torch

from varscope.infinity.export import export, parse_args
from varscope.infinity.load import load_bsq_vae, load_infinity_checkpoint
from varscope.infinity.verify import VerificationError, main, read_manifest, verify

from .test_infinity_reference import INFINITY_FIXTURES

FIXTURE = os.path.join(INFINITY_FIXTURES, 'infinity-A')
VAE, INF = os.path.join(FIXTURE, 'vae.pth'), os.path.join(FIXTURE, 'infinity.pth')


class InfinityVerifyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(2)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.bundle = os.path.join(cls.tmp.name, 'a')
        export(parse_args(['--vae', VAE, '--infinity', INF, '--out', cls.bundle, '--no-verify']), log=lambda _: None)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def models(self):
        return [load_bsq_vae(VAE), load_infinity_checkpoint(INF, '')]

    def test_an_export_passes_and_records_every_graph(self):
        manifest = read_manifest(self.bundle)
        self.assertNotIn('verification', manifest['provenance'])  # --no-verify
        models = self.models()
        summary = verify(self.bundle, manifest, models, log=lambda _: None)
        self.assertEqual(models, [])  # released before the graphs ran
        expected = {
            'bsqEncoder.latent', 'bsqEncoder.bits', 'bsqEncoder.residual', 'bitsToLatent.latent',
            'bitsToLatent.nextInput', 'bsqDecoder.image', 'infinityTransformer.logits', 'infinityStep.logits',
        }  # fmt: skip
        attention = {'infinityAttention.selfAttention', 'infinityAttention.crossAttention'}
        self.assertEqual(set(summary), expected | attention)
        self.assertEqual(summary['bsqEncoder.bits'], 0.0)
        self.assertLessEqual(summary['infinityTransformer.logits'], 5e-5)
        self.assertLessEqual(summary['infinityStep.logits'], 5e-5)
        for key in attention:
            self.assertLessEqual(summary[key], 5e-5)
        # a bundle exported before the attention graph verifies the graphs it has
        for entry in manifest['schedules']:
            del entry['graphs']['infinityAttention']
        self.assertEqual(set(verify(self.bundle, manifest, self.models(), log=lambda _: None)), expected)

    def test_moved_weights_fail_by_name(self):
        with tempfile.TemporaryDirectory() as work:
            moved = os.path.join(work, 'moved')
            os.makedirs(moved)
            for f in os.listdir(self.bundle):
                data = open(os.path.join(self.bundle, f), 'rb').read()
                if f == 'weights.bin':
                    data = (np.frombuffer(data, '<f4') * np.float32(1.01)).astype('<f4').tobytes()
                open(os.path.join(moved, f), 'wb').write(data)
            with self.assertRaises(VerificationError) as caught:
                verify(moved, read_manifest(moved), self.models(), log=lambda _: None)
            message = str(caught.exception)
            self.assertIn('infinityTransformer', message)
            self.assertIn('infinityStep', message)

    def test_the_command_records_the_result_and_refuses_a_var_bundle_or_a_damaged_manifest(self):
        with tempfile.TemporaryDirectory() as work:
            copy = os.path.join(work, 'copy')
            os.makedirs(copy)
            for f in os.listdir(self.bundle):
                open(os.path.join(copy, f), 'wb').write(open(os.path.join(self.bundle, f), 'rb').read())
            self.assertEqual(main(['--vae', VAE, '--infinity', INF, '--bundle', copy]), 0)
            with open(os.path.join(copy, 'varscope.json')) as f:
                self.assertEqual(json.load(f)['provenance']['verification']['bsqEncoder.bits'], 0.0)
            with open(os.path.join(copy, 'varscope.json'), 'w') as f:
                json.dump({'family': 'var'}, f)
            self.assertEqual(main(['--vae', VAE, '--infinity', INF, '--bundle', copy]), 2)
            with open(os.path.join(copy, 'varscope.json'), 'w') as f:
                json.dump({'family': 'infinity', 'schedules': 'none'}, f)  # a damaged manifest: one line, no stack
            self.assertEqual(main(['--vae', VAE, '--infinity', INF, '--bundle', copy]), 2)


if __name__ == '__main__':
    unittest.main()
