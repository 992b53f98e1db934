"""`python -m varscope.export`: a VAR + VQ-VAE checkpoint pair to a verified VARScope bundle (runs varscope/bundle/export.py)."""
import runpy

if __name__ == '__main__':
    runpy.run_module('varscope.bundle.export', run_name='__main__', alter_sys=True)
