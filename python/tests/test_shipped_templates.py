"""The architecture templates shipped in templates/ (tools/build_templates.py) are current and whole: each one's key is
the key the current exporter gives its configuration (its manifest's template.facts, rebuilt into the configurations
the exporter infers), so bumping the exporter without rebuilding them fails here; and each of its files is the one its
manifest records (sha256 and size)."""
import hashlib
import json
import os
import unittest
from dataclasses import fields

from varscope import EXPORTER_VERSION, ROOT
from varscope.bundle.checkpoint import VaeConfig, VarConfig
from varscope.bundle.weight_map import FILE, template_key, unplaced_keys

TEMPLATES = os.path.join(ROOT, 'templates')
REBUILD = 'PYTHONPATH=python .venv-torch2/bin/python tools/build_templates.py'
# The released configurations, each built and shipped: the official VQ-VAE with var_d16, d20, d24 and d30 at 256 px,
# and d36-s at 512 px.
RELEASED = ['var-d16-256', 'var-d20-256', 'var-d24-256', 'var-d30-256', 'var-d36s-512']


def config(cls, values: dict):
    """A configuration dataclass from its JSON (which writes 4.0 as 4 and tuples as lists), typed as the exporter has it."""
    typed = {'float': float, float: float}
    return cls(
        **{
            k: tuple(v) if isinstance(v, list) else typed.get(f.type, lambda x: x)(v)
            for f in fields(cls)
            for k, v in [(f.name, values[f.name])]
        },
        **{k: v for k, v in values.items() if k not in {f.name for f in fields(cls)}},
    )


def manifest(name: str) -> dict:
    with open(os.path.join(TEMPLATES, name, 'varscope.json'), encoding='utf-8') as f:
        return json.load(f)


class ShippedTemplatesTest(unittest.TestCase):
    def setUp(self):
        self.names = sorted(os.listdir(TEMPLATES))

    def test_the_released_sizes_are_shipped(self):
        for name in RELEASED:
            self.assertIn(name, self.names)

    def test_each_key_is_the_current_exporters(self):
        for name in self.names:
            m = manifest(name)
            facts = m['template']['facts']
            stale = f'templates/{name} was built by exporter {facts["exporter"]}, this is {EXPORTER_VERSION}; rebuild with {REBUILD}'
            try:
                vae, var = config(VaeConfig, facts['vae']), config(VarConfig, facts['var'])
            except (TypeError, KeyError) as e:  # the configuration gained or lost a field since
                self.fail(f'{stale} ({e})')
            self.assertEqual(m['template']['key'], template_key(vae, var, facts['fp16']), stale)
            with open(os.path.join(TEMPLATES, name, FILE), encoding='utf-8') as f:
                self.assertEqual(json.load(f)['key'], m['template']['key'], f'{name}: {FILE} names another key')

    def test_each_places_every_checkpoint_tensor(self):
        # one whose export merged tensors of equal value reads one tensor where a trained checkpoint has several
        for name in self.names:
            with open(os.path.join(TEMPLATES, name, FILE), encoding='utf-8') as f:
                self.assertEqual(unplaced_keys(json.load(f)), {}, f'{name}: rebuild it with {REBUILD}')

    def test_each_is_whole(self):
        for name in self.names:
            files = manifest(name)['files']
            self.assertEqual(sorted(os.listdir(os.path.join(TEMPLATES, name))), sorted([*files, 'varscope.json']), name)
            for file, want in files.items():
                with open(os.path.join(TEMPLATES, name, file), 'rb') as f:
                    data = f.read()
                self.assertEqual(len(data), want['bytes'], f'{name}/{file}')
                self.assertEqual(
                    hashlib.sha256(data).hexdigest(), want['sha256'], f'{name}/{file}: not the recorded file'
                )
            self.assertEqual(manifest(name)['template']['constants'], 'constants.bin', name)


if __name__ == '__main__':
    unittest.main()
