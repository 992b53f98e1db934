"""VARScope tools: a PyTorch reference of VAR (multi-scale VQ-VAE + next-scale transformer), a strict
checkpoint loader and the ONNX bundle exporter."""

EXPORTER_VERSION = '0.1.0'
