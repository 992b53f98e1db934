"""`python -m varscope.eval_reference`: a folder evaluation's per-scale metrics, computed with the PyTorch reference (runs varscope/model/eval_reference.py)."""
import runpy

if __name__ == '__main__':
    runpy.run_module('varscope.model.eval_reference', run_name='__main__', alter_sys=True)
