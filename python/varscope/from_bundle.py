"""`python -m varscope.from_bundle`: the PyTorch checkpoints recovered from a bundle (runs varscope/bundle/from_bundle.py)."""
import runpy

if __name__ == '__main__':
    runpy.run_module('varscope.bundle.from_bundle', run_name='__main__', alter_sys=True)
