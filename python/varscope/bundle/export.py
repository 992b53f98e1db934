"""Command line: export an official VAR + VQ-VAE checkpoint pair into a VARScope bundle and verify it.

PYTHONPATH=python python3 -m varscope.export --vae VAE.pth --var VAR.pth --out DIR [--name NAME] [--id ID]
    [--classes names.txt] [--image-size N] [--patch-nums 1,2,...] [--probe IMAGE] [--background R,G,B]
    [--sampling CFG,TOPK,TOPP] [--training run.json] [--share-vae-from BUNDLE_DIR] [--verbose] [--log FILE]"""
import argparse
import ctypes
import datetime
import json
import os
import posixpath
import re
import shutil
import signal
import sys
import tempfile
import time
import warnings

if __name__ == '__main__':
    # torch takes seconds to import: a Ctrl-C meanwhile ends quietly (nothing is written yet); main() takes over after
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))

import onnx  # noqa: E402
import torch  # noqa: E402

from ..atomic import replace_dir, write_atomic
from ..hashing import sha256_of
from .bundle_spec import build_manifest
from .checkpoint import CheckpointError, load_models
from .onnx_export import export_all, release_freed_memory, round_to_float16
from ..model.preprocess import load_rgb, rgb_to_input
from . import weight_map
from .weight_map import write_map
from .share import ShareError, round_transformer_to_float16, share_vae
from .verify import failures, probe_image, run_verifier, summarize, write_cases


class ExportError(Exception):
    """A bad argument or a failed export step, reported without a traceback."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived: the export stops, removes its staging folder and leaves --out as it was."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def own_file_names(manifest: dict):
    """The file names a bundle's manifest names in its own folder (graphs, codebook, hits), plus the manifest and
    the shared external-data file."""
    names = {'varscope.json', 'weights.bin'}
    names.update(f for f in (manifest.get('files') or {}) if isinstance(f, str) and '/' not in f)  # external data files
    for entry in list(manifest.get('graphs', {}).values()) + [manifest.get('codebook'), manifest.get('trainingHits')]:
        if isinstance(entry, dict) and isinstance(entry.get('file'), str) and '/' not in entry['file']:
            names.add(entry['file'])
    return names


def check_out(out: str) -> None:
    """--out may be absent, an empty folder or a VARScope bundle (only the files its manifest names): anything else
    holds a user's files, which an export never deletes."""
    if not os.path.lexists(out):
        return
    if not os.path.isdir(out):
        raise ExportError(f'--out {out}: exists and is not a folder; refusing to replace it (give a new folder name)')
    entries = sorted(os.listdir(out))
    if not entries:
        return
    manifest = None
    try:
        with open(os.path.join(out, 'varscope.json'), encoding='utf-8') as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        pass
    if not isinstance(manifest, dict) or not isinstance(manifest.get('graphs'), dict):
        raise ExportError(
            f'--out {out}: a folder that is not a VARScope bundle ({len(entries)} entries, no valid '
            f'varscope.json); refusing to replace it (give a new or empty folder)'
        )
    foreign = [
        e + ('/' if os.path.isdir(os.path.join(out, e)) else '')
        for e in entries
        if e not in own_file_names(manifest) or not os.path.isfile(os.path.join(out, e))
    ]
    if foreign:
        shown = ', '.join(foreign[:5]) + (f' and {len(foreign) - 5} more' if len(foreign) > 5 else '')
        raise ExportError(
            f'--out {out}: the bundle folder also holds files that are not part of it ({shown}); '
            f'refusing to replace it (move them away or give another folder)'
        )


def stage_beside(out: str, bundle_id: str) -> str:
    """A new staging folder beside --out (same file system, so the finished bundle is renamed into place)."""
    parent = os.path.dirname(out)
    above = parent
    while not os.path.exists(above):
        above = os.path.dirname(above)
    if not os.path.isdir(above):
        raise ExportError(f'--out {out}: {above} is a file, not a folder')
    try:
        os.makedirs(parent, exist_ok=True)
        stage = tempfile.mkdtemp(prefix=f'.{bundle_id}.partial-', dir=parent)
    except OSError as e:
        raise ExportError(f'--out {out}: cannot create a folder in {parent}: {e.strerror or e}')
    os.chmod(stage, 0o755)  # mkdtemp makes it private; a bundle is meant to be shared
    return stage


def file_hashes(bundle_dir: str, manifest: dict) -> dict:
    """{path relative to the bundle: {sha256, bytes}} of every file the bundle reads: graphs, the external data files
    they name, codebook and training hits (shared files of another bundle included, by their relative path)."""
    rels = [g['file'] for g in manifest['graphs'].values()]
    for key in ('codebook', 'trainingHits', 'template'):
        if key in manifest:
            rels.append(manifest[key]['file' if key != 'template' else 'map'])
    for graph in [g['file'] for g in manifest['graphs'].values()]:
        model = onnx.load(os.path.join(bundle_dir, graph), load_external_data=False)
        folder = os.path.dirname(graph)
        rels += [
            posixpath.normpath(posixpath.join(folder, e.value))
            for t in model.graph.initializer
            for e in t.external_data
            if e.key == 'location'
        ]
    files = {}
    for rel in sorted(set(rels)):
        path = os.path.join(bundle_dir, rel)
        files[rel] = {'sha256': sha256_of(path), 'bytes': os.path.getsize(path)}
    return files


def write_codebook_and_hits(m, out_dir: str) -> None:
    """codebook.bin and (when the checkpoint has them for this pyramid) trainingHits.bin, float32 each."""
    m.vae.quantize.embedding.weight.detach().numpy().astype('<f4').tofile(os.path.join(out_dir, 'codebook.bin'))
    if m.has_hits:
        m.vae.quantize.ema_vocab_hit_SV.numpy().astype('<f4').tofile(os.path.join(out_dir, 'trainingHits.bin'))


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


# Sampling bounds: the same as src/shared/samplingBounds.ts (the engine refuses a bundle's sampling outside them).
SAMPLING_BOUNDS = {'cfg': (0.0, 100.0), 'topK': (0, 1_000_000), 'topP': (0.0, 1.0)}


def parse_sampling(text: str) -> dict:
    """'CFG,TOPK,TOPP' -> {'cfg', 'topK', 'topP'}, each finite and inside SAMPLING_BOUNDS, or an ExportError."""
    parts = text.split(',')
    try:
        if len(parts) != 3:
            raise ValueError
        sampling = {'cfg': float(parts[0]), 'topK': int(parts[1]), 'topP': float(parts[2])}
    except ValueError:
        raise ExportError(f'--sampling: expected CFG,TOPK,TOPP, got {text!r}')
    for key, (lo, hi) in SAMPLING_BOUNDS.items():
        if not lo <= sampling[key] <= hi:  # NaN fails too
            raise ExportError(f'--sampling {text}: {key} must be in [{lo:g}, {hi:g}], got {sampling[key]:g}')
    return sampling


def parse_args(argv):
    """The command line options."""
    p = argparse.ArgumentParser(
        prog='varscope.export', description='Export a VAR checkpoint pair to a VARScope bundle.'
    )
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
    p.add_argument(
        '--fp16',
        action='store_true',
        help='store weights as float16 (half the size; graphs still compute in float32, IO stays float32)',
    )
    p.add_argument('--sampling', help='default generation settings cfg,topK,topP (default 4,900,0.96)')
    p.add_argument('--training', help='JSON file: facts about the training run, stored as provenance.training')
    p.add_argument(
        '--share-vae-from',
        help='bundle folder exported from the same VAE checkpoint: point the VAE '
        'graphs, codebook and hits there and keep only the transformer weights',
    )
    p.add_argument(
        '--verbose', action='store_true', help="print torch's warnings (tracer, constant folding) as they come"
    )
    p.add_argument('--log', help='file for the warnings torch gives while exporting (default: one in the temp folder)')
    return p.parse_args(argv)


class WarningLog:
    """While inside, Python warnings (torch's TracerWarnings, "Constant folding" UserWarnings, deprecations) are
    kept instead of printed; report() writes them to a log file and prints one line naming it. With `verbose` they
    print on stderr as usual.

    NOTE: torch's C++ side raises its warnings as Python warnings (TORCH_WARN), so they are caught here too; for these
    graphs they are expected (the shapes the tracer records as constants are static in every bundle)."""

    def __init__(self, verbose: bool, path: str = None):
        self.verbose, self.path, self.caught = verbose, path, []
        self._context = None

    def __enter__(self):
        if not self.verbose:
            self._context = warnings.catch_warnings()
            self._context.__enter__()
            warnings.simplefilter('default')  # each distinct warning once per place, as Python prints them
            warnings.showwarning = self._keep
        return self

    def __exit__(self, *exc):
        if self._context is not None:
            self._context.__exit__(*exc)
            self._context = None
            self.report()
        return False

    def _keep(self, message, category, filename, lineno, file=None, line=None):
        self.caught.append(warnings.formatwarning(message, category, filename, lineno, line))

    def report(self) -> None:
        """Write the warnings kept so far to the log and print where (nothing when there were none)."""
        caught, self.caught = self.caught, []
        if not caught:
            return
        try:
            if not self.path:
                fd, self.path = tempfile.mkstemp(prefix='varscope-export-', suffix='.log')
                os.close(fd)
            with open(self.path, 'a', encoding='utf-8') as f:
                f.writelines(caught)
        except OSError as e:
            print(f'note: {len(caught)} warnings from torch could not be logged ({e.strerror or e})', flush=True)
            return
        print(
            f'note: {len(caught)} warnings from torch while exporting, in {self.path} (--verbose prints them)',
            flush=True,
        )


def export_threads() -> int:
    """Every core this process may use, or torch's default where it is more: some builds (Debian's) default to one
    thread, which made an export on two cores take twice as long."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1
    return max(torch.get_num_threads(), cores)


def run(args, warning_log: WarningLog = None) -> int:
    """Load, export into a staging folder, verify, then move the bundle into place; 0 on success."""
    torch.set_num_threads(export_threads())
    t0 = time.time()
    patch_nums = parse_int_list(args.patch_nums, '--patch-nums') if args.patch_nums else None
    background = parse_int_list(args.background, '--background', 3)
    out = os.path.abspath(args.out)
    bundle_id = args.id or os.path.basename(out.rstrip('/'))
    if not re.fullmatch(r'[A-Za-z0-9][A-Za-z0-9._-]*', bundle_id):
        raise ExportError(f'id {bundle_id!r} is not folder-safe (letters, digits, . _ -)')
    out = os.path.realpath(out)  # a link to a bundle folder: the folder it points at is replaced
    check_out(out)
    if args.share_vae_from and os.path.realpath(args.share_vae_from) == out:
        raise ExportError(
            f'--share-vae-from {args.share_vae_from}: is the --out folder itself; a bundle cannot share '
            f'the VAE of the bundle it replaces (export the base bundle to another folder)'
        )
    sampling = parse_sampling(args.sampling) if args.sampling else None
    stage = stage_beside(out, bundle_id)
    try:
        export_into(args, stage, out, bundle_id, patch_nums, background, sampling)
        # The swap takes milliseconds; a signal inside it is dropped, so --out is either the old or the new bundle.
        handlers = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            if _received:  # a signal whose exception a library swallowed: still stop before the swap
                raise Interrupted(_received[0])
            replace_dir(stage, out)
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)
    finally:
        if os.path.exists(stage):
            shutil.rmtree(stage)
    if warning_log:
        warning_log.report()  # before the last line, which says the export is done
    print(f'ok: bundle {bundle_id} verified and written to {out} in {time.time() - t0:.1f} s', flush=True)
    return 0


def export_into(args, stage: str, out: str, bundle_id: str, patch_nums, background, sampling) -> None:
    """Load the checkpoints, write every bundle file into `stage` and verify it there."""
    print(f'loading {args.vae} and {args.var}', flush=True)
    m = load_models(args.vae, args.var, patch_nums)
    if args.fp16 and args.share_vae_from:
        round_transformer_to_float16(m)  # the shared VAE graphs keep the base bundle's float32 weights
    elif args.fp16:
        round_to_float16(m)  # the reference then computes with exactly the weights the bundle stores
    image_size = m.var_cfg.patch_nums[-1] * m.vae.downsample
    if args.image_size and args.image_size != image_size:
        raise ExportError(
            f'--image-size {args.image_size}: this model works at {image_size} px '
            f'(last scale {m.var_cfg.patch_nums[-1]} x downsample {m.vae.downsample})'
        )
    print(f'config: {json.dumps(m.config_dict())}', flush=True)
    classes = read_classes(args.classes, m.var_cfg.num_classes) if args.classes else None
    sources = [
        {'role': role, 'file': os.path.basename(path), 'sha256': sha256_of(path), 'bytes': os.path.getsize(path)}
        for role, path in (('vae', args.vae), ('var', args.var))
    ]
    manifest = build_manifest(m, bundle_id, args.name or bundle_id, classes, sources, background, args.description)
    if sampling:
        manifest['sampling'] = sampling
    if args.training:
        try:
            with open(args.training, encoding='utf-8') as f:
                manifest['provenance']['training'] = json.load(f)
        except (OSError, ValueError) as e:
            raise ExportError(f'--training {args.training}: {e}')

    store, origins = export_all(m, stage, log=lambda s: print(s, flush=True), fp16=args.fp16)
    write_codebook_and_hits(m, stage)
    if not args.share_vae_from:  # a bundle sharing another's VAE is no template (its weights.bin is repacked)
        key = write_map(stage, m, store, origins, args.fp16)
        if key is not None:
            manifest['template'] = {'key': key, 'map': weight_map.FILE}
    del store, origins
    if args.share_vae_from:
        share_vae(stage, out, args.share_vae_from, manifest, log=lambda s: print(s, flush=True))
        # the verifier opens the graphs the manifest names
        write_atomic(os.path.join(stage, 'varscope.json'), json.dumps(manifest, indent=1))
    rgb = load_rgb(args.probe, image_size, background) if args.probe else probe_image(image_size)
    with tempfile.TemporaryDirectory(prefix='varscope-verify-') as cases:
        print('computing PyTorch reference outputs', flush=True)
        label = min(3, m.var_cfg.num_classes - 1)
        write_cases(m, rgb_to_input(rgb), cases, label)
        del m  # the verifier's sessions need the memory the models held (d30: 8 GB of weights)
        release_freed_memory()
        print('running the graphs with onnxruntime-node (tools/verify_bundle.js)', flush=True)
        diffs = run_verifier(stage, cases)
    bad = failures(diffs)
    summary = summarize(diffs)
    for k, v in summary.items():
        print(f'  {k}: max abs diff {v:.3g}', flush=True)
    if bad:
        raise ExportError('verification failed: ' + '; '.join(f'{k} = {v:.3g} > {t:g}' for k, v, t in bad))
    manifest['provenance']['verification'] = summary
    manifest['files'] = file_hashes(stage, manifest)  # stage and out share a parent: shared paths resolve alike
    manifest['provenance']['exportedAt'] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
    write_atomic(os.path.join(stage, 'varscope.json'), json.dumps(manifest, indent=1))


_received = []  # the signal that stopped the export, if any


def _on_signal(signum, _frame):
    # The first SIGINT / SIGTERM stops the export; later ones (a terminal sends SIGINT to the whole group and the
    # varscope CLI forwards it too) must not interrupt the cleanup that follows.
    # NOTE: raised inside torch's tracer the exception comes back as a RuntimeError; _received tells them apart.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _received.append(signum)
    raise Interrupted(signum)


def _die_with_parent() -> None:
    """Started by the varscope CLI (VARSCOPE_PARENT_PID): if the CLI is killed outright (SIGKILL, nothing to forward),
    Linux sends this process SIGTERM, so no export outlives it and replaces a bundle later."""
    parent = os.environ.get('VARSCOPE_PARENT_PID')
    if not parent or not sys.platform.startswith('linux'):
        return
    try:
        ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != parent:  # the CLI died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv=None) -> int:
    """Entry point: exit code 0 on success, 2 for bad inputs, 1 for a failed step, 128 + signal when interrupted."""
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    _die_with_parent()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        with WarningLog(args.verbose, args.log) as warning_log:
            return run(args, warning_log)
    except (CheckpointError, ExportError, ShareError, RuntimeError, OSError, Interrupted) as e:
        if _received:
            name = signal.Signals(_received[0]).name
            print(
                f'interrupted ({name}): export stopped, nothing written; --out is as it was',
                file=sys.stderr,
                flush=True,
            )
            return 128 + _received[0]
        if isinstance(
            e, OSError
        ):  # a full disk, a folder that went away: the staged bundle is gone, --out is as it was
            where = f' ({e.filename})' if e.filename else ''
            print(f'error: {e.strerror or e}{where} while exporting; --out is as it was', file=sys.stderr, flush=True)
            return 1
        print(f'error: {e}', file=sys.stderr, flush=True)
        return 1 if isinstance(e, RuntimeError) else 2


if __name__ == '__main__':
    sys.exit(main())
