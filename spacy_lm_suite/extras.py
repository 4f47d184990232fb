"""Imports of what the optional extras install, with one clear error when an extra is missing.

The core install (``pip install spacy-lm-suite``) has spaCy, numpy and the vector
table; torch, transformers, gensim, numba, matplotlib, h5py and pyarrow come with
the extras (``[elmo]``, ``[transformers]``, ``[generator]``, ``[train]``,
``[plots]``, ``[formats]``, ``[all]``; see ``pyproject.toml``). spaCy imports every
module that one of our entry points names in each ``Language()``, so those
modules never import an extra's package at import time: the code that uses it
calls :func:`require` first.
"""

import importlib
import os
from types import ModuleType

from .errors import MissingExtraError


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` (e.g. ``"torch"``), or raise :class:`MissingExtraError` naming ``extra``."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtraError(module, extra, err) from None


_fork_hook_registered = False


def ensure_torch(extra: str = "elmo") -> ModuleType:
    """torch (or the error naming ``extra``; ``elmo`` is the smallest extra with torch), set up for us.

    Every torch user of ours (the Thinc shim, ``lm_generator``) calls this before
    touching torch. The first call registers a fork hook: a forked worker (``nlp.pipe(n_process=...)``) that
    enters an OpenMP region the parent already used hangs in libgomp, so torch
    runs on one thread there.
    """
    global _fork_hook_registered
    torch = require("torch", extra)
    if not _fork_hook_registered:
        os.register_at_fork(after_in_child=lambda: torch.set_num_threads(1))
        _fork_hook_registered = True
    return torch
