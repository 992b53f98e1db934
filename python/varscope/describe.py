"""`python -m varscope.describe`: which models each checkpoint file holds, as JSON (runs varscope/bundle/describe.py)."""
import runpy

if __name__ == '__main__':
    runpy.run_module('varscope.bundle.describe', run_name='__main__', alter_sys=True)
