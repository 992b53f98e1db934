"""Training of the embedded default model: the emoji data set, the VQ-VAE and VAR trainers, fine-tuning, and evaluation."""
