"""Float16 storage's fidelity on a trained model: the engine's tokens and teacher-forced logits of a float16 bundle
against its float32 twin, over a folder of images.

    npx tsc -p tsconfig.json && /usr/bin/python3 bench/fp16Fidelity.py [--model models/emoji64-d4]
        [--images out/data/held-out] [--count 100] [--json out/bench/fp16Fidelity.json]

The float32 bundle's checkpoints are recovered (varscope.from_bundle) and exported again with --fp16, which stores
every weight as float16 (the graphs compute in float32). Each image is then tokenized and teacher-forced (its folder's
class where the bundle has a class of that name, else class 0) by both bundles in the engine (bench/engineMemory.ts
--logits-only): token agreement of the image's pyramid, and the logits' agreement on the float32 bundle's tokens
(the same input, so only the weights differ). --images: an ImageFolder (one folder per class) or a flat folder.
Not a test: numbers for a model.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from releasedSizes import compare  # noqa: E402

IMAGE_EXT = ('.png', '.jpg', '.jpeg', '.webp', '.bmp')


def images_by_class(folder: str, count: int):
    """[(path, class folder or '')], taking the classes in turn so that a small count covers every class."""
    subdirs = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    groups = [(d, os.path.join(folder, d)) for d in subdirs] or [('', folder)]
    lists = [
        [(os.path.join(p, f), name) for f in sorted(os.listdir(p)) if f.lower().endswith(IMAGE_EXT)]
        for name, p in groups
    ]
    picked = []
    while len(picked) < count and any(lists):
        for lst in lists:
            if lst and len(picked) < count:
                picked.append(lst.pop(0))
    return picked


def python_env():
    return dict(os.environ, PYTHONPATH=os.path.join(ROOT, 'python'))


def run(cmd, **kwargs):
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise SystemExit(f'{" ".join(cmd[:4])}... failed ({proc.returncode}):\n{proc.stderr.strip()[-2000:]}')
    return proc.stdout


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', default=os.path.join(ROOT, 'models', 'emoji64-d4'))
    p.add_argument('--images', default=os.path.join(ROOT, 'out', 'data', 'held-out'))
    p.add_argument('--count', type=int, default=100)
    p.add_argument('--json')
    a = p.parse_args()
    with open(os.path.join(a.model, 'varscope.json')) as f:
        manifest = json.load(f)
    classes, V = manifest.get('classes') or [], manifest['vae']['vocabSize']
    node, probe = 'node', os.path.join(ROOT, 'out', 'bench', 'engineMemory.js')
    with tempfile.TemporaryDirectory(prefix='varscope-fp16-') as tmp:
        ckpt, b16 = os.path.join(tmp, 'ckpt'), os.path.join(tmp, 'fp16')
        print(f'recovering the checkpoints of {a.model}', flush=True)
        run([sys.executable, '-m', 'varscope.from_bundle', '--bundle', a.model, '--out', ckpt], env=python_env())
        print('exporting them with --fp16', flush=True)
        run(
            [sys.executable, '-m', 'varscope.export', '--vae', os.path.join(ckpt, 'vae.pth'), '--var']
            + [os.path.join(ckpt, 'var.pth'), '--out', b16, '--fp16'],
            env=python_env(),
        )
        per_image = []
        for i, (image, folder) in enumerate(images_by_class(a.images, a.count)):
            cls = classes.index(folder) if folder in classes else 0
            f32, f16 = os.path.join(tmp, f'{i}.f32'), os.path.join(tmp, f'{i}.f16')
            common = ['--image', image, '--class', str(cls), '--logits-only', '--logits']
            run([node, probe, '--model', a.model] + common + [f32])
            run([node, probe, '--model', b16] + common + [f16, '--var-input', f32 + '.varInput.bin'])
            per_image.append(dict(compare(f32, f16, V), image=os.path.relpath(image, a.images), classId=cls))
            print(
                f'{i + 1}/{a.count} {per_image[-1]["image"]}: tokens {per_image[-1]["tokenAgreement"]:.4f}', flush=True
            )
        sizes = {
            'float32': os.path.getsize(os.path.join(a.model, 'weights.bin')),
            'float16': os.path.getsize(os.path.join(b16, 'weights.bin')),
        }
    tok = np.array([r['tokenAgreement'] for r in per_image])
    same = [r['sameInputs'] for r in per_image]
    arg = np.array([s['argmaxAgreement'] for s in same])
    summary = {
        'model': manifest['id'],
        'images': len(per_image),
        'weightBytes': sizes,
        'tokenAgreement': {'mean': float(tok.mean()), 'min': float(tok.min()), 'identical': int((tok == 1).sum())},
        'sameInputs': {
            'argmaxAgreementMean': float(arg.mean()),
            'argmaxAgreementMin': float(arg.min()),
            'maxAbsLogitDiff': max(s['maxAbsLogitDiff'] for s in same),
            'logitScale': max(r['logitScale'] for r in per_image),
        },
    }
    print(json.dumps(summary, indent=1))
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json + '.tmp', 'w') as f:  # written whole or not at all, as releasedSizes.py writes its --json
            json.dump({'summary': summary, 'perImage': per_image}, f, indent=1)
        os.replace(a.json + '.tmp', a.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
