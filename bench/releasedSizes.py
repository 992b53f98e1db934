"""Every released VAR size, end to end: build the official VQ-VAE + VAR with random weights (seeded), save them as the
official checkpoints are, export them with `varscope export`, open the bundle in the engine and inspect one image.

    npx tsc -p tsconfig.json && /usr/bin/python3 bench/releasedSizes.py [--sizes d16,d20,d24,d36s,d30]
        [--official /tmp/var-official] [--work /tmp/varscope-sizes] [--limit-gb 16] [--image IMG] [--fp16]
        [--generate] [--keep] [--json out/bench/releasedSizes.json]

--official: a copy of FoundationVision/VAR (its `models` package builds the models). Per size it reports the export
time, the bundle's bytes and weight bytes (weights.bin), the peak RSS of the export's process tree, the engine's RSS
after opening the model, after one inspection, after one teacher-forced evaluation and, with --generate, after one
generation (bench/engineMemory.ts: a fresh engine child process, /proc VmRSS and VmHWM) with the memory goal (RSS <= 1.5
x weight bytes + 0.5 GB), and the time to the first pyramid. Each step runs under `prlimit --as` and a watchdog that
kills its process tree when its resident memory passes --limit-gb, so a size that does not fit fails with its measured
peak instead of exhausting the machine. A size's checkpoints and bundle are deleted when it is done (--keep leaves them,
and a later run reuses the kept checkpoints). --fp16 also exports a float16 bundle of each size and compares the
engine's tokens and teacher-forced logits on the image with the float32 bundle's. Not a test: numbers for this machine.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GB = 2**30
AS_MARGIN = 12 * GB
# Released sizes: depth, image side, patch_nums, shared AdaLN (official README and train.py).
SIZES = {
    'd16': (16, 256, (1, 2, 3, 4, 5, 6, 8, 10, 13, 16), False),
    'd20': (20, 256, (1, 2, 3, 4, 5, 6, 8, 10, 13, 16), False),
    'd24': (24, 256, (1, 2, 3, 4, 5, 6, 8, 10, 13, 16), False),
    'd30': (30, 256, (1, 2, 3, 4, 5, 6, 8, 10, 13, 16), False),
    'd36s': (36, 512, (1, 2, 3, 4, 6, 9, 13, 18, 24, 32), True),
}


def tree_rss(pid: int) -> int:
    """Summed VmRSS (bytes) of a process and all its descendants."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f'/proc/{p}/status') as f:
                total += next((int(l.split()[1]) * 1024 for l in f if l.startswith('VmRSS:')), 0)
            with open(f'/proc/{p}/task/{p}/children') as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            pass
    return total


def run_limited(cmd, limit: int, log, env=None):
    """Run cmd (its own process group) under prlimit --as and an RSS watchdog; (rc, seconds, peak tree RSS, stdout).

    The address-space limit is `limit` + AS_MARGIN: the exporter builds each model before the checkpoint's tensors
    replace its parameters, whose storages, never touched, take address space but no memory (d36-s: 9 GB)."""
    t0 = time.time()
    proc = subprocess.Popen(
        ['prlimit', f'--as={limit + AS_MARGIN}', '--'] + cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    peak, killed, lines = [0], [False], []

    def watch():
        while proc.poll() is None:
            rss = tree_rss(proc.pid)
            peak[0] = max(peak[0], rss)
            if rss > limit and not killed[0]:
                killed[0] = True
                log(f'  watchdog: process tree at {rss / GB:.2f} GB > {limit / GB:.1f} GB, stopping it')
                os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(0.2)

    def drain():
        for line in proc.stderr:
            lines.append(line.rstrip())
            log('    ' + line.rstrip())

    threads = [threading.Thread(target=watch, daemon=True), threading.Thread(target=drain, daemon=True)]
    for t in threads:
        t.start()
    out = proc.stdout.read()
    proc.wait()
    for t in threads:
        t.join()
    rc = -9 if killed[0] else proc.returncode
    return rc, time.time() - t0, peak[0], out, lines


def build(size: str, official: str, out: str) -> None:
    """Official models with random weights (seed 0), saved as the released checkpoints are (state_dicts)."""
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, official)
    # models/var.py imports huggingface_hub only for its hub mixin (VARHF), unused here.
    hub = types.ModuleType('huggingface_hub')
    hub.PyTorchModelHubMixin = type('PyTorchModelHubMixin', (), {})
    sys.modules.setdefault('huggingface_hub', hub)
    from models import build_vae_var  # the official code

    depth, _, pns, shared = SIZES[size]
    # build_vae_var replaces reset_parameters of these classes with a no-op for speed and then initialises only the
    # VAR: the VAE would keep uninitialised memory, so it gets PyTorch's default initialisation here.
    nn = torch.nn
    patched = (
        nn.Linear,
        nn.LayerNorm,
        nn.BatchNorm2d,
        nn.SyncBatchNorm,
        nn.Conv1d,
        nn.Conv2d,
        nn.ConvTranspose1d,
        nn.ConvTranspose2d,
    )
    own = {c: vars(c).get('reset_parameters') for c in patched}
    torch.manual_seed(0)
    vae, var = build_vae_var(
        device='cpu',
        patch_nums=pns,
        num_classes=1000,
        depth=depth,
        shared_aln=shared,
        flash_if_available=False,
        fused_if_available=False,
    )
    for c, fn in own.items():
        if fn is None:
            delattr(c, 'reset_parameters')  # back to the inherited one (_ConvNd's, _NormBase's)
        else:
            setattr(c, 'reset_parameters', fn)
    for mod in vae.modules():
        if hasattr(mod, 'reset_parameters'):
            mod.reset_parameters()
    os.makedirs(out, exist_ok=True)
    torch.save(vae.state_dict(), os.path.join(out, 'vae_ch160v4096z32.pth'))
    del vae
    torch.save(var.state_dict(), os.path.join(out, f'var_d{depth}.pth'))
    print(json.dumps({'varParams': sum(p.numel() for p in var.parameters())}))


def du(path: str) -> int:
    """Bytes of the files under a folder."""
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def engine_run(bundle: str, image: str, limit: int, log, logits: str = '', var_input: str = '', generate=False):
    """bench/engineMemory.ts on a bundle: its JSON result, or {'error', 'peak'}."""
    cmd = ['node', 'out/bench/engineMemory.js', '--model', bundle, '--image', image, '--evaluate']
    cmd += ['--generate'] if generate else []
    if logits:
        cmd += ['--logits', logits] + (['--var-input', var_input] if var_input else [])
    rc, _, peak, out, lines = run_limited(cmd, limit, log)
    if rc != 0:
        return {'error': f'exit {rc}: ' + (lines[-1] if lines else ''), 'treePeak': peak}
    r = json.loads(out.strip().splitlines()[-1])
    r['treePeak'] = peak
    return r


def last_peak(e: dict):
    """The engine's VmHWM after its last step: the most the process held."""
    return e.get('peakAfterGenerate', e.get('peakAfterEvaluate', e.get('peakAfterInspect')))


def export(ckpt: str, depth: int, bundle: str, limit: int, log, fp16: bool = False):
    """The exporter that `varscope export` runs (python -m varscope.export), on one size: (rc, seconds, peak tree RSS)."""
    cmd = [
        sys.executable,
        '-m',
        'varscope.export',
        '--vae',
        os.path.join(ckpt, 'vae_ch160v4096z32.pth'),
        '--var',
        os.path.join(ckpt, f'var_d{depth}.pth'),
        '--out',
        bundle,
    ]
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, 'python'))
    rc, secs, peak, _, _ = run_limited(cmd + (['--fp16'] if fp16 else []), limit, log, env=env)
    return rc, secs, peak


def compare(a: str, b: str, V: int) -> dict:
    """Float16 fidelity from two engineMemory --logits outputs (a: float32 bundle, b: float16 bundle run with
    --var-input a.varInput.bin): image-token agreement, and the teacher-forced logits on each bundle's own tokens and
    on the float32 bundle's."""
    import numpy as np

    ta, tb = np.fromfile(a + '.tokens.bin', np.int32), np.fromfile(b + '.tokens.bin', np.int32)
    la = np.fromfile(a + '.logits.bin', np.float32).reshape(-1, V)
    out = {'tokenAgreement': float((ta == tb).mean()), 'logitScale': float(np.abs(la).max())}
    for key, file in (('ownInputs', b + '.logits.bin'), ('sameInputs', b + '.givenInput.logits.bin')):
        lb = np.fromfile(file, np.float32).reshape(-1, V)
        out[key] = {
            'maxAbsLogitDiff': float(np.abs(la - lb).max()),
            'argmaxAgreement': float((la.argmax(1) == lb.argmax(1)).mean()),
        }
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--sizes', default='d16,d20,d24,d36s,d30')
    p.add_argument('--official', default='/tmp/var-official')
    p.add_argument('--work', default='/tmp/varscope-sizes')
    p.add_argument('--limit-gb', type=float, default=16)
    p.add_argument('--image', default=os.path.join(ROOT, 'media', 'sample.png'))
    p.add_argument('--fp16', action='store_true')
    p.add_argument('--generate', action='store_true')
    p.add_argument('--keep', action='store_true')
    p.add_argument('--json', default=os.path.join(ROOT, 'out', 'bench', 'releasedSizes.json'))
    p.add_argument('--build-only', help=argparse.SUPPRESS)  # internal: SIZE:OUT, the build step's own process
    a = p.parse_args()
    if a.build_only:
        size, out = a.build_only.split(':', 1)
        build(size, a.official, out)
        return 0
    if not os.path.isdir(os.path.join(a.official, 'models')):
        print(f'--official {a.official}: no models/ folder (a copy of FoundationVision/VAR is needed)', file=sys.stderr)
        return 2
    limit = int(a.limit_gb * GB)
    log = lambda s: print(s, file=sys.stderr, flush=True)
    results = {}
    if os.path.exists(a.json):
        with open(a.json) as f:
            results = json.load(f).get('sizes', {})
    for size in a.sizes.split(','):
        depth, px, _, _ = SIZES[size]
        ckpt, bundle = os.path.join(a.work, size, 'ckpt'), os.path.join(a.work, size, 'bundle')
        r = results[size] = {'depth': depth, 'imageSize': px}
        stamp = os.path.join(ckpt, 'built.json')
        if os.path.exists(stamp):  # kept by an earlier --keep run
            rc, out = 0, open(stamp).read()
        else:
            log(f'{size}: building the official models with random weights')
            rc, secs, peak, out, lines = run_limited(
                [sys.executable, __file__, '--official', a.official, '--build-only', f'{size}:{ckpt}'], limit, log
            )
            r['build'] = {'rc': rc, 'seconds': round(secs, 1), 'peak': peak}
        if rc != 0:
            r['error'] = f'build failed (exit {rc}); peak {peak / GB:.2f} GB'
        else:
            open(stamp, 'w').write(out)
            r['varParams'] = json.loads(out.strip().splitlines()[-1])['varParams']
            log(f'{size}: exporting')
            rc, secs, peak = export(ckpt, depth, bundle, limit, log)
            r['export'] = {'rc': rc, 'seconds': round(secs, 1), 'treePeak': peak}
            if rc != 0:
                r['error'] = f'export failed (exit {rc}); peak {peak / GB:.2f} GB'
            else:
                r['bundleBytes'], r['weightBytes'] = du(bundle), os.path.getsize(os.path.join(bundle, 'weights.bin'))
                log(f'{size}: opening in the engine')
                logits = os.path.join(a.work, size, 'f32') if a.fp16 else ''
                r['engine'] = engine_run(bundle, a.image, limit, log, logits, generate=a.generate)
                e = r['engine']
                if 'rssAfterInspect' in e:
                    goal = 1.5 * r['weightBytes'] + 0.5 * GB
                    peak = last_peak(e)
                    r['memoryGoal'] = {'bytes': goal, 'met': peak <= goal, 'ratioToWeights': peak / r['weightBytes']}
                if a.fp16 and 'rssAfterInspect' in e:
                    b16 = bundle + '-fp16'
                    rc, secs, peak = export(ckpt, depth, b16, limit, log, fp16=True)
                    r['fp16'] = {'export': {'rc': rc, 'seconds': round(secs, 1), 'treePeak': peak}}
                    if rc == 0:
                        r['fp16']['bundleBytes'] = du(b16)
                        r['fp16']['weightBytes'] = os.path.getsize(os.path.join(b16, 'weights.bin'))
                        f16 = os.path.join(a.work, size, 'f16')
                        r['fp16']['engine'] = engine_run(b16, a.image, limit, log, f16, logits + '.varInput.bin')
                        r['fp16']['fidelity'] = compare(logits, f16, 4096)
                    shutil.rmtree(b16, ignore_errors=True)
        if not a.keep:
            shutil.rmtree(os.path.join(a.work, size), ignore_errors=True)
        log(f'{size}: {json.dumps(r)}')
        os.makedirs(os.path.dirname(a.json), exist_ok=True)
        with open(a.json + '.tmp', 'w') as f:
            json.dump({'machine': os.uname().nodename, 'sizes': results}, f, indent=1)
        os.replace(a.json + '.tmp', a.json)
    print(table(results))
    return 0


def table(results: dict) -> str:
    """Markdown table of the sizes measured so far."""
    rows = [
        '| size | VAR params | export s | export peak GiB | bundle GiB | weights GiB | RSS open GiB | RSS inspect GiB '
        '| RSS evaluate GiB | RSS generate GiB | peak GiB | peak / weights | goal GiB | first pyramid s |',
        '|---|' + '---:|' * 13,
    ]
    g = lambda v: f'{v / GB:.2f}' if isinstance(v, (int, float)) else '-'
    for size, r in results.items():
        e, x, goal = r.get('engine', {}), r.get('export', {}), r.get('memoryGoal', {})
        cells = [
            size,
            f"{r.get('varParams', 0) / 1e6:.0f} M",
            x.get('seconds', '-'),
            g(x.get('treePeak')),
            g(r.get('bundleBytes')),
            g(r.get('weightBytes')),
            g(e.get('rssAfterOpen')),
            g(e.get('rssAfterInspect')),
            g(e.get('rssAfterEvaluate')),
            g(e.get('rssAfterGenerate')),
            g(last_peak(e)),
            f"{goal['ratioToWeights']:.2f}" if goal else '-',
            g(goal.get('bytes')),
            f"{e['firstPyramidMs'] / 1000:.1f}" if 'firstPyramidMs' in e else r.get('error') or e.get('error', '-'),
        ]
        rows.append('| ' + ' | '.join(str(c) for c in cells) + ' |')
    return '\n'.join(rows)


if __name__ == '__main__':
    sys.exit(main())
