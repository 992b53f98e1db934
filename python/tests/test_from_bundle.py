"""varscope.from_bundle on the embedded default bundles: the recovered checkpoints export back to exactly the
bundle's weights (the float32 final bundle and the float16 early one), the command line writes loadable
checkpoints, and a bundle of another layout is refused. (The fixture case, recovered == official checkpoints,
is in test_export.py, which exports the fixture bundle.)"""
import contextlib
import io
import json
import os
import tempfile
import unittest

from varscope.bundle.checkpoint import load_models
from varscope.bundle.from_bundle import BundleImportError, check, main, recover

from .fixtures import REPO

MODELS = os.path.join(REPO, 'models')


class FromBundleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.final = recover(os.path.join(MODELS, 'emoji64-d4'), log=lambda _: None)

    def test_final_and_early_bundles_export_back_to_their_own_weights(self):
        for bundle_id in ('emoji64-d4', 'emoji64-d4-early'):
            with self.subTest(bundle=bundle_id):
                bundle = os.path.join(MODELS, bundle_id)
                models = self.final if bundle_id == 'emoji64-d4' else recover(bundle, log=lambda _: None)
                self.assertEqual(check(models, bundle), [])
                self.assertTrue(models.has_hits)

    def test_a_changed_weight_is_noticed(self):
        w = self.final.var.state_dict()['blocks.1.ffn.fc2.weight']
        old = w[3, 5].item()
        w[3, 5] += 1e-3
        try:
            bad = check(self.final, os.path.join(MODELS, 'emoji64-d4'))
        finally:
            w[3, 5] = old
        # the one weight, transposed into an anonymous MatMul initializer of the three transformer graphs
        self.assertEqual([b.split()[0] for b in bad], ['transformer.onnx', 'attention.onnx', 'transformerStep.onnx'])

    def test_command_line_writes_checkpoints_the_loader_accepts(self):
        with tempfile.TemporaryDirectory() as out:
            with contextlib.redirect_stderr(io.StringIO()):
                self.assertEqual(main(['--bundle', os.path.join(MODELS, 'emoji64-d4'), '--out', out]), 0)
            m = load_models(os.path.join(out, 'vae.pth'), os.path.join(out, 'var.pth'))
            self.assertEqual((m.var_cfg.depth, m.var_cfg.embed_dim, m.vae_cfg.vocab_size), (4, 192, 512))
            self.assertTrue(m.has_hits)

    def test_refuses_a_bundle_of_another_layout(self):
        # a manifest that says depth 3 over graphs of depth 4: the weights cannot be laid out as a depth-3 export
        src = os.path.join(MODELS, 'emoji64-d4')
        with open(os.path.join(src, 'varscope.json'), encoding='utf-8') as f:
            m = json.load(f)
        m['var']['depth'] = 3
        for spec in m['graphs'].values():
            spec['file'] = os.path.join(src, spec['file'])
        for key in ('codebook', 'trainingHits'):
            m[key]['file'] = os.path.join(src, m[key]['file'])
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, 'varscope.json'), 'w', encoding='utf-8') as f:
                json.dump(m, f)
            with self.assertRaisesRegex(BundleImportError, r'transformerStep\.onnx: its weights are not laid out'):
                recover(tmp, log=lambda _: None)
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                self.assertEqual(main(['--bundle', tmp, '--out', os.path.join(tmp, 'out')]), 2)
            self.assertIn('error: transformerStep.onnx', err.getvalue())


if __name__ == '__main__':
    unittest.main(verbosity=2)
