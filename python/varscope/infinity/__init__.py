"""Infinity (FoundationVision): the bitwise, text-conditioned next-scale family, as a PyTorch reference."""
