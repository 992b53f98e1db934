"""Checkpoints written by torch for the TypeScript reader's tests, and what the Python exporter reads from them.

    python checkpointTorch.py OUT_DIR [EXTRA_CHECKPOINT ...]

Writes small checkpoints into OUT_DIR (every dtype, views, shared storages, a Parameter, pickle protocol 4, an
official-trainer ar-ckpt with optimizer state, safetensors, a big-endian archive and damaged archives), then prints
one JSON object: for every checkpoint written and every EXTRA_CHECKPOINT, the state_dict of each role as the exporter
loads it (python/varscope/bundle/checkpoint.py: torch_load, extract, canonical_vae_keys), each tensor's dtype, shape
and the sha256 of its contiguous little-endian bytes (and of its float32 bytes for float types), plus epoch, iter
and args."""

import hashlib
import json
import os
import sys
import zipfile

import torch

from varscope.bundle.checkpoint import CheckpointError, canonical_vae_keys, extract, find_state_dicts, torch_load
from varscope.bundle.safe_load import save_safetensors

torch.set_num_threads(2)


def sha(t: torch.Tensor) -> str:
    t = t.detach().contiguous().reshape(-1)
    raw = t.view(torch.uint8).numpy().tobytes() if t.numel() else b''
    return hashlib.sha256(raw).hexdigest()


def float32(t: torch.Tensor) -> torch.Tensor:
    """t.float() with every NaN as the one NaN 0x7fc00000 (torch 2 turns a float16 NaN into 0x7fffffff, torch 1.13
    and the CPU keep its payload)."""
    f = t.float()
    return torch.where(torch.isnan(f), torch.full_like(f, float('nan')), f)


def var_state_dict(g: torch.Generator) -> dict:
    """Tensors of every dtype the reader reads, views, shared storages and tensors with Python attributes, named like
    a VAR so that looks_like finds it."""
    base = torch.randn(6, 8, generator=g)
    shared = torch.randn(4, 5, generator=g).half()
    special = torch.tensor([0.0, -0.0, 1.5, -2.25, 65504.0, 6e-8, 1e-5, float('inf'), float('-inf'), float('nan')])
    with_state = torch.randn(2, 3, generator=g)
    with_state.note = 'an attribute'  # torch 2 pickles it with _rebuild_from_type_v2
    parameter_with_state = torch.nn.Parameter(torch.randn(3, generator=g))
    parameter_with_state.note = 1  # torch 2: _rebuild_parameter_with_state
    return {
        'class_emb.weight': torch.nn.Parameter(torch.randn(11, 8, generator=g)),
        'blocks.0.with_state': with_state,
        'blocks.0.parameter_with_state': parameter_with_state,
        'blocks.0.attn.mat_qkv.weight': base.t(),  # transposed view
        'blocks.0.attn.proj.weight': base[1:5, 2:7],  # a slice: offset and strides inside a larger storage
        'blocks.0.ffn.fc1.weight': shared,
        'blocks.0.ffn.fc1.bias': shared[2],  # shares fc1.weight's storage
        'blocks.0.ffn.fc2.weight': shared.t()[::2],  # a strided view of the same storage
        'blocks.0.half': special.half(),
        'blocks.0.bf16': torch.cat([special, torch.randn(7, generator=g)]).bfloat16().reshape(1, 17),
        'blocks.0.f64': torch.cat([special.double(), torch.randn(5, generator=g, dtype=torch.float64) * 1e-40]),
        'blocks.0.i64': torch.tensor([[-(2**62), 3], [2**40, -1]]),
        'blocks.0.i32': torch.arange(-5, 7, dtype=torch.int32).reshape(3, 4)[:, 1::2],
        'blocks.0.i16': torch.tensor([-32768, 32767, 5], dtype=torch.int16),
        'blocks.0.i8': torch.tensor([-128, 127, 0], dtype=torch.int8),
        'blocks.0.u8': torch.arange(250, 256, dtype=torch.uint8).reshape(2, 3).t(),
        'blocks.0.bool': torch.tensor([True, False, True]),
        'blocks.0.scalar': torch.tensor(3.25),
        'blocks.0.empty': torch.zeros(0, 4),
        'blocks.0.expanded': torch.randn(3, 1, generator=g).expand(3, 4),  # stride 0
    }


def vae_state_dict(g: torch.Generator) -> dict:
    """VQ-VAE names, with the shared-Phi layout (quant_resi.qresi.*) that canonical_vae_keys renames."""
    return {
        'encoder.conv_in.weight': torch.randn(4, 3, 3, 3, generator=g),
        'quantize.embedding.weight': torch.randn(16, 4, generator=g),
        'quantize.quant_resi.qresi.weight': torch.randn(4, 4, 3, 3, generator=g),
        'quantize.quant_resi.qresi.bias': torch.randn(4, generator=g),
        'quantize.ema_vocab_hit_SV': torch.zeros(3, 16),
    }


def trainer_checkpoint(g: torch.Generator) -> dict:
    """The official trainer's ar-ckpt-*.pth layout, with AdamW state and plain-dict args."""
    var = torch.nn.Linear(8, 4)
    opt = torch.optim.AdamW(var.parameters(), lr=1e-3)
    var(torch.randn(2, 8, generator=g)).sum().backward()
    opt.step()
    var_sd = {'module.' + k: v for k, v in var_state_dict(g).items()}  # DDP names: _strip_prefixes drops them
    return {
        'epoch': 12,
        'iter': 3400,
        'trainer': {
            'config': {'patch_nums': (1, 2, 3), 'resos': (16, 32, 48), 'prog_it': 0},
            'var_wo_ddp': var_sd,
            'vae_local': vae_state_dict(g),
            'var_opt': {'optim': opt.state_dict(), 'scaler': None},
        },
        'args': {
            'depth': 16,
            'tblr': 1e-4,
            'exp_name': 'text',
            'pn': '1_2_3',
            'flags': [True, None],
            'nested': {'a': 1.5},
        },
    }


def big_endian_copy(src: str, dst: str) -> None:
    """src's archive with every storage byte-swapped and its byteorder record saying 'big' (as a big-endian
    machine writes it); itemsizes from the pickle's storage types."""
    with zipfile.ZipFile(src) as z:
        names = z.namelist()
        prefix = names[0].split('/')[0] + '/'
        sizes = {}
        for name in names:
            if name.endswith('data.pkl'):
                import pickletools

                last = None
                for op, arg, _ in pickletools.genops(z.read(name)):
                    if op.name == 'GLOBAL' and arg.endswith('Storage'):
                        last = arg.split(' ')[1]
                    elif op.name in ('BINUNICODE', 'SHORT_BINUNICODE') and last:
                        sizes[arg], last = {'HalfStorage': 2, 'FloatStorage': 4, 'LongStorage': 8}.get(last, 1), None
        with zipfile.ZipFile(dst, 'w', zipfile.ZIP_STORED) as out:
            for name in names:
                data = z.read(name)
                key = name[len(prefix + 'data/') :] if name.startswith(prefix + 'data/') else None
                if key is not None and sizes.get(key, 1) > 1:
                    n = sizes[key]
                    data = b''.join(data[i : i + n][::-1] for i in range(0, len(data), n))
                if name == prefix + 'byteorder':
                    continue
                out.writestr(name, data)
            out.writestr(prefix + 'byteorder', b'big')  # torch before 1.10 wrote none


def damaged_copies(src: str, out: str) -> None:
    """Copies of src's archive: a storage record dropped, and every member deflated."""
    with zipfile.ZipFile(src) as z:
        names = z.namelist()
        data_member = next(n for n in names if '/data/' in n)
        with zipfile.ZipFile(os.path.join(out, 'missing-storage.pth'), 'w', zipfile.ZIP_STORED) as o:
            for n in names:
                if n != data_member:
                    o.writestr(n, z.read(n))
        with zipfile.ZipFile(os.path.join(out, 'deflated.pth'), 'w', zipfile.ZIP_DEFLATED) as o:
            for n in names:
                o.writestr(n, z.read(n))


def write_checkpoints(out: str) -> list:
    g = torch.Generator().manual_seed(0)
    files = []

    def save(name, obj, **kw):
        path = os.path.join(out, name)
        torch.save(obj, path, **kw)
        files.append(path)
        return path

    plain = save('plain.pth', var_state_dict(g))
    save('protocol4.pth', var_state_dict(g), pickle_protocol=4)
    save('ar-ckpt-last.pth', trainer_checkpoint(g))
    save('vae.pth', vae_state_dict(g))
    save('legacy.pth', var_state_dict(g), _use_new_zipfile_serialization=False)
    files.remove(os.path.join(out, 'legacy.pth'))  # refused by the TypeScript reader, not compared
    st = os.path.join(out, 'var.safetensors')
    save_safetensors({k: v for k, v in var_state_dict(g).items()}, st, metadata={'format': 'pt'})
    files.append(st)
    small = save(
        'small.pth', {'class_emb.weight': torch.arange(6, dtype=torch.float32), 'blocks.0.x': torch.ones(2).half()}
    )
    big_endian_copy(small, os.path.join(out, 'big-endian.pth'))  # reads as small.pth (torch 1.13 ignores byteorder)
    damaged_copies(plain, out)
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), os.path.join(out, 'torchscript.pt'))
    return files


def tensors(sd: dict) -> list:
    return [
        {
            'key': k,
            'dtype': str(v.dtype).split('.')[-1],
            'shape': list(v.shape),
            'sha256': sha(v),
            'float32': sha(float32(v)) if v.is_floating_point() else None,
        }
        for k, v in sd.items()
    ]


def expected(path: str) -> dict:
    """What the Python exporter reads from path: each role's state_dict, and every state_dict found (a file of
    another model family, such as Infinity, has no role)."""
    obj = torch_load(path)
    roles = {}
    for role in ('vae', 'var'):
        try:
            sd = extract(obj, role, path)
        except CheckpointError:
            continue
        roles[role] = tensors(canonical_vae_keys(sd) if role == 'vae' else sd)
    meta = {k: obj[k] for k in ('epoch', 'iter', 'args') if isinstance(obj, dict) and k in obj}
    if isinstance(obj, dict) and isinstance(obj.get('trainer'), dict) and 'config' in obj['trainer']:
        meta['trainerConfig'] = obj['trainer']['config']
    found = {p: tensors(sd) for p, sd in find_state_dicts(obj)}
    return {'roles': roles, 'meta': meta, 'stateDicts': found}


def main() -> None:
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    files = write_checkpoints(out) + sys.argv[2:]
    print(json.dumps({'torch': torch.__version__, 'files': {f: expected(f) for f in files}}))


if __name__ == '__main__':
    main()
