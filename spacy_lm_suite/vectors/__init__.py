"""Static word vectors: the ``LMVectors`` table, file formats, loading, coverage, evaluation.

The numeric modules (:mod:`.normalizers`, :mod:`.formats`, :mod:`.evaluate`)
import no spaCy; :mod:`.table`, :mod:`.loading` and :mod:`.coverage` are the
spaCy bridge. Names below are imported lazily, so ``import
spacy_lm_suite.vectors`` (and training code under it) stays spaCy-free.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "LMVectors": "table",
    "create_lm_vectors": "table",
    "load_vectors": "loading",
    "save_vectors_pipeline": "loading",
    "install_vectors": "loading",
    "coverage": "coverage",
    "CoverageReport": "coverage",
    "read_vectors": "formats",
    "write_word2vec": "formats",
    "detect_format": "formats",
    "evaluate_vectors": "evaluate",
    "most_similar": "evaluate",
    "DEFAULT_FALLBACK": "normalizers",
    "NORMALIZERS": "normalizers",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
