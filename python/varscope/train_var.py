"""`python -m varscope.train_var`: the VAR transformer trained on a frozen VQ-VAE's token pyramids (runs varscope/training/train_var.py)."""
import runpy

if __name__ == '__main__':
    runpy.run_module('varscope.training.train_var', run_name='__main__', alter_sys=True)
