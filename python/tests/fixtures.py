"""Where the official-var-A reference outputs live (env VARSCOPE_FIXTURES or <repo>/../shared/fixtures)."""
import json
import os

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The folder holding the varscope package: PYTHONPATH of the commands the tests run.
PACKAGE_DIR = os.path.join(REPO, 'python')
FIXTURES = os.environ.get('VARSCOPE_FIXTURES', os.path.join(os.path.dirname(REPO), 'shared', 'fixtures'))
OFFICIAL_A = os.path.join(FIXTURES, 'official-var-A')


def fixture(name: str) -> str:
    """Absolute path of a file of the official-var-A fixture."""
    return os.path.join(OFFICIAL_A, name)


def npy(name: str) -> np.ndarray:
    """A fixture array."""
    return np.load(fixture(name))


def config() -> dict:
    """The fixture's config.json."""
    with open(fixture('config.json')) as f:
        return json.load(f)
