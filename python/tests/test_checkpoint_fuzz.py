"""The checkpoint readers fuzzed: seeded mutations of small real files (torch.save's zip and legacy layouts, a
safetensors file, the official fixture's var.pth) in their headers, pickles, zip directories, records and length
fields. Each mutant must be refused with our typed errors or load to tensors that read back whole: never another
exception, a crash, a hang or a large allocation. The mutants are loaded in a child interpreter with its address
space capped and a per-file alarm, so that a segfault or a hang fails the test (naming the case) instead of
taking the runner with it."""
import io
import json
import os
import pickle
import pickletools
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zipfile
from collections import OrderedDict

from .fixtures import PACKAGE_DIR, fixture

SEED = 24
# Mutants per seed file: about 5 s in all on one core (the fixture's are larger, so fewer).
CASES = {'zip': 300, 'legacy': 250, 'safetensors': 250, 'fixture': 40}
# 8-byte, 4-byte, 2-byte and 1-byte values that sizes and counts break on.
INTERESTING = (0, 1, 2, 7, 8, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 1 << 31, (1 << 31) - 1, (1 << 32) - 1, (1 << 62))
INTERESTING += ((1 << 63) - 1, 1 << 63, (1 << 64) - 1)


def make_seeds(folder: str) -> dict:
    """Small real files of every kind the loader reads: {kind: path}."""
    import torch

    from varscope.bundle.safe_load import save_safetensors

    g = torch.Generator().manual_seed(SEED)
    w = torch.randn(3, 4, generator=g)
    sd = OrderedDict(
        w=w,
        b=torch.arange(5),
        h=torch.randn(2, 3, generator=g).half(),
        flags=torch.tensor([True, False, True]),
        scalar=torch.tensor(7, dtype=torch.int32),
        empty=torch.zeros(0, 4),
    )
    # Views sharing a storage, a Parameter and plain data nested: what a trainer checkpoint holds.
    obj = {'model': sd, 'view': w[1:, ::2], 'extra': {'p': torch.nn.Parameter(torch.ones(2)), 'args': [1.5, 'x', None]}}
    seeds = {kind: os.path.join(folder, f'seed-{kind}') for kind in CASES}
    torch.save(obj, seeds['zip'])
    torch.save(obj, seeds['legacy'], _use_new_zipfile_serialization=False)
    save_safetensors(sd, seeds['safetensors'], metadata={'format': 'pt'})
    shutil.copyfile(fixture('var.pth'), seeds['fixture'])
    return seeds


# --- mutations: each takes (bytes, rng) and returns (what it did, the mutant's bytes) -----------------------------


def _flip(data: bytes, rng, lo=0, hi=None, where='') -> tuple:
    hi = len(data) if hi is None else hi
    out = bytearray(data)
    spots = sorted(rng.randrange(lo, max(hi, lo + 1)) for _ in range(rng.randint(1, 4)))
    for at in spots:
        if at < len(out):
            out[at] ^= rng.randint(1, 255)
    return f'flip {where} bytes {spots}', bytes(out)


def _overwrite(data: bytes, at: int, width: int, rng, where='') -> tuple:
    value = rng.choice(INTERESTING + (rng.getrandbits(width * 8),)) & ((1 << (width * 8)) - 1)
    out = bytearray(data)
    out[at : at + width] = value.to_bytes(width, 'little')
    return f'{where} {width}-byte field at {at} = {value}', bytes(out)


def _truncate(data: bytes, rng, lo=0) -> tuple:
    at = rng.randrange(lo, len(data))
    return f'truncate at {at}', data[:at]


def _splice(data: bytes, rng) -> tuple:
    at = rng.randrange(len(data))
    if rng.random() < 0.5:
        n = rng.randint(1, 16)
        return f'delete {n} bytes at {at}', data[:at] + data[at + n :]
    junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 16)))
    return f'insert {len(junk)} bytes at {at}', data[:at] + junk + data[at:]


def _pickle_fields(pkl: bytes) -> list:
    """(offset, width) of every integer and length field in a pickle: sizes, strides, offsets, counts, keys' lengths."""
    fields = []
    widths = {'BININT': 4, 'BININT1': 1, 'BININT2': 2, 'BINUNICODE': 4, 'SHORT_BINUNICODE': 1, 'BINBYTES': 4}
    widths.update({'SHORT_BINBYTES': 1, 'BINUNICODE8': 8, 'BINBYTES8': 8, 'LONG1': 1, 'BINPUT': 1, 'BINGET': 1})
    widths.update({'LONG_BINPUT': 4, 'LONG_BINGET': 4})
    for op, arg, pos in pickletools.genops(pkl):  # a seed's pickle
        if op.name in widths:
            fields.append((pos + 1, widths[op.name]))
        if op.name == 'LONG1' and arg:  # the number itself, after its length byte
            fields.append((pos + 2, min(8, (arg.bit_length() + 8) // 8)))
    return fields


def _mutate_pickle(pkl: bytes, rng) -> tuple:
    fields = _pickle_fields(pkl)
    r = rng.random()
    if fields and r < 0.6:
        at, width = rng.choice(fields)
        return _overwrite(pkl, at, width, rng, 'pickle')
    if r < 0.8:
        return _flip(pkl, rng, where='pickle')
    return _truncate(pkl, rng)


def _zip_layout(data: bytes) -> dict:
    """Where a zip's pieces lie: its members' data, their central directory entries and the directory itself."""
    end = data.rindex(b'PK\x05\x06')
    count, cd_size, cd_at = struct.unpack('<HII', data[end + 10 : end + 20])
    entries, at = [], cd_at
    for _ in range(count):
        n, m, k = struct.unpack('<HHH', data[at + 28 : at + 34])
        entries.append(at)
        at += 46 + n + m + k
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = z.infolist()
    members = []
    for i in infos:
        n, m = struct.unpack('<HH', data[i.header_offset + 26 : i.header_offset + 30])
        start = i.header_offset + 30 + n + m
        members.append((i.filename, i.header_offset, start, start + i.compress_size))
    return {'end': end, 'cd': (cd_at, cd_at + cd_size), 'entries': entries, 'members': members}


def _rezip(data: bytes, replace) -> bytes:
    """The zip rewritten (stored, right CRCs) with replace(name, bytes) -> bytes or None (drop) for each member."""
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, 'w') as dst:
        for i in src.infolist():
            body = replace(i.filename, src.read(i))
            if body is not None:
                dst.writestr(i.filename, body)
    return out.getvalue()


def mutate_zip(data: bytes, rng) -> tuple:
    lay = _zip_layout(data)
    members = lay['members']
    r = rng.random()
    if r < 0.35:  # the pickle, rewritten with a right CRC so that the unpickler sees it
        what = {}

        def replace(name, body):
            if name.endswith('/data.pkl'):
                what['m'], body = _mutate_pickle(body, rng)
            return body

        out = _rezip(data, replace)
        return what.get('m', 'pickle unchanged'), out
    if r < 0.45:  # a record cut short, grown or dropped, with a right CRC
        name = rng.choice([m[0] for m in members if '/data/' in m[0]] or [members[0][0]])
        how = rng.choice(('cut', 'grow', 'drop'))

        def replace(n, body):
            if n != name:
                return body
            return None if how == 'drop' else body[: len(body) // 2] if how == 'cut' else body + bytes(8)

        return f'{how} record {name}', _rezip(data, replace)
    if r < 0.65:  # a central directory entry's CRC, sizes or local header offset
        entry = rng.choice(lay['entries'])
        field = rng.choice((16, 20, 24, 42))
        return _overwrite(data, entry + field, 4, rng, 'directory')
    if r < 0.75:  # a local header's sizes
        _, header, _, _ = rng.choice(members)
        return _overwrite(data, header + rng.choice((14, 18, 22)), 4, rng, 'local header')
    if r < 0.85:
        return _flip(data, rng, *lay['cd'], where='directory')
    if r < 0.92:
        return _flip(data, rng, where='file')
    return _truncate(data, rng)


class _Anything:
    """What every global of a pickle becomes when only its persistent ids are wanted."""

    def __call__(self, *args, **kwargs):
        return _Anything()

    def __setitem__(self, key, value):
        pass

    def __setstate__(self, state):
        pass


class _StorageIds(pickle.Unpickler):
    """Reads a torch.save pickle for its storages only: {key: element size}."""

    SIZES = {'Double': 8, 'Float': 4, 'Half': 2, 'BFloat16': 2, 'Long': 8, 'Int': 4, 'Short': 2, 'Char': 1, 'Byte': 1}
    SIZES['Bool'] = 1

    def __init__(self, f):
        super().__init__(f)
        self.sizes = {}

    def find_class(self, module, name):
        return name if name.endswith('Storage') else _Anything()

    def persistent_load(self, pid):
        self.sizes[pid[2]] = self.SIZES[pid[1][: -len('Storage')]]
        return _Anything()


def _legacy_layout(data: bytes) -> dict:
    """Where a legacy torch.save file's pickles end, and the offset of each storage's 8-byte element count."""
    f = io.BytesIO(data)
    ends = []
    for _ in range(5):  # magic number, protocol, system info, the pickle, its storage keys
        for op, _, _ in pickletools.genops(f):
            if op.name == 'STOP':
                break
        ends.append(f.tell())
    f.seek(ends[2])
    ids = _StorageIds(f)
    ids.load()
    keys = pickle.load(f)
    counts, at = [], ends[4]
    for key in keys:  # each storage: its element count, then its bytes
        counts.append(at)
        at += 8 + struct.unpack('<q', data[at : at + 8])[0] * ids.sizes[key]
    return {'ends': ends, 'counts': counts}


def mutate_legacy(data: bytes, rng) -> tuple:
    lay = _legacy_layout(data)
    start, end = lay['ends'][2], lay['ends'][3]
    r = rng.random()
    if r < 0.4:  # the pickle's integer and length fields (sizes, strides, offsets, counts)
        fields = _pickle_fields(data[start:end])
        if fields:
            at, width = rng.choice(fields)
            return _overwrite(data, start + at, width, rng, 'pickle')
    if r < 0.6 and lay['counts']:  # a storage's element count
        return _overwrite(data, rng.choice(lay['counts']), 8, rng, 'storage count')
    if r < 0.75:
        return _flip(data, rng, 0, lay['ends'][4], where='pickles')
    if r < 0.85:
        return _splice(data, rng)
    return _truncate(data, rng)


def mutate_safetensors(data: bytes, rng) -> tuple:
    n = struct.unpack('<Q', data[:8])[0]
    header, body = json.loads(data[8 : 8 + n]), data[8 + n :]
    r = rng.random()
    if r < 0.5:  # one field of one entry
        name = rng.choice([k for k in header if k != '__metadata__'])
        field = rng.choice(('dtype', 'shape', 'data_offsets', None))
        entry = header[name]
        if field == 'dtype':
            entry['dtype'] = rng.choice(('F32', 'F16', 'BF16', 'I64', 'U8', 'BOOL', 'F8_E4M3', 'C64', 'x', 3, None))
        elif field == 'shape':
            value, shape = rng.choice(INTERESTING + (-1, 2.5, '4', 1 << 70)), list(entry['shape'])
            if not shape or rng.random() < 0.3:
                shape.append(value)
            else:
                shape[rng.randrange(len(shape))] = value
            entry['shape'] = shape
        elif field == 'data_offsets':
            i = rng.randrange(2)
            entry['data_offsets'][i] = rng.choice(
                (entry['data_offsets'][i] + rng.choice((-8, -4, -1, 1, 4, 8)), -1, 1 << 64, 0)
            )
        else:
            header[name] = rng.choice(([], 'x', None, {'dtype': 'F32'}))
        what = f'header {name}.{field}'
        text = json.dumps(header).encode()
        return what, struct.pack('<Q', len(text)) + text + body
    if r < 0.6:  # nesting
        text = json.dumps(header).encode()
        text = text[:-1] + b', "deep": ' + b'[' * 5000 + b']' * 5000 + b'}'
        return 'nested header', struct.pack('<Q', len(text)) + text + body
    if r < 0.75:
        return _overwrite(data, 0, 8, rng, 'header length')
    if r < 0.9:
        return _flip(data, rng, 8, 8 + n, where='header')
    return _truncate(data, rng)


MUTATORS = {'zip': mutate_zip, 'legacy': mutate_legacy, 'safetensors': mutate_safetensors, 'fixture': mutate_zip}


# --- the child: loads every mutant, reports what is not a refusal or a readable result ----------------------------


def _tensors(obj, depth=0):
    import torch

    if isinstance(obj, torch.Tensor):
        yield obj
    elif depth < 20 and isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v, depth + 1)
    elif depth < 20 and isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            yield from _tensors(v, depth + 1)


def _check(path: str, load) -> str:
    """'refused', 'loaded', or what went wrong (another exception, a message that is not one line, a tensor that
    cannot be read back whole)."""
    import torch

    from varscope.bundle.safe_load import NotACheckpoint, UnsafeCheckpoint

    try:
        result = load(path)
    except (NotACheckpoint, UnsafeCheckpoint) as e:
        msg = str(e)
        if '\n' in msg or 'allocate' in msg.lower():
            return f'refused, but: {msg[:300]!r}'
        return 'refused'
    except BaseException as e:  # noqa: B902 - everything else is the failure this test looks for
        return f'{type(e).__name__}: {str(e)[:300]}'
    try:
        for t in _tensors(result):
            t.detach().contiguous().reshape(-1).to(torch.float64).sum()
    except BaseException as e:  # noqa: B902
        return f'loaded, but a tensor does not read back: {type(e).__name__}: {str(e)[:300]}'
    return 'loaded'


def child(folder: str) -> None:
    """Makes the seeds and their mutants in folder and loads each; prints one JSON line a case, then a summary."""
    import resource
    import signal
    import time

    import torch

    from varscope.bundle.safe_load import load_torch, peek

    torch.set_num_threads(1)
    vm = [int(line.split()[1]) * 1024 for line in open('/proc/self/status') if line.startswith('VmSize')][0]
    resource.setrlimit(resource.RLIMIT_AS, (vm + (2 << 30), resource.RLIM_INFINITY))
    seeds = make_seeds(folder)

    def alarm(*_):
        raise TimeoutError('no answer in 10 s')

    signal.signal(signal.SIGALRM, alarm)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start, failures, outcomes = time.time(), [], {}
    for kind, count in CASES.items():
        with open(seeds[kind], 'rb') as f:
            seed = f.read()
        for load in (load_torch, peek):  # the seed itself loads
            assert _check(seeds[kind], load) == 'loaded', (kind, load.__name__, _check(seeds[kind], load))
        rng = random.Random(f'{SEED}-{kind}')
        mutant = os.path.join(folder, f'mutant-{kind}')
        for i in range(count):
            what, data = MUTATORS[kind](seed, rng)
            with open(mutant, 'wb') as f:
                f.write(data)
            for load in (load_torch, peek):
                case = f'{kind} #{i} {load.__name__}: {what}'
                print(json.dumps({'case': case}), flush=True)  # the last line names the case if it crashes
                signal.alarm(10)
                got = _check(mutant, load)
                signal.alarm(0)
                outcome = got if got in ('refused', 'loaded') else 'failed'
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                if got not in ('refused', 'loaded'):
                    failures.append(f'{case}: {got}')
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) * 1024
    print(json.dumps({'failures': failures, 'outcomes': outcomes, 'seconds': time.time() - start, 'grown': grown}))


class CheckpointFuzzTest(unittest.TestCase):
    def test_mutated_checkpoints_are_refused_or_read_whole(self):
        folder = tempfile.mkdtemp(prefix='varscope-fuzz-')
        try:
            proc = subprocess.run(
                [sys.executable, '-c', 'import sys; from tests.test_checkpoint_fuzz import child; child(sys.argv[1])']
                + [folder],
                capture_output=True,
                text=True,
                env=dict(os.environ, PYTHONPATH=PACKAGE_DIR),
                timeout=300,
            )
        finally:
            shutil.rmtree(folder)
        lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{')]
        last = lines[-1] if lines else {}
        self.assertEqual(proc.returncode, 0, f'the child died ({proc.returncode}) at {last}: {proc.stderr[-2000:]}')
        self.assertEqual(last['failures'], [], '\n'.join(last['failures'][:20]))
        self.assertGreater(last['outcomes'].get('refused', 0), 100)
        self.assertLess(last['grown'], 200 << 20)


if __name__ == '__main__':
    unittest.main(verbosity=2)
