"""Safe loading: the official trainer checkpoint (with a real AdamW state and plain-data args), safetensors,
and files that must be refused (code in a pickle, objects that are not data, bytes that are no checkpoint)."""
import io
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zipfile
import zlib
from collections import OrderedDict

import numpy as np
import torch

from varscope.bundle.checkpoint import CheckpointError, build_var, infer_var_config, load_models, roles, torch_load
from varscope.bundle.safe_load import NotACheckpoint, load_safetensors, save_safetensors

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

        files = json.loads(out.stdout.strip().splitlines()[-1])['files']
        self.assertEqual([f['roles'] for f in files], [['vae', 'var'], ['vae'], []])
        self.assertIn('not a PyTorch checkpoint', files[2]['error'])


# Hand-made damaged files: torch.save's layouts written piece by piece, so that one field can lie.
class _Storage:
    """A storage as torch.save's persistent id names it: (type, key, location, numel)."""

    def __init__(self, key, numel, storage_type=torch.FloatStorage):
        self.key, self.numel, self.storage_type = key, numel, storage_type


class _Tensor:
    """A tensor pickled as torch.save pickles it: _rebuild_tensor_v2(storage, offset, size, stride, ...)."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, torch.Size(size), tuple(stride), False, OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class _Pickler(pickle.Pickler):
    legacy = False

    def persistent_id(self, obj):
        if not isinstance(obj, _Storage):
            return None
        pid = ('storage', obj.storage_type, obj.key, 'cpu', obj.numel)
        return pid + (None,) if self.legacy else pid


def _pickled(obj, legacy=False) -> bytes:
    buf = io.BytesIO()
    pickler = _Pickler(buf, protocol=2)
    pickler.legacy = legacy
    pickler.dump(obj)
    return buf.getvalue()


def write_zip_checkpoint(path, obj, records):
    """torch.save's zip layout: archive/data.pkl, archive/data/<key> for each record, archive/version."""
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('archive/data.pkl', _pickled(obj))
        for key, data in records.items():
            z.writestr(f'archive/data/{key}', data)
        z.writestr('archive/version', b'3\n')


def write_legacy_checkpoint(path, obj, storages):
    """torch.save's legacy layout: magic number, protocol, system info, the pickle, its storage keys, then each
    storage as an 8-byte element count and its bytes. storages: [(key, count, data)]."""
    ser = torch.serialization
    info = dict(protocol_version=ser.PROTOCOL_VERSION, little_endian=True, type_sizes=dict(short=2, int=4, long=4))
    with open(path, 'wb') as f:
        for header in (ser.MAGIC_NUMBER, ser.PROTOCOL_VERSION, info):
            f.write(pickle.dumps(header, protocol=2))
        f.write(_pickled(obj, legacy=True))
        f.write(pickle.dumps([key for key, _, _ in storages], protocol=2))
        for _, count, data in storages:
            f.write(struct.pack('<q', count) + data)


def write_zip(path, members):
    """A zip written field by field, so that sizes can lie: members are (name, method, payload, declared size)."""
    out, central = bytearray(), bytearray()
    for name, method, payload, size in members:
        offset, raw = len(out), name.encode()
        fields = (method, 0, 0x21, 0, len(payload), size, len(raw), 0)  # method, time, date, crc, sizes, name, extra
        out += struct.pack('<IHHHHHIIIHH', 0x04034B50, 20, 0, *fields) + raw + payload
        central += struct.pack('<IHHHHHHIIIHHHHHII', 0x02014B50, 20, 20, 0, *fields, 0, 0, 0, 0, offset) + raw
    end = struct.pack('<IHHHHIIH', 0x06054B50, 0, 0, len(members), len(members), len(central), len(out), 0)
    with open(path, 'wb') as f:
        f.write(bytes(out + central) + end)


def deflated_zeros(mib: int) -> bytes:
    """A raw deflate stream of `mib` MiB of zeros, about 1 KB a MiB, made without ever holding them: one fully
    flushed MiB repeated (each flushed block stands alone)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    unit = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    return unit * mib + c.flush()


# Loads one file (whole, then its structure) in a fresh interpreter with its address space capped at 2 GiB past
# what torch takes, and reports the refusals, the time they took and how much the resident set grew: a zip bomb
# inflated by mistake fails the test (out of memory, or slow and large) instead of taking the machine.
_MEASURED_LOAD = '''
import json, resource, sys, time
import torch
torch.set_num_threads(2)
from varscope.bundle.checkpoint import CheckpointError, torch_load
vm = [int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmSize')][0]
resource.setrlimit(resource.RLIMIT_AS, (vm + (2 << 30), resource.RLIM_INFINITY))
before, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.time()
errors = []
for structure_only in (False, True):
    try:
        torch_load(sys.argv[1], structure_only=structure_only)
        errors.append(None)
    except CheckpointError as e:
        errors.append(str(e))
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
print(json.dumps({'errors': errors, 'seconds': time.time() - start, 'grown': grown}))
'''


def measured_load(path) -> dict:
    """torch_load(path), then its structure, in a capped child: {'errors': [each refusal or None], 'seconds',
    'grown': bytes of RSS}."""
    proc = subprocess.run(
        [sys.executable, '-c', _MEASURED_LOAD, path],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=PACKAGE_DIR),
        timeout=300,
    )
    if proc.returncode != 0:
        raise AssertionError(f'loading {path} ended with code {proc.returncode}: {proc.stderr[-2000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


class DamagedCheckpointTest(unittest.TestCase):
    """Files whose fields lie (sizes, counts, offsets, nesting): each refused in one line naming the file and the
    field, before torch reads past a record or inflates a bomb."""

    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(2)
        cls.tmp = tempfile.mkdtemp(prefix='varscope-damaged-')

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def assertRefused(self, path, *fields, structure_too=True):
        """torch_load(path) (and the structure-only reading) refused in one line that names the file and fields."""
        for structure_only in (False, True) if structure_too else (False,):
            with self.assertRaises(CheckpointError) as ctx:
                torch_load(path, structure_only=structure_only)
            msg = str(ctx.exception)
            self.assertNotIn('\n', msg)
            self.assertTrue(msg.startswith(path + ': '), msg)
            for field in fields:
                self.assertIn(field, msg)
        return msg

    def test_zip_bomb_is_refused_before_inflating(self):
        # 3 GiB of zeros deflated to 3 MB as the pickle, then as a storage's record: past the ratio a checkpoint
        # compresses. Then a pickle of 100 MB at 50:1: past the bound of a pickle. Each refused from the zip
        # directory alone: fast, and small in memory.
        bomb, size, big = deflated_zeros(3 << 10), 3 << 30, 100 << 20
        pkl = _pickled({'w': _Tensor(_Storage('0', size // 4), 0, (size // 4,), (1,))})
        version = ('archive/version', zipfile.ZIP_STORED, b'3\n', 2)
        cases = {
            'data.pkl': ([('archive/data.pkl', zipfile.ZIP_DEFLATED, bomb, size), version], 'zip bomb', size),
            'record': (
                [
                    ('archive/data.pkl', zipfile.ZIP_STORED, pkl, len(pkl)),
                    ('archive/data/0', zipfile.ZIP_DEFLATED, bomb, size),
                    version,
                ],
                'zip bomb',
                size,
            ),
            'big data.pkl': (
                [('archive/data.pkl', zipfile.ZIP_DEFLATED, bytes(range(256)) * (big // 50 // 256), big), version],
                "a checkpoint's pickle holds",
                big,
            ),
        }
        for name, (members, why, declared) in cases.items():
            member = next(m[0] for m in members if m[3] == declared)
            with self.subTest(name):
                path = self.path(f'bomb-{name}.pth')
                write_zip(path, members)
                self.assertLess(os.path.getsize(path), 4 << 20)
                got = measured_load(path)
                for error in got['errors']:
                    self.assertIsNotNone(error, 'the bomb loaded')
                    for field in (path, member, why, str(declared)):
                        self.assertIn(field, error)
                self.assertLess(got['seconds'], 5)
                self.assertLess(got['grown'], 200 << 20)

    def test_pickle_that_inflates_past_its_declared_size_is_refused(self):
        # The directory says 1 KB; the stream holds 3 GiB: the reader stops at the declared size (the CRC fails).
        path = self.path('lying-pickle.pth')
        write_zip(
            path,
            [
                ('archive/data.pkl', zipfile.ZIP_DEFLATED, deflated_zeros(3 << 10), 1024),
                ('archive/version', zipfile.ZIP_STORED, b'3\n', 2),
            ],
        )
        got = measured_load(path)
        self.assertNotIn(None, got['errors'], 'the bomb loaded')
        self.assertLess(got['seconds'], 5)
        self.assertLess(got['grown'], 200 << 20)

    def test_storage_shorter_than_it_declares_is_refused(self):
        # 2^20 float32 elements declared, 4 of them written: torch would read 4 MB past a 16-byte record.
        path = self.path('short-storage.pth')
        numel = 1 << 20
        write_zip_checkpoint(path, {'w': _Tensor(_Storage('0', numel), 0, (numel,), (1,))}, {'0': bytes(16)})
        self.assertRefused(path, "storage '0'", '4194304 bytes', 'data/0 holds 16')

    def test_storage_of_2_to_the_70_elements_is_refused(self):
        path = self.path('huge-storage.pth')
        write_zip_checkpoint(path, {'w': _Tensor(_Storage('0', 1 << 70), 0, (4,), (1,))}, {'0': bytes(16)})
        self.assertRefused(path, "storage '0'", str(1 << 70), 'data/0 holds 16')

    def test_tensor_past_its_storage_is_refused(self):
        for name, (offset, size, stride) in {
            'offset': (2, (4,), (1,)),
            'size': (0, (100,), (1,)),
            'stride': (0, (2, 2), (3, 1)),
            'huge size': (0, (1 << 70, 0), (1, 1)),
        }.items():
            with self.subTest(name):
                path = self.path(f'view-{name}.pth')
                write_zip_checkpoint(path, {'w': _Tensor(_Storage('0', 4), offset, size, stride)}, {'0': bytes(16)})
                self.assertRefused(path, "storage '0'", 'a tensor of size')

    def test_legacy_storage_that_lies_is_refused(self):
        good = _Tensor(_Storage('1', 4), 0, (4,), (1,))
        cases = {
            # the pickle's count past the file (torch would allocate it before reading the count it checks)
            'huge': ([(_Storage('1', 1 << 40), '1')], [('1', 4, bytes(16))], "storage '1' declares 1099511627776"),
            # the pickle and the file disagree
            'count': ([(_Storage('1', 8), '1')], [('1', 4, bytes(16))], "storage '1' declares 8"),
            # the file's count is right, its bytes are missing
            'truncated': ([(_Storage('1', 4), '1')], [('1', 4, bytes(8))], "storage '1' (16 bytes) ends at"),
            # a storage the pickle declares but the file never holds: torch would leave it uninitialised
            'unwritten': ([(_Storage('1', 4), '1'), (_Storage('2', 4), '2')], [('1', 4, bytes(16))], 'not the 2'),
        }
        for name, (tensors, storages, field) in cases.items():
            with self.subTest(name):
                path = self.path(f'legacy-{name}.pth')
                obj = {key: _Tensor(s, 0, (4,), (1,)) for s, key in tensors}
                write_legacy_checkpoint(path, obj, storages)
                self.assertRefused(path, field)
        path = self.path('legacy-good.pth')
        write_legacy_checkpoint(path, {'w': good}, [('1', 4, np.arange(4, dtype=np.float32).tobytes())])
        self.assertTrue(torch.equal(torch_load(path)['w'], torch.arange(4.0)))

    def safetensors_file(self, name, header, data=b'', length=None):
        """A safetensors file with this header (a dict, or the JSON text itself) and data section."""
        text = header if isinstance(header, bytes) else json.dumps(header).encode()
        path = self.path(name)
        with open(path, 'wb') as f:
            f.write(struct.pack('<Q', len(text) if length is None else length) + text + data)
        return path

    def test_safetensors_offsets_that_overlap_or_leave_gaps_are_refused(self):
        f32 = lambda begin: {'dtype': 'F32', 'shape': [2], 'data_offsets': [begin, begin + 8]}  # noqa: E731
        cases = {
            'overlap': ({'a': f32(0), 'b': f32(4)}, 12, "'b': offsets 4..12 overlap those of 'a'"),
            'same': ({'a': f32(0), 'b': f32(0)}, 8, "overlap those of 'a'"),
            'gap': ({'a': f32(0), 'b': f32(12)}, 20, 'leave bytes 8..12 unused'),
            'tail': ({'a': f32(0)}, 12, 'bytes 8..12 belong to no tensor'),
        }
        for name, (header, size, field) in cases.items():
            with self.subTest(name):
                self.assertRefused(self.safetensors_file(f'{name}.safetensors', header, bytes(size)), field)

    def test_safetensors_headers_that_lie_are_refused(self):
        entry = lambda **kw: {'t': dict({'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]}, **kw)}  # noqa: E731
        deep = b'{"t": ' + b'[' * 100000 + b']' * 100000 + b'}'
        cases = {
            'deep': (deep, {}, 'nested too deeply'),
            'elements': (entry(shape=[1 << 70, 0], data_offsets=[0, 0]), {}, "'t': shape [1180591620717411303424, 0]"),
            'length': (entry(), {'length': 1 << 20}, 'header length 1048576'),
            'dtype': (entry(dtype='F8_E4M3'), {}, "'t': dtype 'F8_E4M3' is none of"),
            'offsets': (entry(data_offsets=[0, 4]), {}, "'t': offsets 0..4 do not hold [2] F32"),
            'shape': (entry(shape=[2.5]), {}, "'t': shape [2.5] is not a list of sizes"),
        }
        for name, (header, kw, field) in cases.items():
            with self.subTest(name):
                self.assertRefused(self.safetensors_file(f'{name}.safetensors', header, bytes(8), **kw), field)
        short = self.path('short.safetensors')
        with open(short, 'wb') as f:
            f.write(b'\x10\x00\x00')
        with self.assertRaises(NotACheckpoint) as ctx:
            load_safetensors(short)
        self.assertIn('no 8-byte header length', str(ctx.exception))


if __name__ == '__main__':
    unittest.main(verbosity=2)
