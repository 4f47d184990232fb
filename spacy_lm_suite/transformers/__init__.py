"""Hugging Face encoders for spaCy: loading (safetensors only), piece-to-token
alignment by character offsets, strided windows, batched encoding.

Model code: no spaCy or Thinc import. ``transformers`` itself is imported
only inside the functions that need it.
"""
