"""The architecture templates VARScope ships (templates/<name>/), one per released VAR configuration: the official
VQ-VAE vae_ch160v4096z32 with var_d16, d20, d24, d30 at 256 px and d36-s at 512 px.

    npx tsc -p tsconfig.json && PYTHONPATH=python .venv-torch2/bin/python tools/build_templates.py
        [--sizes d16,d20,d24,d30,d36s] [--official /tmp/var-official] [--work /tmp/varscope-sizes] [--keep-bundle]

Per size: builds the official models with random weights (bench/releasedSizes.py's build, the official code in
--official; every parameter then moved by a little noise, so that no two tensors are equal in value: see make_distinct)
saved as the released checkpoints (WORK/<size>/ckpt, kept: a later run reuses them), exports them with
`python -m varscope.export` (which verifies every graph against PyTorch), writes the compact template of the bundle
into templates/<name> (src/node/templateStore.ts writeTemplate: graphs, weightMap.json, constants.bin; its manifest
keeps `template.facts`, what the key hashes, so python/tests/test_shipped_templates.py can recompute it), and checks
it: `varscope export` with no Python reachable writes the bundle of the checkpoints from the template, and every
graph and weight file must be the export's, byte for byte. The exported bundle is then deleted (--keep-bundle keeps
it), and one that is already there with the current template key is not exported again. Run it again whenever the
exporter's version changes (the shipped-templates test fails until then). A torch 2 Python exports faster, and loads
the checkpoints' structure with mmap. d30 takes 31-49 min and 13 GB to export, d36-s about 72 min and 19 GB.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'python'))
sys.path.insert(0, os.path.join(ROOT, 'bench'))

from releasedSizes import SIZES  # noqa: E402  (depth, image side, patch numbers, shared AdaLN)
from varscope.hashing import sha256_of  # noqa: E402

VAE_FILE = 'vae_ch160v4096z32.pth'
TEMPLATES = os.path.join(ROOT, 'templates')
NICE = shutil.which('nice')
# The files of a bundle that a bundle written from the template must reproduce byte for byte (besides its graphs).
WRITTEN = ('weightMap.json', 'weights.bin', 'codebook.bin', 'trainingHits.bin')


def template_name(size: str) -> str:
    """templates/<name> of a released size: var-d16-256, ..., var-d36s-512."""
    return f'var-{size}-{SIZES[size][1]}'


def checkpoint_files(ckpt: str, size: str):
    return os.path.join(ckpt, VAE_FILE), os.path.join(ckpt, f'var_d{SIZES[size][0]}.pth')


def make_distinct(paths) -> None:
    """Moves every parameter of the checkpoints by a little seeded noise, so that no two tensors are equal in value.

    The official initialisation leaves every bias zero and every norm weight one, and torch.onnx merges initializers
    of equal value: the export of such a checkpoint reads one tensor where a trained checkpoint has many, and is no
    template (the exporter then writes no weight map). Random weights serve the template as well as any."""
    import torch

    from varscope.bundle.checkpoint import STRUCTURAL

    g = torch.Generator().manual_seed(0)
    for path in paths:
        sd = torch.load(path, map_location='cpu')
        for key, t in sd.items():
            if t.is_floating_point() and not STRUCTURAL.match(key):
                t.add_(1e-3 * torch.randn(t.shape, generator=g, dtype=t.dtype))
        torch.save(sd, path)


def template_facts(vae_path: str, var_path: str):
    """(facts, key): what the template key of the checkpoints' float32 export hashes, as the exporter infers it."""
    import torch

    from varscope.bundle.checkpoint import canonical_vae_keys, extract, infer_var_config, infer_vae_config
    from varscope.bundle.weight_map import template_facts as facts_of, template_key

    def load(path):  # mmap (torch 2): only the tensors the inference reads come from the disk
        try:
            return torch.load(path, map_location='cpu', mmap=True, weights_only=True)
        except TypeError:
            return torch.load(path, map_location='cpu')

    vae_cfg = infer_vae_config(canonical_vae_keys(extract(load(vae_path), 'vae', vae_path)), vae_path)
    var_cfg = infer_var_config(extract(load(var_path), 'var', var_path), var_path)
    return facts_of(vae_cfg, var_cfg, False), template_key(vae_cfg, var_cfg, False)


def manifest_of(bundle: str) -> dict:
    try:
        with open(os.path.join(bundle, 'varscope.json'), encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def run(cmd, log, **kw) -> float:
    """Runs cmd (nice'd), its output into the log; seconds taken. Raises on failure."""
    t0 = time.time()
    r = subprocess.run([NICE] + cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    log(r.stdout.rstrip())
    if r.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd[:4])} ... failed (exit {r.returncode})')
    return time.time() - t0


def write_template(bundle: str, dest: str, name: str, facts: dict, log) -> None:
    """templates/<name> from the bundle, by src/node/templateStore.ts writeTemplate (the compiled one in out/)."""
    js = (
        "require(process.argv[1]).writeTemplate(process.argv[2], process.argv[3], JSON.parse(process.argv[4]))"
        ".catch((e) => { console.error(e.message); process.exit(1); })"
    )
    module = os.path.join(ROOT, 'out', 'src', 'node', 'templateStore.js')
    if not os.path.exists(module):
        raise RuntimeError(f'{module} is missing: compile first (npx tsc -p tsconfig.json)')
    run(['node', '-e', js, module, bundle, dest, json.dumps({'id': name, 'facts': facts})], log)


def check_template(vae: str, var: str, bundle: str, work: str, log) -> float:
    """`varscope export` of the checkpoints with no Python on PATH and none configured must write them from the shipped
    template, and its graphs and weight files must be the export's byte for byte; seconds the export took."""
    out = os.path.join(work, 'from-template')
    shutil.rmtree(out, ignore_errors=True)
    with tempfile.TemporaryDirectory() as empty:
        env = dict(
            os.environ,
            PATH=empty,
            VARSCOPE_PYTHON=os.path.join(empty, 'python3'),
            VARSCOPE_TEMPLATES=empty,
            VARSCOPE_CLI=os.path.join(ROOT, 'out', 'src', 'cli', 'main.js'),
        )
        cmd = [shutil.which('node'), os.path.join(ROOT, 'bin', 'varscope.js'), 'export', '--vae', vae, '--var', var]
        secs = run(cmd + ['--out', out], log, env=env)
    try:
        want = manifest_of(bundle)['files']
        graphs = [g['file'] for g in manifest_of(bundle)['graphs'].values()]
        for name in graphs + list(WRITTEN):
            if sha256_of(os.path.join(out, name)) != want[name]['sha256']:
                raise RuntimeError(f'{name} written from the template differs from the export\'s')
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return secs


def du(path: str) -> int:
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))


def build_size(size: str, a, log) -> dict:
    """One released size, end to end; what it measured."""
    name = template_name(size)
    work = os.path.join(a.work, size)
    ckpt, bundle = os.path.join(work, 'ckpt'), os.path.join(work, 'bundle')
    vae, var = checkpoint_files(ckpt, size)
    r = {'size': size, 'template': name}
    if not (os.path.exists(vae) and os.path.exists(var)):
        log(f'{size}: building the official models with random weights')
        script = os.path.join(ROOT, 'bench', 'releasedSizes.py')
        run([sys.executable, script, '--official', a.official, '--build-only', f'{size}:{ckpt}'], log)
        make_distinct((vae, var))
    facts, key = template_facts(vae, var)
    if manifest_of(bundle).get('template', {}).get('key') != key:
        log(f'{size}: exporting (template key {key[:12]})')
        shutil.rmtree(bundle, ignore_errors=True)
        cmd = [sys.executable, '-m', 'varscope.export', '--vae', vae, '--var', var, '--out', bundle, '--id', name]
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, 'python'))
        r['exportSeconds'] = round(run(cmd, log, env=env), 1)
    if manifest_of(bundle).get('template', {}).get('key') != key:
        raise RuntimeError(f'{bundle}: no template of key {key} (the current exporter\'s; see its export log)')
    dest = os.path.join(a.templates, name)
    write_template(bundle, dest, name, facts, log)
    r['templateBytes'] = du(dest)
    log(f'{size}: template {dest}: {r["templateBytes"]} bytes; checking it')
    r['fromTemplateSeconds'] = round(check_template(vae, var, bundle, work, log), 1)
    if not a.keep_bundle:
        shutil.rmtree(bundle, ignore_errors=True)
    log(f'{size}: {json.dumps(r)}')
    return r


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--sizes', default='d16,d20,d24,d30,d36s')
    p.add_argument('--official', default='/tmp/var-official')
    p.add_argument('--work', default='/tmp/varscope-sizes')
    p.add_argument('--templates', default=TEMPLATES, help=argparse.SUPPRESS)
    p.add_argument('--keep-bundle', action='store_true')
    a = p.parse_args()
    sizes = a.sizes.split(',')
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        print(f'--sizes: unknown {", ".join(unknown)} (the released ones: {", ".join(SIZES)})', file=sys.stderr)
        return 2
    log = lambda s: s and print(s, file=sys.stderr, flush=True)
    for size in sizes:
        try:
            print(json.dumps(build_size(size, a, log)), flush=True)
        except RuntimeError as e:
            print(f'{size}: {e}', file=sys.stderr)
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
