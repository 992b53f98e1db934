"""Build the emoji training set for the embedded default model: out/data/emoji64.npz.

Sources are the npm packages emoji-datasource-twitter (Twemoji, graphics CC-BY 4.0) and
emoji-datasource-google (Noto Emoji, Apache 2.0), read straight from their `npm pack` tarballs.
Every 64x64 RGBA emoji is composited over white (the bundle's normalisation background) and
labelled with its emoji.json category. The train / held-out split is drawn per base emoji, so a
held-out emoji is unseen in every style and skin tone.

    PYTHONPATH=python /usr/bin/python3 -m varscope.prepare_data --out out/data/emoji64.npz [--pack-dir /tmp/emoji-packs]

--held-out-folder DIR also writes the held-out images as PNGs in an ImageFolder layout (one sub-folder per class,
named as the class), the layout `varscope evaluate --labels-from-subfolders` reads; an existing --out is read, not
rebuilt.
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
from ..hashing import sha256_of

# Visual classes built from emoji.json's own metadata (subcategory, name): each holds one shape or colour, so that
# a small model can learn to draw it. Class id = index here. `subcategories` picks the emoji, `names` (upper-case
# emoji.json `name` substrings) narrows them, `exclude` (short names) drops the ones that do not look the part.
CLASSES = [
    {
        'name': 'Yellow faces',
        'subcategories': [
            'face-smiling',
            'face-affection',
            'face-tongue',
            'face-hand',
            'face-neutral-skeptical',
            'face-sleepy',
            'face-unwell',
            'face-hat',
            'face-glasses',
            'face-concerned',
        ],
        'exclude': [
            'nauseated_face',
            'face_vomiting',
            'hot_face',
            'cold_face',
            'dotted_line_face',
            'face_in_clouds',
            'disguised_face',
            'nerd_face',
            'face_with_cowboy_hat',
            'partying_face',
            'sunglasses',
        ],
    },
    {'name': 'Hearts', 'subcategories': ['heart'], 'exclude': ['love_letter']},
    {'name': 'Country flags', 'subcategories': ['country-flag']},
    {
        'name': 'Hands',
        'subcategories': [
            'hand-fingers-open',
            'hand-fingers-partial',
            'hand-fingers-closed',
            'hand-single-finger',
            'hands',
        ],
        'exclude': ['handshake', 'heart_hands', 'point_up_2', 'point_down'],
    },
    {
        'name': 'Animal faces',
        'subcategories': ['animal-mammal', 'animal-amphibian', 'monkey-face'],
        'names': ['FACE', 'MONKEY', 'KOALA'],
        'exclude': ['monkey', 'dragon_face'],
    },
    {
        'name': 'Fruit & vegetables',
        'subcategories': ['food-fruit', 'food-vegetable'],
        'exclude': ['beans', 'peanuts', 'chestnut', 'ginger_root', 'root_vegetable', 'leafy_green'],
    },
    {
        'name': 'Vehicles',
        'subcategories': ['transport-ground'],
        'exclude': [
            'station',
            'busstop',
            'motorway',
            'railway_track',
            'oil_drum',
            'fuelpump',
            'wheel',
            'rotating_light',
            'traffic_light',
            'vertical_traffic_light',
            'octagonal_sign',
            'construction',
            'manual_wheelchair',
            'motorized_wheelchair',
            'skateboard',
            'roller_skate',
            'scooter',
            'bike',
            'mountain_railway',
        ],
    },
    {'name': 'Clock faces', 'subcategories': ['time'], 'names': ['CLOCK FACE', 'ALARM CLOCK', 'MANTELPIECE']},
    {
        'name': 'Keycaps & arrows',
        'subcategories': ['keycap', 'arrow', 'av-symbol'],
        'exclude': [
            'cinema',
            'low_brightness',
            'high_brightness',
            'signal_strength',
            'wireless',
            'vibration_mode',
            'mobile_phone_off',
            'back',
            'end',
            'on',
            'soon',
            'top',
        ],
    },
    {
        'name': 'Coloured shapes',
        'subcategories': ['geometric'],
        'exclude': ['diamond_shape_with_a_dot_inside', 'radio_button', 'white_square_button', 'black_square_button'],
    },
    {'name': 'Zodiac & religion', 'subcategories': ['zodiac', 'religion'], 'exclude': ['place_of_worship']},
]
CATEGORIES = [c['name'] for c in CLASSES]
PACKAGE_VERSION = '16.0.0'
SOURCES = {
    'twitter': {
        'package': 'emoji-datasource-twitter',
        'licence': 'CC-BY-4.0',
        'credit': 'Twemoji graphics (c) Twitter, Inc. and other contributors, CC-BY 4.0, '
        'https://github.com/jdecked/twemoji',
    },
    'google': {
        'package': 'emoji-datasource-google',
        'licence': 'Apache-2.0',
        'credit': 'Noto Emoji (c) Google LLC, Apache License 2.0, ' 'https://github.com/googlefonts/noto-emoji',
    },
}
IMAGE_SIZE = 64
BACKGROUND = (255, 255, 255)


def pack_path(pack_dir, source):
    """Path of the source's npm tarball in pack_dir, fetched with `npm pack` when absent."""
    name = f"{SOURCES[source]['package']}-{PACKAGE_VERSION}.tgz"
    path = os.path.join(pack_dir, name)
    if not os.path.exists(path):
        os.makedirs(pack_dir, exist_ok=True)
        subprocess.run(
            ['npm', 'pack', f"{SOURCES[source]['package']}@{PACKAGE_VERSION}"],
            cwd=pack_dir,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return path


def composite(png_bytes):
    """RGBA PNG bytes -> [64, 64, 3] uint8 over the white background."""
    im = Image.open(io.BytesIO(png_bytes)).convert('RGBA')
    if im.size != (IMAGE_SIZE, IMAGE_SIZE):
        im = im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.LANCZOS)
    bg = Image.new('RGBA', im.size, BACKGROUND + (255,))
    return np.asarray(Image.alpha_composite(bg, im).convert('RGB'), dtype=np.uint8)


def class_of(e):
    """Class id of an emoji.json entry, or None when it belongs to no class."""
    for i, c in enumerate(CLASSES):
        if (
            e['subcategory'] in c['subcategories']
            and e['short_name'] not in c.get('exclude', ())
            and (not c.get('names') or any(n in e['name'] for n in c['names']))
        ):
            return i
    return None


def group_rank(unified, seed):
    """A seeded order of the base emoji that is the same in every source (a hash, not the sources' lists)."""
    return hashlib.sha256(f'{seed}:{unified}'.encode()).hexdigest()


def entries(meta, source, tones, cap, seed):
    """(group key, image file name, class id) for every chosen emoji the source has an image of.

    Group key = the base emoji's code points, shared by its skin-tone variants, so the split keeps them together.
    Each base emoji gives its default image plus `tones` of its five single-tone variants (rotating through the
    tones from one emoji to the next), so skin-tone copies cannot swamp a class. A class keeps at most `cap` images
    per source: whole base emoji in a seeded order until the cap is reached.
    """
    flag = f'has_img_{source}'
    chosen = [[] for _ in CLASSES]
    for e in sorted(meta, key=lambda e: group_rank(e['unified'], seed)):
        cls = class_of(e)
        if cls is None or not e.get(flag):
            continue
        items = [(e['unified'], e['image'], cls)]
        single = [t for t in sorted(e.get('skin_variations', {})) if '-' not in t and e['skin_variations'][t].get(flag)]
        for k in range(min(tones, len(single))):
            tone = single[(len(chosen[cls]) + k) % len(single)]
            items.append((e['unified'], e['skin_variations'][tone]['image'], cls))
        if sum(len(g) for g in chosen[cls]) + len(items) <= cap:
            chosen[cls].append(items)
    return [item for groups in chosen for g in groups for item in g]


def read_source(tgz, source, tones, cap, seed):
    """Images [N,64,64,3] uint8, labels [N], group keys and names of one source tarball."""
    # One sequential pass over the tarball: random access into a .tgz re-decompresses from the start.
    prefix = f'package/img/{source}/64/'
    pngs, meta = {}, None
    with tarfile.open(tgz, 'r:gz') as tar:
        for member in tar:
            if member.name == 'package/emoji.json':
                meta = json.load(tar.extractfile(member))
            elif member.name.startswith(prefix) and member.isfile():
                pngs[member.name[len(prefix) :]] = tar.extractfile(member).read()
    category = {e['unified']: e['category'] for e in meta}
    images, labels, groups, names, categories = [], [], [], [], []
    for group, file_name, cls in entries(meta, source, tones, cap, seed):
        if file_name not in pngs:
            continue  # listed but not shipped in this version
        images.append(composite(pngs[file_name]))
        labels.append(cls)
        groups.append(group)
        names.append(f'{source}/{file_name}')
        categories.append(category[group])
    return np.stack(images), np.array(labels, np.int64), groups, names, categories


def split_groups(groups, held_fraction, seed, minimum=0):
    """Boolean held-out mask [N]: a seeded random subset of the distinct groups (at least `minimum` of them)."""
    distinct = sorted(set(groups))
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(distinct))
    n_held = max(minimum, int(round(held_fraction * len(distinct))))
    held = {distinct[i] for i in order[:n_held]}
    return np.array([g in held for g in groups], dtype=bool)


def split_hash(images, labels, held):
    """sha256 over the arrays that define the dataset (stable across zip timestamps)."""
    h = hashlib.sha256()
    for a in (images, labels, held.astype(np.uint8)):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def split_per_class(groups, labels, held_fraction, seed, minimum=2):
    """Held-out mask [N] drawn within each class (so every class has held-out emoji, at least `minimum`)."""
    held = np.zeros(len(groups), dtype=bool)
    for cls in np.unique(labels):
        where = np.flatnonzero(labels == cls)
        held[where] = split_groups([groups[i] for i in where], held_fraction, seed, minimum)
    return held


def build(pack_dir, sources, held_fraction, seed, tones, cap):
    """Build the dataset dict (arrays + provenance) from the tarballs in pack_dir."""
    parts, provenance = [], []
    for source in sources:
        tgz = pack_path(pack_dir, source)
        parts.append((source, read_source(tgz, source, tones, cap, seed)))
        provenance.append(
            {
                'source': source,
                'package': SOURCES[source]['package'],
                'version': PACKAGE_VERSION,
                'licence': SOURCES[source]['licence'],
                'credit': SOURCES[source]['credit'],
                'tarball_sha256': sha256_of(tgz),
                'count': int(len(parts[-1][1][1])),
            }
        )
    images = np.concatenate([p[1][0] for p in parts])
    labels = np.concatenate([p[1][1] for p in parts])
    groups = [g for p in parts for g in p[1][2]]
    names = [n for p in parts for n in p[1][3]]
    source_id = np.concatenate([np.full(len(p[1][1]), i, np.uint8) for i, p in enumerate(parts)])
    held = split_per_class(groups, labels, held_fraction, seed)
    categories = [c for p in parts for c in p[1][4]]
    # the emoji.json category most of a class's images come from (a fine-tune starts each class from it)
    class_categories = [
        max(set(cs), key=cs.count)
        for cs in ([c for c, lab in zip(categories, labels) if lab == i] for i in range(len(CLASSES)))
    ]
    return {
        'images': images,
        'labels': labels,
        'held': held,
        'source': source_id,
        'names': np.array(names),
        'classes': np.array(CATEGORIES),
        'sources': np.array(sources),
        'meta': {
            'seed': seed,
            'held_fraction': held_fraction,
            'skin_tones_per_emoji': tones,
            'cap_per_source': cap,
            'classes': CLASSES,
            'class_categories': class_categories,
            'image_size': IMAGE_SIZE,
            'background': list(BACKGROUND),
            'count': int(len(labels)),
            'train': int((~held).sum()),
            'held_out': int(held.sum()),
            'per_class': {c: int((labels == i).sum()) for i, c in enumerate(CATEGORIES)},
            'split_sha256': split_hash(images, labels, held),
            'provenance': provenance,
        },
    }


def write_dataset(path, ds):
    """Write the dataset dict as .npz (meta as a JSON string inside) plus a .json sidecar of the meta."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    arrays = {k: v for k, v in ds.items() if k != 'meta'}
    np.savez_compressed(path, meta_json=np.array(json.dumps(ds['meta'])), **arrays)
    with open(os.path.splitext(path)[0] + '.json', 'w') as f:
        json.dump(ds['meta'], f, indent=1)


def write_held_out_folder(npz_path: str, folder: str) -> int:
    """The held-out images of a dataset .npz as <folder>/<class name>/<index>-<emoji name>.png; returns the count."""
    with np.load(npz_path) as z:
        images, labels, held, names, classes = (
            z['images'],
            z['labels'],
            z['held'].astype(bool),
            z['names'],
            z['classes'],
        )
    count = 0
    for i in np.flatnonzero(held):
        sub = os.path.join(folder, str(classes[labels[i]]))
        os.makedirs(sub, exist_ok=True)
        slug = ''.join(ch if ch.isalnum() else '-' for ch in os.path.splitext(str(names[i]))[0].lower()).strip('-')
        path = os.path.join(sub, f'{i:04d}-{slug}.png')
        Image.fromarray(images[i]).save(path + '.tmp', format='PNG')
        os.replace(path + '.tmp', path)
        count += 1
    return count


def main(argv=None):
    """CLI: build and write the .npz and a .json sidecar with counts, hashes and licences."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default='out/data/emoji64.npz')
    ap.add_argument('--pack-dir', default='/tmp/emoji-packs', help='where the npm tarballs are (or go)')
    ap.add_argument('--sources', default='twitter,google')
    ap.add_argument('--held-fraction', type=float, default=0.1)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--tones', type=int, default=1, help='single skin-tone variants kept per emoji (0 to 5)')
    ap.add_argument('--cap', type=int, default=100, help='images per class and source at most')
    ap.add_argument('--held-out-folder', default='', help='also write the held-out images here, one folder per class')
    args = ap.parse_args(argv)
    if args.held_out_folder and os.path.exists(args.out):
        n = write_held_out_folder(args.out, args.held_out_folder)
        print(f'{n} held-out images of {args.out} -> {args.held_out_folder}', file=sys.stderr)
        return
    ds = build(args.pack_dir, args.sources.split(','), args.held_fraction, args.seed, args.tones, args.cap)
    write_dataset(args.out, ds)
    meta = ds['meta']
    print(
        json.dumps({k: meta[k] for k in ('count', 'train', 'held_out', 'per_class', 'split_sha256')}),
        f'-> {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB)',
        file=sys.stderr,
    )
    if args.held_out_folder:
        n = write_held_out_folder(args.out, args.held_out_folder)
        print(f'{n} held-out images -> {args.held_out_folder}', file=sys.stderr)


if __name__ == '__main__':
    main()
