"""The BSQ tokenizer's ONNX graphs, run by onnxruntime-node (tools/verify_bundle.js), against the official
fixtures: bits exact, latents and inputs within 5e-5, images within 1e-3 (the VAR tolerances).

NOTE: onnxruntime for Python is not installed beside either torch here; the engine's own runtime runs the graphs."""
import json
import os
import tempfile
import unittest

import numpy as np
import torch

from varscope.bundle.verify import run_verifier
from varscope.infinity.inputs import load_image_input
from varscope.infinity.load import load_bsq_vae
from varscope.infinity.onnx_export import export_tokenizer

from .test_infinity_reference import FLOAT_TOL, IMAGE_TOL, INFINITY_FIXTURES, NAMES


def write_case(directory: str, cases: list, name: str, graph: str, inputs: dict, outputs: dict) -> None:
    """One verify_bundle.js case; arrays keep their dtype (uint8 bits, float32 tensors)."""

    def save(kind, key, arr):
        file = f'{name}.{kind}.{key}.npy'
        np.save(os.path.join(directory, file), np.ascontiguousarray(arr))
        return file

    cases.append(
        {
            'name': name,
            'graph': graph,
            'inputs': {k: save('in', k, v) for k, v in inputs.items()},
            'outputs': {k: save('out', k, v) for k, v in outputs.items()},
        }
    )


def tolerance(key: str) -> float:
    """Per '<case>.<output>': bits exact, images IMAGE_TOL, the rest FLOAT_TOL."""
    return 0.0 if key.endswith('.bits') else IMAGE_TOL if key.startswith('bsqDecoder') else FLOAT_TOL


class InfinityTokenizerOnnxTest(unittest.TestCase):
    def test_graphs_reproduce_the_official_tokenizer(self):
        torch.set_num_threads(2)
        for name in NAMES:
            folder = os.path.join(INFINITY_FIXTURES, name)
            npy = lambda f: np.load(os.path.join(folder, f'{f}.npy'))  # noqa: E731
            with open(os.path.join(folder, 'config.json')) as f:
                schedule = [tuple(s) for s in json.load(f)['schedule']['vae_scale_schedule']]
            vae = load_bsq_vae(os.path.join(folder, 'vae.pth'))
            with tempfile.TemporaryDirectory() as bundle, tempfile.TemporaryDirectory() as cases_dir:
                export_tokenizer(vae, schedule, bundle)
                image = load_image_input(os.path.join(folder, 'image.png')).numpy()
                two = lambda a: np.concatenate([a[None], a[None]])  # noqa: E731  (batch 2: the dynamic axis)
                cases = []
                write_case(
                    cases_dir,
                    cases,
                    'bsqEncoder',
                    'bsqEncoder',
                    {'image': np.concatenate([image, image])},
                    {'latent': two(npy('tok_h')), 'bits': two(npy('tok_bits')), 'residual': two(npy('tok_residual'))},
                )
                write_case(
                    cases_dir,
                    cases,
                    'bitsToLatent',
                    'bitsToLatent',
                    {'bits': npy('tok_bits')[None]},
                    {'latent': npy('tok_fhat')[-1][None], 'nextInput': npy('tf_x_wo_prefix')[None]},
                )
                write_case(
                    cases_dir,
                    cases,
                    'bsqDecoder',
                    'bsqDecoder',
                    {'latent': npy('tok_fhat')[-1][None]},
                    {'image': npy('tok_dec').astype(np.float32)[None]},
                )
                with open(os.path.join(cases_dir, 'cases.json'), 'w') as f:
                    json.dump(cases, f)
                diffs = run_verifier(bundle, cases_dir)
            self.assertEqual(len(diffs), 6, name)
            for key, diff in diffs.items():
                self.assertLessEqual(diff, tolerance(key), f'{name} {key}')


if __name__ == '__main__':
    unittest.main()
