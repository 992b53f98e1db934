"""`python -m varscope.agreement`: how recognisable a model's samples are as their class (runs varscope/training/agreement.py)."""
import runpy

if __name__ == '__main__':
    runpy.run_module('varscope.training.agreement', run_name='__main__', alter_sys=True)
