"""`python -m varscope.train_finetune`: a trained VAR transformer fine-tuned on new classes (runs varscope/training/train_finetune.py)."""
import runpy

if __name__ == '__main__':
    runpy.run_module('varscope.training.train_finetune', run_name='__main__', alter_sys=True)
