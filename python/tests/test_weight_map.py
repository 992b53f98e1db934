"""The weight map: two checkpoints of one architecture with different random weights export to the same layout,
the map accounts for every byte of the per-checkpoint files, and applying it to the second checkpoint reproduces
that checkpoint's files byte for byte (the graphs are the same bytes too)."""
import json
import os
import tempfile
import unittest

import torch

from varscope.bundle.bundle_spec import ROLES
from varscope.bundle.checkpoint import models_from_state_dicts
from varscope.bundle.export import write_codebook_and_hits
from varscope.bundle.onnx_export import export_all, round_to_float16
from varscope.bundle.onnx_store import ALIGN
from varscope.bundle.weight_map import FILE, apply_map, unplaced_keys, write_map
from tests.template_fixtures import random_checkpoints


def export(seed: int, out: str, fp16: bool):
    """export_all of checkpoint `seed` into out plus its codebook and map, as export.py writes them; returns the
    canonical state_dicts it was made from (copies: the model takes the tensors)."""
    vae_sd, var_sd = random_checkpoints(seed)
    kept = {'vae': {k: v.clone() for k, v in vae_sd.items()}, 'var': {k: v.clone() for k, v in var_sd.items()}}
    m = models_from_state_dicts(vae_sd, var_sd)
    if fp16:
        round_to_float16(m)
    store, origins = export_all(m, out, log=lambda *_: None, fp16=fp16)
    write_codebook_and_hits(m, out)
    write_map(out, m, store, origins, fp16)
    return kept


def read(path: str) -> bytes:
    with open(path, 'rb') as f:
        return f.read()


class WeightMapTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(2)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dirs, cls.sds = {}, {}
        for fp16 in (False, True):
            for seed in (1, 2):
                d = os.path.join(cls.tmp.name, f'{seed}-{fp16}')
                os.makedirs(d)
                cls.sds[seed, fp16] = export(seed, d, fp16)
                cls.dirs[seed, fp16] = d

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_the_map_accounts_for_every_byte(self):
        for fp16 in (False, True):
            d = self.dirs[1, fp16]
            with open(os.path.join(d, FILE)) as f:
                wmap = json.load(f)
            for name, spec in wmap['files'].items():
                data = read(os.path.join(d, name))
                self.assertEqual(len(data), spec['bytes'], name)
                end = 0
                for r in sorted(spec['regions'], key=lambda r: r['offset']):
                    self.assertGreaterEqual(r['offset'], end, f'{name}: regions overlap at {r["offset"]}')
                    self.assertLess(r['offset'] - end, ALIGN, f'{name}: bytes {end}..{r["offset"]} in no region')
                    self.assertEqual(data[end : r['offset']], bytes(r['offset'] - end), 'padding is zero')
                    count = 1
                    for n in r['shape']:
                        count *= n
                    self.assertEqual(
                        r['bytes'],
                        count * (2 if r['dtype'] == 'float16' else 4 if r['dtype'] in ('float32', 'int32') else 8),
                        r,
                    )
                    end = r['offset'] + r['bytes']
                self.assertEqual(end, len(data), f'{name}: the last region ends at the end of the file')
            sources = [r for r in wmap['files']['weights.bin']['regions'] if 'source' in r]
            self.assertGreater(len(sources), 50)
            self.assertEqual(wmap['files']['weights.bin']['regions'][0]['dtype'], 'float16' if fp16 else 'float32')

    def test_same_architecture_same_graphs_and_layout(self):
        for fp16 in (False, True):
            a, b = self.dirs[1, fp16], self.dirs[2, fp16]
            self.assertNotEqual(read(os.path.join(a, 'weights.bin')), read(os.path.join(b, 'weights.bin')))
            for role in ROLES:
                self.assertEqual(read(os.path.join(a, f'{role}.onnx')), read(os.path.join(b, f'{role}.onnx')), role)
            self.assertEqual(read(os.path.join(a, FILE)), read(os.path.join(b, FILE)), 'same map, same key')

    def test_applying_the_map_to_the_second_checkpoint_gives_its_files(self):
        for fp16 in (False, True):
            with tempfile.TemporaryDirectory() as out:
                names = apply_map(self.dirs[1, fp16], self.sds[2, fp16], out)
                self.assertEqual(sorted(names), ['codebook.bin', 'trainingHits.bin', 'weights.bin'])
                for name in names:
                    self.assertEqual(
                        read(os.path.join(out, name)), read(os.path.join(self.dirs[2, fp16], name)), f'{name} {fp16}'
                    )

    def test_a_checkpoint_with_tensors_of_equal_value_is_no_template(self):
        # An untrained model's zero biases and unit norms: torch.onnx merges initializers of equal value, so the
        # graphs read one tensor where another checkpoint of the architecture has several; no map may claim otherwise.
        vae_sd, var_sd = random_checkpoints(3)
        equal = [k for k in var_sd if k.endswith('attn.proj.bias')]
        self.assertGreater(len(equal), 1)
        for k in equal:
            var_sd[k].zero_()
        m = models_from_state_dicts(vae_sd, var_sd)
        with tempfile.TemporaryDirectory() as out:
            store, origins = export_all(m, out, log=lambda *_: None)
            self.assertIsNone(write_map(out, m, store, origins, False))
            self.assertFalse(os.path.exists(os.path.join(out, FILE)))
        with open(os.path.join(self.dirs[1, False], FILE)) as f:
            self.assertEqual(unplaced_keys(json.load(f)), {}, 'random weights: every tensor has its region')

    def test_the_key_names_the_float16_option(self):
        keys = {json.load(open(os.path.join(self.dirs[1, fp16], FILE)))['key'] for fp16 in (False, True)}
        self.assertEqual(len(keys), 2)


if __name__ == '__main__':
    unittest.main()
