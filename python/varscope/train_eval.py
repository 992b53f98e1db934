"""`python -m varscope.train_eval`: a trained VQ-VAE + VAR evaluated on the held-out emoji (runs varscope/training/train_eval.py)."""
import runpy

if __name__ == '__main__':
    runpy.run_module('varscope.training.train_eval', run_name='__main__', alter_sys=True)
