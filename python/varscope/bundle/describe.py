"""Which models each checkpoint file holds, as JSON on stdout (the editor's Open Checkpoint pairs files with it).

PYTHONPATH=python python3 -m varscope.describe FILE... -> {"files": [{"path", "roles": ["vae", "var"], "error"}]}"""
import json
import sys

import torch

from .checkpoint import CheckpointError, roles


def main(argv=None) -> int:
    """Describe every file; a file that cannot be read gets its one-line error instead of roles."""
    torch.set_num_threads(1)
    out = []
    for path in sys.argv[1:] if argv is None else argv:
        try:
            out.append({'path': path, 'roles': roles(path), 'error': None})
        except CheckpointError as e:
            out.append({'path': path, 'roles': [], 'error': str(e)})
    print(json.dumps({'files': out}), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
