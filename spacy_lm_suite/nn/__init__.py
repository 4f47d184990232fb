"""Small PyTorch modules shared by several encoders (no spaCy imports)."""

from .scalar_mix import ScalarMix

__all__ = ["ScalarMix"]
