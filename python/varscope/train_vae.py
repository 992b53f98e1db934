"""`python -m varscope.train_vae`: the multi-scale VQ-VAE trained on the emoji set (runs varscope/training/train_vae.py)."""
import runpy

if __name__ == '__main__':
    runpy.run_module('varscope.training.train_vae', run_name='__main__', alter_sys=True)
