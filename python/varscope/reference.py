"""`python -m varscope.reference`: the PyTorch reference on one image, every intermediate saved as .npy (runs varscope/model/reference.py)."""
import runpy

if __name__ == '__main__':
    runpy.run_module('varscope.model.reference', run_name='__main__', alter_sys=True)
