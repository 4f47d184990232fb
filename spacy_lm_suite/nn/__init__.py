"""Small PyTorch modules shared by several encoders (no spaCy imports)."""

from ..extras import ensure_torch

ensure_torch()  # the clear "install the extra" error, before the import below

from .scalar_mix import ScalarMix

__all__ = ["ScalarMix"]
