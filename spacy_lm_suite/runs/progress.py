"""What the progress bars of every trainer share: a total for a text input, and
a postfix that shows only the values known so far.

A bar over texts gets a total (so tqdm shows a percentage and an ETA) by
counting the input once before the work when that is cheap
(:func:`count_texts`); a postfix never shows ``ppl=nan`` before the first
logged value (:func:`postfix`).

Model code: no spaCy or Thinc import here.
"""

import math
import warnings
from typing import Any, Dict, Optional, Tuple

COUNT_LIMIT_BYTES = 128 * 1024 * 1024
"""Inputs up to this size are counted before they are read for the work (a
pass without tokenising: about 0.3 s for 22 MB of paragraphs)."""

Value = Tuple[str, Optional[float], str]  # (name, value or None, format spec)


def count_texts(
    source: Any,
    *,
    fmt: str = "auto",
    encoding: str = "utf-8",
    limit: Optional[int] = None,
    field: str = "text",
    max_bytes: int = COUNT_LIMIT_BYTES,
) -> Optional[int]:
    """How many texts :func:`~spacy_lm_suite.data.rawtext.iter_texts` yields for
    these arguments: the total of a progress bar over them.

    source: a file, folder or glob, or a list of them. The files are read once
    (without tokenising) when together they are at most ``max_bytes``; beyond
    that the total is ``limit`` (an upper bound) or None (the bar then shows a
    count and a rate). Warnings of this pass (e.g. Latin-1 lines) are dropped:
    the real read gives them.
    """
    from ..data.rawtext import expand_source, iter_texts

    if sum(path.stat().st_size for path in expand_source(source)) > max_bytes:
        return limit or None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sum(1 for _ in iter_texts(source, fmt=fmt, limit=limit, encoding=encoding, field=field))


def postfix(*values: Value) -> Dict[str, str]:
    """The postfix of a progress bar (``bar.set_postfix(postfix(...))``): each
    ``(name, value, spec)`` formatted with ``spec``, in order, leaving out a value
    not known yet (None or NaN), e.g. the perplexity before the first logged step."""
    return {
        name: format(value, spec) for name, value, spec in values if value is not None and not math.isnan(value)
    }


__all__ = ["COUNT_LIMIT_BYTES", "count_texts", "postfix"]
