"""Whole-or-absent writes: every file VARScope writes goes to a temporary file beside its target, is fsynced, then
renamed over it; a bundle folder is staged beside its target and swapped in. A full disk, a write error, a signal
or a kill mid-write leaves the previous file or bundle as it was."""
import contextlib
import ctypes
import os
import shutil
import tempfile
import uuid

_RENAME_EXCHANGE = 2  # linux/fs.h


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the data itself was synced
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str):
    """Yields a temporary path beside `path` to write to; on a clean exit it is fsynced and renamed over `path`
    (keeping the old file's mode), on an exception it is removed and `path` stays as it was.

        with atomic_path('x.pth') as tmp:
            torch.save(obj, tmp)"""
    target = os.path.realpath(path)  # a symlink stays a link; its target is replaced
    folder = os.path.dirname(target)
    fd, tmp = tempfile.mkstemp(prefix=f'.{os.path.basename(target)}.', suffix='.tmp', dir=folder)
    os.close(fd)
    try:
        try:
            mode = os.stat(target).st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask  # mkstemp makes it private; a new file gets the usual mode
        os.chmod(tmp, mode)
        yield tmp
        _fsync_path(tmp)
        os.replace(tmp, target)
        tmp = None
        _fsync_path(folder)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def write_atomic(path: str, data) -> None:
    """Write bytes (or text, as UTF-8) to `path` whole or not at all."""
    if isinstance(data, str):
        data = data.encode('utf-8')
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as f:
            f.write(data)


def fsync_tree(folder: str) -> None:
    """fsync every file and folder under `folder` (before a staged bundle is renamed into place)."""
    for root, dirs, files in os.walk(folder):
        for name in files:
            _fsync_path(os.path.join(root, name))
        _fsync_path(root)


def _exchange(a: str, b: str) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    AT_FDCWD = -100
    return fn(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def replace_dir(stage: str, out: str) -> None:
    """Put the finished folder `stage` at `out` (same parent), replacing the folder there in one step where the
    system can swap two paths (Linux), else in two renames; the old folder is deleted only once the new one is in
    place. The caller keeps signals away for these few milliseconds."""
    fsync_tree(stage)
    if not os.path.lexists(out):
        os.rename(stage, out)
    elif _exchange(stage, out):
        shutil.rmtree(stage)  # now the old folder
    else:
        aside = os.path.join(os.path.dirname(out), f'.{os.path.basename(out)}.old-{uuid.uuid4().hex[:8]}')
        os.rename(out, aside)
        try:
            os.rename(stage, out)
        except OSError:
            os.rename(aside, out)
            raise
        shutil.rmtree(aside)
    _fsync_path(os.path.dirname(out) or '.')
