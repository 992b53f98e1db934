"""Command line: export an official BSQ VAE + Infinity checkpoint pair (slim files, or one ar-ckpt) into a bundle.

PYTHONPATH=python python3 -m varscope.infinity.export --vae VAE.pth --infinity INF.pth --out DIR [--arch PRESET]
    [--pn 0.06M] [--ratios 1.0,0.75] [--name NAME] [--id ID] [--t5 T5_DIR] [--no-verify]

Per aspect ratio (h/w, a template ratio of the official table) and the pixel budget: bsqEncoder, bitsToLatent,
bsqDecoder, infinityTransformer, infinityStep and infinityAttention, `<graph>-hw<ratio>-<pn>.onnx`, all sharing one
weights.bin; unconditionalText.bin (the learnt CFG features) and varscope.json (`"family": "infinity"`). The
architecture comes from the checkpoint's tensors (checked against --arch, run_infinity's --model_type, when given);
the text attention is float32 (see varscope.json's text.note). Before varscope.json is written every graph is run by
onnxruntime-node against the PyTorch reference (verify.py; --no-verify skips it); --t5 adds the caption encoder
(text_encoder.py, which verifies its graph)."""
import argparse
import datetime
import json
import os
import re
import sys
import time

import numpy as np
import torch

from ..atomic import write_atomic
from ..bundle.onnx_store import WeightStore
from ..hashing import sha256_of
from .bundle_spec import UNCONDITIONAL_TEXT_FILE, build_manifest, graph_entries, schedule_entry, schedule_id
from .config import PRESETS
from .graphs import tokenizer_io, transformer_io
from .load import load_bsq_vae, load_infinity_checkpoint
from .onnx_export import export_tokenizer, export_transformer
from .schedules import PIXEL_BUDGETS, scale_schedule
from .text_encoder import add_text_encoder, t5_folder
from .verify import verify


def parse_ratios(text: str):
    """'1.0,0.75' -> [1.0, 0.75] (template ratios h/w; scale_schedule refuses others)."""
    try:
        ratios = [float(r) for r in text.split(',') if r.strip()]
    except ValueError:
        raise ValueError(f'--ratios {text!r}: expected h/w numbers separated by commas, e.g. 1.0,0.75') from None
    if not ratios or len(set(ratios)) != len(ratios):
        raise ValueError(f'--ratios {text!r}: expected distinct h/w numbers separated by commas, e.g. 1.0,0.75')
    return ratios


def parse_args(argv):
    p = argparse.ArgumentParser(prog='python -m varscope.infinity.export', description=__doc__.split('\n')[0])
    p.add_argument('--vae', required=True, help='official BSQ VAE checkpoint ({"vae": state_dict}) or an ar-ckpt')
    p.add_argument('--infinity', required=True, help='slim Infinity checkpoint (a plain state_dict) or an ar-ckpt')
    p.add_argument('--out', required=True, help='bundle folder to create (absent or empty)')
    p.add_argument('--arch', default='', choices=[''] + list(PRESETS), help='run_infinity --model_type to check')
    p.add_argument('--pn', default='0.06M', choices=list(PIXEL_BUDGETS), help='pixel budget')
    p.add_argument('--ratios', default='1.0', help='aspect ratios h/w, comma-separated template ratios')
    p.add_argument('--name', default='', help='display name (default: the checkpoint file name)')
    p.add_argument('--id', default='', help='bundle id (default: from the name)')
    p.add_argument('--t5', default='', help='T5 encoder folder or Hugging Face cache entry: adds textEncoder.onnx')
    p.add_argument(
        '--no-verify', dest='verify', action='store_false', help='skip the check of the graphs against PyTorch'
    )
    return p.parse_args(argv)


def check_out(out: str) -> None:
    """--out must be absent or an empty folder: an export never deletes a user's files."""
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise ValueError(f'--out {out}: exists and is not an empty folder')


def export(args, log=print) -> dict:
    """Writes the bundle; returns its manifest."""
    check_out(args.out)
    ratios = parse_ratios(args.ratios)
    schedules = [(r, scale_schedule(r, args.pn)) for r in ratios]
    vae = load_bsq_vae(args.vae)
    model = load_infinity_checkpoint(args.infinity, args.arch)
    if args.t5:
        t5_folder(args.t5)  # a wrong folder is refused now, not after the long export
    if vae.codebook_dim != model.cfg.d_model:
        raise ValueError(
            f'{args.infinity}: predicts {model.cfg.d_model} bits per token, the VAE has {vae.codebook_dim}'
        )
    os.makedirs(args.out, exist_ok=True)
    store = WeightStore(args.out)
    entries = []
    for ratio, schedule in schedules:
        sid = schedule_id(ratio, args.pn)
        with torch.no_grad():
            files = export_tokenizer(vae, schedule, args.out, store=store, schedule_id=sid, log=log)
            files.update(export_transformer(model, schedule, args.out, store=store, schedule_id=sid, log=log))
        io = {**tokenizer_io(vae, schedule), **transformer_io(model, schedule)}
        entries.append(
            schedule_entry(
                ratio, args.pn, schedule, graph_entries({k: os.path.basename(v) for k, v in files.items()}, io)
            )
        )
    uncond = model.cfg_uncond.detach().float().numpy().astype('<f4')
    write_atomic(os.path.join(args.out, UNCONDITIONAL_TEXT_FILE), np.ascontiguousarray(uncond).tobytes())
    name = args.name or os.path.splitext(os.path.basename(args.infinity))[0]
    bundle_id = args.id or re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-') or 'infinity'
    sources = [
        {'role': role, 'file': os.path.basename(path), 'sha256': sha256_of(path), 'bytes': os.path.getsize(path)}
        for role, path in (('vae', args.vae), ('infinity', args.infinity))
    ]
    manifest = build_manifest(vae, model, entries, bundle_id, name, sources)
    manifest['provenance']['exportedAt'] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
    rels = sorted(f for f in os.listdir(args.out) if f != 'varscope.json')
    manifest['files'] = {
        f: {'sha256': sha256_of(os.path.join(args.out, f)), 'bytes': os.path.getsize(os.path.join(args.out, f))}
        for f in rels
    }
    models = [vae, model]
    del vae, model  # from here the list holds them: verify() and the T5 export need the memory they take
    if args.verify:
        manifest['provenance']['verification'] = verify(args.out, manifest, models, log=log)
    models.clear()
    write_atomic(os.path.join(args.out, 'varscope.json'), (json.dumps(manifest, indent=1) + '\n').encode('utf-8'))
    log(f'weights.bin: {store.size} bytes stored, {store.referenced} bytes referenced by the graphs')
    if args.t5:
        manifest = add_text_encoder(args.out, args.t5, log=log)
    return manifest


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    started = time.time()
    try:
        export(args)
    except (ValueError, OSError) as e:
        print(f'varscope.infinity.export: error: {e}', file=sys.stderr)
        return 2
    print(f'exported {args.out} in {time.time() - started:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
