"""`python -m varscope.prepare_data`: the emoji training set (out/data/emoji64.npz) (runs varscope/training/prepare_data.py)."""
import runpy

if __name__ == '__main__':
    runpy.run_module('varscope.training.prepare_data', run_name='__main__', alter_sys=True)
