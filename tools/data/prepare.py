"""Build the emoji training set for the embedded default model: out/data/emoji64.npz.

Sources are the npm packages emoji-datasource-twitter (Twemoji, graphics CC-BY 4.0) and
emoji-datasource-google (Noto Emoji, Apache 2.0), read straight from their `npm pack` tarballs.
Every 64x64 RGBA emoji is composited over white (the bundle's normalisation background) and
labelled with its emoji.json category. The train / held-out split is drawn per base emoji, so a
held-out emoji is unseen in every style and skin tone.

    /usr/bin/python3 tools/data/prepare.py --out out/data/emoji64.npz [--pack-dir /tmp/emoji-packs]
"""
import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

import numpy as np
from PIL import Image

# Class id = index here; emoji.json's "Component" (5 skin-tone / hair swatches) is left out.
CATEGORIES = [
    'Smileys & Emotion', 'People & Body', 'Animals & Nature', 'Food & Drink', 'Travel & Places',
    'Activities', 'Objects', 'Symbols', 'Flags',
]
PACKAGE_VERSION = '16.0.0'
SOURCES = {
    'twitter': {'package': 'emoji-datasource-twitter', 'licence': 'CC-BY-4.0',
                'credit': 'Twemoji graphics (c) Twitter, Inc. and other contributors, CC-BY 4.0, '
                          'https://github.com/jdecked/twemoji'},
    'google': {'package': 'emoji-datasource-google', 'licence': 'Apache-2.0',
               'credit': 'Noto Emoji (c) Google LLC, Apache License 2.0, '
                         'https://github.com/googlefonts/noto-emoji'},
}
IMAGE_SIZE = 64
BACKGROUND = (255, 255, 255)


def pack_path(pack_dir, source):
    """Path of the source's npm tarball in pack_dir, fetched with `npm pack` when absent."""
    name = f"{SOURCES[source]['package']}-{PACKAGE_VERSION}.tgz"
    path = os.path.join(pack_dir, name)
    if not os.path.exists(path):
        os.makedirs(pack_dir, exist_ok=True)
        subprocess.run(['npm', 'pack', f"{SOURCES[source]['package']}@{PACKAGE_VERSION}"],
                       cwd=pack_dir, check=True, stdout=subprocess.DEVNULL)
    return path


def sha256_file(path):
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def composite(png_bytes):
    """RGBA PNG bytes -> [64, 64, 3] uint8 over the white background."""
    im = Image.open(io.BytesIO(png_bytes)).convert('RGBA')
    if im.size != (IMAGE_SIZE, IMAGE_SIZE):
        im = im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.LANCZOS)
    bg = Image.new('RGBA', im.size, BACKGROUND + (255,))
    return np.asarray(Image.alpha_composite(bg, im).convert('RGB'), dtype=np.uint8)


def entries(meta, source, skin_tones):
    """(group key, image file name, class id) for every emoji the source has an image of.

    Group key = the base emoji's code points, shared by its skin-tone variants, so the split keeps
    them together. Only single-tone variants are used (two-person mixed tones would add ~300 near
    duplicates to People & Body, which already dominates).
    """
    flag = f'has_img_{source}'
    out = []
    for e in sorted(meta, key=lambda e: e['sort_order']):
        if e['category'] not in CATEGORIES or not e.get(flag):
            continue
        cls = CATEGORIES.index(e['category'])
        out.append((e['unified'], e['image'], cls))
        if skin_tones:
            for tone in sorted(e.get('skin_variations', {})):
                v = e['skin_variations'][tone]
                if '-' not in tone and v.get(flag):
                    out.append((e['unified'], v['image'], cls))
    return out


def read_source(tgz, source, skin_tones):
    """Images [N,64,64,3] uint8, labels [N], group keys and names of one source tarball."""
    # One sequential pass over the tarball: random access into a .tgz re-decompresses from the start.
    prefix = f'package/img/{source}/64/'
    pngs, meta = {}, None
    with tarfile.open(tgz, 'r:gz') as tar:
        for member in tar:
            if member.name == 'package/emoji.json':
                meta = json.load(tar.extractfile(member))
            elif member.name.startswith(prefix) and member.isfile():
                pngs[member.name[len(prefix):]] = tar.extractfile(member).read()
    images, labels, groups, names = [], [], [], []
    for group, file_name, cls in entries(meta, source, skin_tones):
        if file_name not in pngs:
            continue  # listed but not shipped in this version
        images.append(composite(pngs[file_name]))
        labels.append(cls)
        groups.append(group)
        names.append(f'{source}/{file_name}')
    return np.stack(images), np.array(labels, np.int64), groups, names


def split_groups(groups, held_fraction, seed):
    """Boolean held-out mask [N]: a seeded random subset of the distinct groups."""
    distinct = sorted(set(groups))
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(distinct))
    n_held = int(round(held_fraction * len(distinct)))
    held = {distinct[i] for i in order[:n_held]}
    return np.array([g in held for g in groups], dtype=bool)


def split_hash(images, labels, held):
    """sha256 over the arrays that define the dataset (stable across zip timestamps)."""
    h = hashlib.sha256()
    for a in (images, labels, held.astype(np.uint8)):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def build(pack_dir, sources, held_fraction, seed, skin_tones):
    """Build the dataset dict (arrays + provenance) from the tarballs in pack_dir."""
    parts, provenance = [], []
    for source in sources:
        tgz = pack_path(pack_dir, source)
        parts.append((source, read_source(tgz, source, skin_tones)))
        provenance.append({'source': source, 'package': SOURCES[source]['package'],
                           'version': PACKAGE_VERSION, 'licence': SOURCES[source]['licence'],
                           'credit': SOURCES[source]['credit'], 'tarball_sha256': sha256_file(tgz),
                           'count': int(len(parts[-1][1][1]))})
    images = np.concatenate([p[1][0] for p in parts])
    labels = np.concatenate([p[1][1] for p in parts])
    groups = [g for p in parts for g in p[1][2]]
    names = [n for p in parts for n in p[1][3]]
    source_id = np.concatenate([np.full(len(p[1][1]), i, np.uint8) for i, p in enumerate(parts)])
    held = split_groups(groups, held_fraction, seed)
    return {
        'images': images, 'labels': labels, 'held': held, 'source': source_id,
        'names': np.array(names), 'classes': np.array(CATEGORIES), 'sources': np.array(sources),
        'meta': {'seed': seed, 'held_fraction': held_fraction, 'skin_tones': skin_tones,
                 'image_size': IMAGE_SIZE, 'background': list(BACKGROUND),
                 'count': int(len(labels)), 'train': int((~held).sum()), 'held_out': int(held.sum()),
                 'per_class': {c: int((labels == i).sum()) for i, c in enumerate(CATEGORIES)},
                 'split_sha256': split_hash(images, labels, held), 'provenance': provenance},
    }


def write_dataset(path, ds):
    """Write the dataset dict as .npz (meta as a JSON string inside) plus a .json sidecar of the meta."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    arrays = {k: v for k, v in ds.items() if k != 'meta'}
    np.savez_compressed(path, meta_json=np.array(json.dumps(ds['meta'])), **arrays)
    with open(os.path.splitext(path)[0] + '.json', 'w') as f:
        json.dump(ds['meta'], f, indent=1)


def main(argv=None):
    """CLI: build and write the .npz and a .json sidecar with counts, hashes and licences."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default='out/data/emoji64.npz')
    ap.add_argument('--pack-dir', default='/tmp/emoji-packs', help='where the npm tarballs are (or go)')
    ap.add_argument('--sources', default='twitter,google')
    ap.add_argument('--held-fraction', type=float, default=0.1)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--no-skin-tones', action='store_true')
    args = ap.parse_args(argv)
    ds = build(args.pack_dir, args.sources.split(','), args.held_fraction, args.seed, not args.no_skin_tones)
    write_dataset(args.out, ds)
    meta = ds['meta']
    print(json.dumps({k: meta[k] for k in ('count', 'train', 'held_out', 'per_class', 'split_sha256')}),
          f'-> {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB)', file=sys.stderr)


if __name__ == '__main__':
    main()
