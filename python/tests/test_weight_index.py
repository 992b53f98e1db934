"""varscope.bundle.weight_index on the default model: the checkpoints recovered by from_bundle, written as an index
into the bundle's own weights.bin plus a small leftover (how bench/gpu-check.sh ships them), read back bit for bit,
and load into the same models; a changed weights file is refused."""
import contextlib
import io
import json
import os
import shutil
import tempfile
import unittest

import torch

from varscope.bundle.checkpoint import models_from_state_dicts
from varscope.bundle.from_bundle import main, recover
from varscope.bundle.weight_index import WeightIndexError, read_index, write_index

from .fixtures import REPO

BUNDLE = os.path.join(REPO, 'models', 'emoji64-d4')
WEIGHTS = os.path.join(BUNDLE, 'weights.bin')


def same_bits(a, b) -> bool:
    """Equal dtype, shape and bytes (NaN and -0.0 included)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.contiguous().numpy().tobytes() == b.numpy().tobytes()


class WeightIndexTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        models = recover(BUNDLE, log=lambda _: None)
        cls.checkpoints = {'vae': models.vae.state_dict(), 'var': models.var.state_dict()}
        cls.tmp = tempfile.mkdtemp()
        cls.index = os.path.join(cls.tmp, 'index.json')
        cls.counts = write_index(cls.checkpoints, WEIGHTS, cls.index)
        cls.rebuilt = read_index(cls.index)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_every_entry_comes_back_bit_for_bit_in_order(self):
        self.assertEqual(list(self.rebuilt), ['vae', 'var'])
        for name, ckpt in self.checkpoints.items():
            self.assertEqual(list(self.rebuilt[name]), list(ckpt))
            for key, value in ckpt.items():
                with self.subTest(checkpoint=name, key=key):
                    self.assertTrue(same_bits(value, self.rebuilt[name][key]))
                    self.assertTrue(self.rebuilt[name][key].is_contiguous())

    def test_the_weights_come_from_the_bundle_and_the_leftover_is_small(self):
        with open(self.index, encoding='utf-8') as f:
            index = json.load(f)
        entries = index['checkpoints']
        total = sum(v.numel() * v.element_size() for c in self.checkpoints.values() for v in c.values())
        # 16 306 240 of 18 223 052 bytes (89.5 %) point into weights.bin: every weight matrix and convolution kernel
        self.assertGreater(self.counts['indexedBytes'], 0.89 * total)
        # Linear weights are stored transposed by torch.onnx: found as such, not copied
        self.assertTrue(entries['var']['blocks.0.ffn.fc1.weight']['transposed'])
        self.assertFalse(entries['vae']['encoder.conv_in.weight']['transposed'])
        # the leftover: small vectors the graphs keep inline, the training hits (in trainingHits.bin), and the
        # attention mask (a buffer of 680 x 680 float32, 1 849 600 bytes, which the graphs build from the scales)
        leftover = [(n, k) for n, c in entries.items() for k, e in c.items() if e is None]
        self.assertEqual(len(leftover), self.counts['leftover'])
        self.assertIn(('var', 'attn_bias_for_masking'), leftover)
        rest = sum(self.checkpoints[n][k].numel() * self.checkpoints[n][k].element_size() for n, k in leftover)
        self.assertLess(rest - 1849600, 80_000)  # 67 212 bytes
        self.assertLess(self.counts['leftoverBytes'], 2_000_000)  # 1 974 113 bytes (55 kB in the .tar.xz)

    def test_the_rebuilt_checkpoints_load_into_the_same_models(self):
        rebuilt = {n: {k: v.clone() for k, v in c.items()} for n, c in self.rebuilt.items()}
        m = models_from_state_dicts(rebuilt['vae'], rebuilt['var'])
        self.assertEqual((m.var_cfg.depth, m.var_cfg.embed_dim, m.vae_cfg.vocab_size), (4, 192, 512))
        self.assertTrue(m.has_hits)
        for name, model in (('vae', m.vae), ('var', m.var)):
            sd = model.state_dict()
            self.assertEqual(list(sd), list(self.checkpoints[name]))
            for key, value in self.checkpoints[name].items():
                with self.subTest(checkpoint=name, key=key):
                    self.assertTrue(same_bits(value, sd[key]))

    def test_a_changed_weights_file_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            weights = os.path.join(tmp, 'weights.bin')
            shutil.copyfile(WEIGHTS, weights)
            index = os.path.join(tmp, 'index.json')
            write_index(self.checkpoints, weights, index)
            self.assertTrue(same_bits(self.checkpoints['var']['head.weight'], read_index(index)['var']['head.weight']))
            with open(weights, 'r+b') as f:
                f.seek(os.path.getsize(weights) // 2)
                byte = f.read(1)
                f.seek(-1, os.SEEK_CUR)
                f.write(bytes([byte[0] ^ 1]))
            with self.assertRaisesRegex(WeightIndexError, r'weights\.bin is not the weights file the index was made'):
                read_index(index)
            os.remove(weights)
            with self.assertRaisesRegex(WeightIndexError, r'its weights file .*weights\.bin is missing'):
                read_index(index)

    def test_command_line_writes_the_index_beside_the_bundle_weights(self):
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(BUNDLE, os.path.join(tmp, 'model'), ignore=shutil.ignore_patterns('card'))
            out = os.path.join(tmp, 'checkpoints')
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                self.assertEqual(main(['--bundle', os.path.join(tmp, 'model'), '--out', out, '--index']), 0)
            self.assertEqual(sorted(os.listdir(out)), ['index.json', 'index.leftover.pth'])
            self.assertIn('118 tensors, 16306240 bytes in weights.bin', err.getvalue())
            with open(os.path.join(out, 'index.json'), encoding='utf-8') as f:
                self.assertEqual(json.load(f)['weights'], os.path.join('..', 'model', 'weights.bin'))
            # the two folders travel together (as in the gpu-check archive)
            moved = os.path.join(tmp, 'moved')
            os.mkdir(moved)
            for d in ('model', 'checkpoints'):
                shutil.move(os.path.join(tmp, d), moved)
            rebuilt = read_index(os.path.join(moved, 'checkpoints', 'index.json'))
            for name, ckpt in self.checkpoints.items():
                self.assertTrue(all(same_bits(v, rebuilt[name][k]) for k, v in ckpt.items()))


if __name__ == '__main__':
    unittest.main(verbosity=2)
