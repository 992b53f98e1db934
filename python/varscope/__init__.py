"""VARScope's Python side: a PyTorch reference of VAR (multi-scale VQ-VAE + next-scale transformer), a strict
checkpoint loader, the ONNX bundle exporter and the trainer of the default model.

Subpackages: `model` (the reference model and its runners), `bundle` (checkpoints in, verified bundles out, and
back), `training` (data, trainers, evaluation). The commands are the top-level modules: `python -m varscope.<command>`.
"""
import os

# 0.2.0: weights laid out by the checkpoint tensor they copy, with a weight map; nothing folded from weights (0.1.0
# bundles are read back by from_bundle through graphs.folded_weights)
EXPORTER_VERSION = '0.2.0'
# The folder holding python/ (the checkout, or the installed extension): the exporter reads src/shared/graphSpec.json
# and runs tools/verify_bundle.js from there, so the package runs in place (PYTHONPATH=python or `pip install -e python`).
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
