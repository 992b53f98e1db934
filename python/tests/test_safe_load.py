"""Safe loading: the official trainer checkpoint (with a real AdamW state and plain-data args), safetensors,
and files that must be refused (code in a pickle, objects that are not data, bytes that are no checkpoint)."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from collections import OrderedDict

import numpy as np
import torch

from varscope.bundle.checkpoint import CheckpointError, build_var, infer_var_config, load_models, roles, torch_load
from varscope.bundle.safe_load import load_safetensors, save_safetensors

from .fixtures import PACKAGE_DIR, REPO, config, fixture, npy

VAE, VAR = fixture('vae.pth'), fixture('var.pth')


class _MakesFile:
    """A pickle whose __reduce__ would create a file when loaded by a plain unpickler."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


class SafeLoadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(2)
        torch.manual_seed(0)
        cls.tmp = tempfile.mkdtemp(prefix='varscope-safe-')
        cls.vae_sd = torch.load(VAE, map_location='cpu')
        cls.var_sd = torch.load(VAR, map_location='cpu')
        # The official trainer's layout (trainer.py VARTrainer.state_dict, train.py's torch.save) with a real AdamW
        # state after one step; `args` is Args.state_dict(): an OrderedDict of plain values, floats among them.
        var = build_var(infer_var_config(cls.var_sd))
        var.load_state_dict(cls.var_sd)
        opt = torch.optim.AdamW(var.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
        for p in var.parameters():
            p.grad = torch.randn_like(p) * 1e-3
        opt.step()
        cls.opt_state = opt.state_dict()
        cls.trainer_path = os.path.join(cls.tmp, 'ar-ckpt-last.pth')
        torch.save(
            {
                'epoch': 3,
                'iter': 0,
                'trainer': {
                    'config': {
                        'patch_nums': tuple(config()['patch_nums']),
                        'resos': tuple(16 * p for p in config()['patch_nums']),
                        'label_smooth': 0.1,
                        'prog_it': 0,
                        'last_prog_si': -1,
                        'first_prog': True,
                    },
                    'var_wo_ddp': cls.var_sd,
                    'vae_local': cls.vae_sd,
                    'var_opt': {'optimizer': cls.opt_state},
                },
                'args': OrderedDict(
                    depth=2,
                    tblr=1e-4,
                    tlr=1.25e-5,
                    twd=0.05,
                    cfg=(1.5, 2.5),
                    data_path='/data/imagenet',
                    fp16=1,
                    hflip=False,
                    commit_msg=None,
                    patch_nums='1_2_3_4_5_6_8_10_13_16',
                ),
            },
            cls.trainer_path,
        )

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def test_trainer_checkpoint_loads_without_code(self):
        obj = torch_load(self.trainer_path)
        self.assertEqual(obj['args']['tlr'], 1.25e-5)
        self.assertEqual(obj['args']['cfg'], (1.5, 2.5))
        loaded_opt = obj['trainer']['var_opt']['optimizer']
        self.assertEqual(loaded_opt['param_groups'][0]['betas'], (0.9, 0.95))
        for k, st in self.opt_state['state'].items():
            for name, t in st.items():
                self.assertTrue(torch.equal(loaded_opt['state'][k][name], t), f'optimizer state {k}.{name}')
        self.assertEqual(roles(self.trainer_path), ['vae', 'var'])

    def test_trainer_checkpoint_gives_the_official_tokens_and_logits(self):
        m = load_models(self.trainer_path, self.trainer_path)
        ref = load_models(VAE, VAR)
        for (k, a), (k2, b) in zip(m.var.state_dict().items(), ref.var.state_dict().items()):
            self.assertEqual(k, k2)
            self.assertTrue(torch.equal(a, b), k)
        with torch.no_grad():
            x = torch.from_numpy(npy('img0_input.npy'))
            idx = m.vae.img_to_idxBl(x)
            np.testing.assert_array_equal(torch.cat(idx, dim=1).numpy(), npy('img0_idx.npy'))
            logits = m.var(torch.tensor([config()['class_label']]), m.vae.quantize.idxBl_to_var_input(idx))
        self.assertLessEqual(float((logits - torch.from_numpy(npy('img0_logits_c3.npy'))).abs().max()), 5e-5)

    def test_trainer_checkpoint_exports_to_the_official_tokens(self):
        # One file for both models through the exporter (which verifies its graphs against PyTorch), then the
        # engine (the CLI) on the exported bundle: the official tokens of every scale.
        out = self.path('trainer-bundle')
        env = dict(os.environ, PYTHONPATH=PACKAGE_DIR)
        proc = subprocess.run(
            [
                sys.executable,
                '-m',
                'varscope.export',
                '--vae',
                self.trainer_path,
                '--var',
                self.trainer_path,
                '--out',
                out,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=1200,
        )
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        cli = os.path.join(REPO, 'out', 'src', 'cli', 'main.js')
        if not os.path.isfile(cli):
            cli = os.path.join(REPO, 'dist', 'cli.js')
        self.assertTrue(os.path.isfile(cli), 'build the CLI first (npx tsc -p tsconfig.json)')
        inspect = subprocess.run(
            [
                'node',
                os.path.join(REPO, 'bin', 'varscope.js'),
                'inspect',
                fixture('img0.png'),
                '--model',
                out,
                '--provider',
                'cpu',
                '--json',
                '-',
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env=dict(os.environ, VARSCOPE_CLI=cli),
        )
        self.assertEqual(inspect.returncode, 0, inspect.stderr)
        import json

        tokens = [t for s in json.loads(inspect.stdout)['scales'] for t in s['tokens']]
        np.testing.assert_array_equal(np.array(tokens), npy('img0_idx.npy').reshape(-1))

    def test_safetensors_round_trip(self):
        path = self.path('model.safetensors')
        extra = {
            'bf16': torch.randn(3, 5).to(torch.bfloat16),
            'scalar': torch.tensor(7, dtype=torch.int64),
            'empty': torch.zeros(0, 4),
            'flags': torch.tensor([True, False, True]),
        }
        save_safetensors(dict(self.var_sd, **extra), path, metadata={'format': 'pt'})
        back = load_safetensors(path)
        self.assertEqual(list(back), list(self.var_sd) + list(extra))
        for k, v in dict(self.var_sd, **extra).items():
            self.assertEqual(back[k].dtype, v.dtype, k)
            self.assertTrue(torch.equal(back[k], v), k)
        var_only = self.path('var.safetensors')
        save_safetensors(self.var_sd, var_only)
        m = load_models(VAE, var_only)  # a VARHF-style VAR file, with its VAE beside it
        self.assertTrue(torch.equal(m.var.head.weight, self.var_sd['head.weight']))
        self.assertEqual(roles(var_only), ['var'])

    def test_damaged_safetensors_are_refused(self):
        path = self.path('bad.safetensors')
        save_safetensors({'w': torch.ones(4, 4)}, path)
        with open(path, 'rb') as f:
            data = f.read()
        with open(path, 'wb') as f:
            f.write(data[:-8])  # the data section is shorter than the header says
        with self.assertRaises(CheckpointError) as ctx:
            torch_load(path)
        self.assertIn('safetensors', str(ctx.exception))
        with self.assertRaises(CheckpointError) as ctx:
            roles(path)  # the header alone shows it
        self.assertIn('do not hold [4, 4] F32', str(ctx.exception))

    def test_pickle_that_creates_a_file_is_refused(self):
        target = self.path('pwned.txt')
        path = self.path('evil.pth')
        torch.save({'w': torch.zeros(2), 'x': _MakesFile(target)}, path)
        with self.assertRaises(CheckpointError) as ctx:
            torch_load(path)
        self.assertFalse(os.path.exists(target))
        with self.assertRaises(CheckpointError):
            roles(path)  # the structure-only reading refuses it too
        self.assertFalse(os.path.exists(target))
        self.assertIn('io.open', str(ctx.exception))  # builtins.open is io.open
        self.assertNotIn('weights_only=False', str(ctx.exception))

    def test_legacy_pickle_that_creates_a_file_is_refused(self):
        target = self.path('pwned-legacy.txt')
        path = self.path('evil-legacy.pth')
        torch.save({'w': torch.zeros(2), 'x': _MakesFile(target)}, path, _use_new_zipfile_serialization=False)
        with self.assertRaises(CheckpointError):
            torch_load(path)
        with self.assertRaises(CheckpointError):
            roles(path)
        self.assertFalse(os.path.exists(target))
        legacy = self.path('legacy-var.pth')
        torch.save(self.var_sd, legacy, _use_new_zipfile_serialization=False)
        self.assertEqual(roles(legacy), ['var'])
        self.assertTrue(torch.equal(torch_load(legacy)['head.weight'], self.var_sd['head.weight']))

    def test_object_that_is_not_data_is_named(self):
        import argparse

        path = self.path('namespace.pth')
        torch.save({'trainer': {'var_wo_ddp': self.var_sd}, 'args': argparse.Namespace(depth=2, lr=1e-4)}, path)
        with self.assertRaises(CheckpointError) as ctx:
            load_models(VAE, path)
        msg = str(ctx.exception)
        self.assertIn('argparse.Namespace', msg)
        self.assertIn('holds a Python object', msg)
        self.assertNotIn('weights_only=False', msg)

    def test_random_bytes_are_not_a_checkpoint(self):
        rng = np.random.default_rng(1)
        for i, head in enumerate((b'', b'\x80\x02', b'PK\x03\x04')):  # also bytes that start like a pickle or a zip
            path = self.path(f'random{i}.pth')
            with open(path, 'wb') as f:
                f.write(head + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
            with self.assertRaises(CheckpointError) as ctx:
                torch_load(path)
            msg = str(ctx.exception)
            self.assertIn('not a PyTorch checkpoint', msg, msg)
            self.assertNotIn('Python object', msg)
            self.assertNotIn('weights_only', msg)

    def test_describe_cli(self):
        env = dict(os.environ, PYTHONPATH=PACKAGE_DIR)
        junk = self.path('junk.bin')
        with open(junk, 'wb') as f:
            f.write(b'hello world')
        out = subprocess.run(
            [sys.executable, '-m', 'varscope.describe', self.trainer_path, VAE, junk],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        import json

        files = json.loads(out.stdout.strip().splitlines()[-1])['files']
        self.assertEqual([f['roles'] for f in files], [['vae', 'var'], ['vae'], []])
        self.assertIn('not a PyTorch checkpoint', files[2]['error'])


if __name__ == '__main__':
    unittest.main(verbosity=2)
