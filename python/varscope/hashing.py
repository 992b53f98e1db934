"""The sha256 of a file, the one content hash VARScope records (bundle files, checkpoints, data tarballs)."""
import hashlib


def sha256_of(path: str) -> str:
    """Hex sha256 of a file, read in 4 MiB blocks."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 22), b''):
            h.update(block)
    return h.hexdigest()
