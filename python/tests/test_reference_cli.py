"""The reference command line on a fixture image: files it writes hold the official values."""
import contextlib
import io
import json
import os
import tempfile
import unittest

import numpy as np

from varscope.model.reference import main

from .fixtures import fixture, npy


class ReferenceCliTest(unittest.TestCase):
    def test_outputs_match_fixture(self):
        with tempfile.TemporaryDirectory() as out:
            with contextlib.redirect_stdout(io.StringIO()):
                rc = main(
                    [
                        '--vae',
                        fixture('vae.pth'),
                        '--var',
                        fixture('var.pth'),
                        '--image',
                        fixture('img0.png'),
                        '--out',
                        out,
                        '--class',
                        '3',
                        '--repeats',
                        '1',
                        '--cfg',
                        '2',
                        '--top-k',
                        '1',
                    ]
                )
            self.assertEqual(rc, 0)
            np.testing.assert_array_equal(np.load(os.path.join(out, 'tokens.npy')), npy('img0_idx.npy'))
            self.assertLessEqual(
                float(np.abs(np.load(os.path.join(out, 'logits.npy')) - npy('img0_logits_c3.npy')).max()), 5e-5
            )
            self.assertLessEqual(
                float(np.abs(np.load(os.path.join(out, 'decoded.npy')) - npy('img0_dec.npy').astype(np.float32)).max()),
                1e-3,
            )
            # top-k 1 generation is greedy: every generated token is the argmax of its CFG logits
            gen, logits = np.load(os.path.join(out, 'gen_tokens.npy')), np.load(os.path.join(out, 'gen_logits.npy'))
            np.testing.assert_array_equal(gen, logits.argmax(-1))
            with open(os.path.join(out, 'timings.json')) as f:
                timings = json.load(f)
            for key in (
                'encode_quantize',
                'teacher_forced_B1',
                'decode_all_scales_batched',
                'generate_kv_cfg_B1_without_decode',
            ):
                self.assertGreater(timings[key], 0, key)


if __name__ == '__main__':
    unittest.main(verbosity=2)
