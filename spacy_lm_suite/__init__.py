"""spacy-lm-suite: static vectors, ELMo and transformer encoders for spaCy v3.

Importing the package is cheap: torch, transformers and gensim are imported
only by the modules that need them. Everything user-facing is registered
through entry points (see ``pyproject.toml``), so spaCy configs resolve our
names without importing this package explicitly.
"""

__version__ = "0.1.0"
