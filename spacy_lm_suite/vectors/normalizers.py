"""Key normalisers for static-vector lookups: the fallback chain.

A table looks a word up with each normaliser of its chain in turn and takes
the first match; step ``s`` compares ``normalize(word)`` with
``normalize(key)`` over every key of the table, so a cased table still finds
``"Paris"`` through ``"paris"`` and a lower-cased table finds ``"PARIS"``.

The normalisers (pure functions ``str -> str``):

- ``exact``: the word as it is.
- ``lower``: ``str.lower()``.
- ``shape``: ``str.lower()``, then every Unicode decimal digit replaced by
  ``#`` (``"1984"`` and ``"2000"`` both become ``"####"``, ``"3.5km"``
  becomes ``"#.#km"``). An unseen number takes the vector of the first
  (most frequent) table key with the same digit pattern; this also matches the
  ``##`` keys of the GoogleNews word2vec vectors, whose digits were replaced
  by ``#`` at training time.

Training code (e.g. Word2Vec/GloVe) uses the same functions so that training
keys and lookup keys agree.
"""

import re
from typing import Callable, Dict, Sequence, Tuple

from ..errors import UserError

Normalizer = Callable[[str], str]

DEFAULT_FALLBACK: Tuple[str, ...] = ("exact", "lower", "shape")
"""The default chain: exact key, then lower case, then digit shape."""

_DIGIT = re.compile(r"\d")


def exact(text: str) -> str:
    """The text unchanged."""
    return text


def lower(text: str) -> str:
    """The text lower-cased (``str.lower``)."""
    return text.lower()


def shape(text: str) -> str:
    """The text lower-cased with every decimal digit replaced by ``#``."""
    return _DIGIT.sub("#", text.lower())


NORMALIZERS: Dict[str, Normalizer] = {"exact": exact, "lower": lower, "shape": shape}
"""Normaliser functions by name, in the order of the default chain."""


def validate_fallback(fallback: Sequence[str]) -> Tuple[str, ...]:
    """Check a fallback chain: known names, no repeats, at least one step.

    fallback: names from :data:`NORMALIZERS`, e.g. ``["exact", "lower"]``.
    RETURNS the chain as a tuple. Raises :class:`UserError` otherwise.
    """
    if isinstance(fallback, str):
        fallback = [part.strip() for part in fallback.split(",") if part.strip()]
    steps = tuple(fallback)
    if not steps:
        raise UserError(f"fallback: expected at least one of {list(NORMALIZERS)}, found none")
    unknown = [step for step in steps if step not in NORMALIZERS]
    if unknown:
        raise UserError(f"fallback: unknown step(s) {unknown}; expected names from {list(NORMALIZERS)}")
    if len(set(steps)) != len(steps):
        raise UserError(f"fallback: each step may appear once, found {list(steps)}")
    return steps


def normalizer_chain(fallback: Sequence[str]) -> Tuple[Normalizer, ...]:
    """The normaliser functions of a (validated) fallback chain, in order."""
    return tuple(NORMALIZERS[step] for step in validate_fallback(fallback))
