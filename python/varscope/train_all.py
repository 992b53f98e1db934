"""`python -m varscope.train_all`: the default model trained end to end (VQ-VAE, VAR, evaluation) (runs varscope/training/train_all.py)."""
import runpy

if __name__ == '__main__':
    runpy.run_module('varscope.training.train_all', run_name='__main__', alter_sys=True)
