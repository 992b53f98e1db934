"""Command line: export an official VAR + VQ-VAE checkpoint pair into a VARScope bundle and verify it.

PYTHONPATH=tools python3 -m varscope.export --vae VAE.pth --var VAR.pth --out DIR [--name NAME] [--id ID]
    [--classes names.txt] [--image-size N] [--patch-nums 1,2,...] [--probe IMAGE] [--background R,G,B]
    [--sampling CFG,TOPK,TOPP] [--training run.json] [--share-vae-from BUNDLE_DIR]"""
import argparse
import datetime
import hashlib
import json
import os
import posixpath
import re
import shutil
import sys
import tempfile
import time

import onnx
import torch

from .bundle_spec import build_manifest
from .checkpoint import CheckpointError, load_models
from .onnx_export import export_all, round_to_float16
from .preprocess import load_rgb, rgb_to_input
from .share import ShareError, round_transformer_to_float16, share_vae
from .verify import failures, probe_image, run_verifier, summarize, write_cases


class ExportError(Exception):
    """A bad argument or a failed export step, reported without a traceback."""


def sha256_of(path: str) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def bundle_files(bundle_dir: str, manifest: dict) -> dict:
    """{path relative to the bundle: {sha256, bytes}} of every file the bundle reads: graphs, the external data files
    they name, codebook and training hits (shared files of another bundle included, by their relative path)."""
    rels = [g['file'] for g in manifest['graphs'].values()]
    for key in ('codebook', 'trainingHits'):
        if key in manifest:
            rels.append(manifest[key]['file'])
    for graph in [g['file'] for g in manifest['graphs'].values()]:
        model = onnx.load(os.path.join(bundle_dir, graph), load_external_data=False)
        folder = os.path.dirname(graph)
        rels += [posixpath.normpath(posixpath.join(folder, e.value)) for t in model.graph.initializer
                 for e in t.external_data if e.key == 'location']
    files = {}
    for rel in sorted(set(rels)):
        path = os.path.join(bundle_dir, rel)
        files[rel] = {'sha256': sha256_of(path), 'bytes': os.path.getsize(path)}
    return files


def parse_int_list(text: str, what: str, count: int = 0):
    """'1,2,3' -> [1, 2, 3], or an ExportError naming the option."""
    try:
        vals = [int(v) for v in text.split(',') if v.strip()]
    except ValueError:
        raise ExportError(f'{what}: expected comma-separated integers, got {text!r}')
    if count and len(vals) != count:
        raise ExportError(f'{what}: expected {count} values, got {len(vals)}')
    return vals


def read_classes(path: str, num_classes: int):
    """One class name per line; exactly num_classes of them (blank lines become 'class N')."""
    if not os.path.isfile(path):
        raise ExportError(f'--classes {path}: no such file')
    with open(path, encoding='utf-8') as f:
        names = [line.strip() for line in f.read().splitlines()]
    while names and not names[-1]:
        names.pop()
    if len(names) != num_classes:
        raise ExportError(f'--classes {path}: {len(names)} names, the model has {num_classes} classes')
    return [n or f'class {i}' for i, n in enumerate(names)]


def parse_args(argv):
    """The command line options."""
    p = argparse.ArgumentParser(prog='varscope.export', description='Export a VAR checkpoint pair to a VARScope bundle.')
    p.add_argument('--vae', required=True, help='VQ-VAE checkpoint (state_dict or trainer checkpoint)')
    p.add_argument('--var', required=True, help='VAR checkpoint (state_dict or trainer checkpoint)')
    p.add_argument('--out', required=True, help='bundle folder to write (replaced when the export succeeds)')
    p.add_argument('--name', help='display name (default: the id)')
    p.add_argument('--id', help='folder-safe id (default: the --out folder name)')
    p.add_argument('--description')
    p.add_argument('--classes', help='text file, one class name per line')
    p.add_argument('--image-size', type=int, help='check the image side (must be last patch num x downsample)')
    p.add_argument('--patch-nums', help='scale sides, e.g. 1,2,3,4,5,6,8,10,13,16 (default: from the checkpoint)')
    p.add_argument('--probe', help='image used for self-verification (default: a synthetic test image)')
    p.add_argument('--background', default='255,255,255', help='RGB that transparent pixels are composited over')
    p.add_argument('--fp16', action='store_true',
                   help='store weights as float16 (half the size; graphs still compute in float32, IO stays float32)')
    p.add_argument('--sampling', help='default generation settings cfg,topK,topP (default 4,900,0.96)')
    p.add_argument('--training', help='JSON file: facts about the training run, stored as provenance.training')
    p.add_argument('--share-vae-from', help='bundle folder exported from the same VAE checkpoint: point the VAE '
                   'graphs, codebook and hits there and keep only the transformer weights')
    return p.parse_args(argv)


def run(argv) -> int:
    """Load, export into a staging folder, verify, then move the bundle into place; 0 on success."""
    args = parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    t0 = time.time()
    patch_nums = parse_int_list(args.patch_nums, '--patch-nums') if args.patch_nums else None
    background = parse_int_list(args.background, '--background', 3)
    out = os.path.abspath(args.out)
    bundle_id = args.id or os.path.basename(out.rstrip('/'))
    if not re.fullmatch(r'[A-Za-z0-9][A-Za-z0-9._-]*', bundle_id):
        raise ExportError(f'id {bundle_id!r} is not folder-safe (letters, digits, . _ -)')
    print(f'loading {args.vae} and {args.var}', flush=True)
    m = load_models(args.vae, args.var, patch_nums)
    if args.fp16 and args.share_vae_from:
        round_transformer_to_float16(m)  # the shared VAE graphs keep the base bundle's float32 weights
    elif args.fp16:
        round_to_float16(m)  # the reference then computes with exactly the weights the bundle stores
    image_size = m.var_cfg.patch_nums[-1] * m.vae.downsample
    if args.image_size and args.image_size != image_size:
        raise ExportError(f'--image-size {args.image_size}: this model works at {image_size} px '
                          f'(last scale {m.var_cfg.patch_nums[-1]} x downsample {m.vae.downsample})')
    print(f'config: {json.dumps(m.config_dict())}', flush=True)
    classes = read_classes(args.classes, m.var_cfg.num_classes) if args.classes else None
    sources = [{'role': role, 'file': os.path.basename(path), 'sha256': sha256_of(path), 'bytes': os.path.getsize(path)}
               for role, path in (('vae', args.vae), ('var', args.var))]
    manifest = build_manifest(m, bundle_id, args.name or bundle_id, classes, sources, background, args.description)
    if args.sampling:
        cfg, top_k, top_p = args.sampling.split(',') if args.sampling.count(',') == 2 else (None,) * 3
        try:
            manifest['sampling'] = {'cfg': float(cfg), 'topK': int(top_k), 'topP': float(top_p)}
        except (TypeError, ValueError):
            raise ExportError(f'--sampling: expected CFG,TOPK,TOPP, got {args.sampling!r}')
    if args.training:
        try:
            with open(args.training, encoding='utf-8') as f:
                manifest['provenance']['training'] = json.load(f)
        except (OSError, ValueError) as e:
            raise ExportError(f'--training {args.training}: {e}')

    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    stage = tempfile.mkdtemp(prefix=f'.{bundle_id}.partial-', dir=parent)
    os.chmod(stage, 0o755)  # mkdtemp makes it private; a bundle is meant to be shared
    try:
        export_all(m, stage, log=lambda s: print(s, flush=True), fp16=args.fp16)
        m.vae.quantize.embedding.weight.detach().numpy().astype('<f4').tofile(os.path.join(stage, 'codebook.bin'))
        if m.has_hits:
            m.vae.quantize.ema_vocab_hit_SV.numpy().astype('<f4').tofile(os.path.join(stage, 'trainingHits.bin'))
        if args.share_vae_from:
            share_vae(stage, out, args.share_vae_from, manifest, log=lambda s: print(s, flush=True))
            with open(os.path.join(stage, 'varscope.json'), 'w') as f:
                json.dump(manifest, f, indent=1)   # the verifier opens the graphs the manifest names
        rgb = load_rgb(args.probe, image_size, background) if args.probe else probe_image(image_size)
        with tempfile.TemporaryDirectory(prefix='varscope-verify-') as cases:
            print('computing PyTorch reference outputs', flush=True)
            label = min(3, m.var_cfg.num_classes - 1)
            write_cases(m, rgb_to_input(rgb), cases, label)
            print('running the graphs with onnxruntime-node (tools/verify_bundle.js)', flush=True)
            diffs = run_verifier(stage, cases)
        bad = failures(diffs)
        summary = summarize(diffs)
        for k, v in summary.items():
            print(f'  {k}: max abs diff {v:.3g}', flush=True)
        if bad:
            raise ExportError('verification failed: ' + '; '.join(f'{k} = {v:.3g} > {t:g}' for k, v, t in bad))
        manifest['provenance']['verification'] = summary
        manifest['files'] = bundle_files(stage, manifest)   # stage and out share a parent: shared paths resolve alike
        manifest['provenance']['exportedAt'] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
        with open(os.path.join(stage, 'varscope.json'), 'w') as f:
            json.dump(manifest, f, indent=1)
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(stage, out)
    finally:
        if os.path.exists(stage):
            shutil.rmtree(stage)
    print(f'ok: bundle {bundle_id} verified and written to {out} in {time.time() - t0:.1f} s', flush=True)
    return 0


def main(argv=None) -> int:
    """Entry point: exit code 0 on success, 2 for bad inputs, 1 for a failed step."""
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except (CheckpointError, ExportError, ShareError) as e:
        print(f'error: {e}', file=sys.stderr, flush=True)
        return 2
    except RuntimeError as e:
        print(f'error: {e}', file=sys.stderr, flush=True)
        return 1


if __name__ == '__main__':
    sys.exit(main())
