"""The PyTorch reference of VAR: the multi-scale VQ-VAE, its quantizer, the next-scale transformer, sampling, and the
runners that compute reference outputs."""
