"""Pieces to tokens: which word pieces of a text belong to which tokens.

A fast tokenizer gives each piece the character span ``[start, end)`` it came
from (``offset_mapping``); a spaCy token has its own span. A piece belongs to
every token whose span it overlaps by at least one character, so

- an ``[UNK]`` piece that covers two tokens ("🙂🙂" in MiniLM) counts for both,
- "don't" (spaCy ``do|n't``, pieces ``don|'|t``) gives ``do -> don`` and
  ``n't -> don, ', t``,
- byte-level BPE pieces whose spans overlap (accents, emoji) still land on
  the right tokens, and
- a token no piece overlaps (``"\\n\\n"``, other whitespace) gets no piece: its
  vector is zeros.

Special pieces (``[CLS]``, ``</s>``) have empty spans and belong to no token.

The alignment is a list of ``(token, piece, weight)`` pairs sorted by piece,
where the weights pool a token's pieces: ``mean`` (``1 / n`` each), ``first``
or ``last`` (1 for that piece, 0 for the others). Pooling is then one
``index_add`` of weighted piece rows, in numpy or torch, forward and back.
"""

from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy

POOLINGS = ("mean", "first", "last")


@dataclass(frozen=True)
class Alignment:
    """``(token, piece, weight)`` pairs sorted by piece, then token.

    token: int64 ``[n_pairs]``. piece: int64 ``[n_pairs]``. weight: float32
    ``[n_pairs]``. n_tokens / n_pieces: the sizes of the two sides.
    """

    token: numpy.ndarray
    piece: numpy.ndarray
    weight: numpy.ndarray
    n_tokens: int
    n_pieces: int

    def pieces_per_token(self) -> numpy.ndarray:
        """How many pieces each token has ``[n_tokens]`` (0: the token gets zeros)."""
        return numpy.bincount(self.token, minlength=self.n_tokens)

    def piece_range(self, start: int, end: int) -> Tuple[int, int]:
        """The slice of pairs whose piece lies in ``[start, end)``."""
        return (
            int(numpy.searchsorted(self.piece, start, side="left")),
            int(numpy.searchsorted(self.piece, end, side="left")),
        )


def align(
    token_spans: numpy.ndarray, piece_spans: numpy.ndarray, *, pooling: str = "mean"
) -> Alignment:
    """Align tokens ``[n_tokens, 2]`` and pieces ``[n_pieces, 2]`` (character
    ``[start, end)`` spans of the same text) by overlap; see the module docstring.

    Tokens must be in text order and must not overlap (spaCy's are and do
    not); pieces may overlap each other. Runs in ``O((n_tokens + n_pieces) log n_tokens)``.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    token_spans = numpy.asarray(token_spans, dtype=numpy.int64).reshape(-1, 2)
    piece_spans = numpy.asarray(piece_spans, dtype=numpy.int64).reshape(-1, 2)
    n_tokens, n_pieces = len(token_spans), len(piece_spans)
    starts, ends = piece_spans[:, 0], piece_spans[:, 1]
    # Tokens overlapping piece [s, e): the first whose end > s up to the last whose start < e.
    first = numpy.searchsorted(token_spans[:, 1], starts, side="right")
    stop = numpy.searchsorted(token_spans[:, 0], ends, side="left")
    counts = numpy.where(ends > starts, numpy.maximum(stop - first, 0), 0)
    piece = numpy.repeat(numpy.arange(n_pieces, dtype=numpy.int64), counts)
    offsets = numpy.arange(len(piece), dtype=numpy.int64) - numpy.repeat(numpy.cumsum(counts) - counts, counts)
    token = numpy.repeat(first, counts) + offsets
    # Empty tokens (zero width) overlap nothing; a token of zero width between pieces is skipped too.
    keep = token_spans[token, 1] > token_spans[token, 0]
    token, piece = token[keep], piece[keep]
    weight = _pooling_weights(token, piece, n_tokens, pooling)
    return Alignment(token=token, piece=piece, weight=weight, n_tokens=n_tokens, n_pieces=n_pieces)


def _pooling_weights(token: numpy.ndarray, piece: numpy.ndarray, n_tokens: int, pooling: str) -> numpy.ndarray:
    if not len(token):
        return numpy.zeros(0, dtype=numpy.float32)
    if pooling == "mean":
        per_token = numpy.bincount(token, minlength=n_tokens)
        return (1.0 / per_token[token]).astype(numpy.float32)
    # first / last piece of each token: pairs are sorted by piece, so the
    # first (last) pair of a token in that order has its smallest (largest) piece.
    order = numpy.lexsort((piece, token))
    sorted_tokens = token[order]
    if pooling == "first":
        chosen = numpy.concatenate(([True], sorted_tokens[1:] != sorted_tokens[:-1]))
    else:
        chosen = numpy.concatenate((sorted_tokens[1:] != sorted_tokens[:-1], [True]))
    weight = numpy.zeros(len(token), dtype=numpy.float32)
    weight[order[chosen]] = 1.0
    return weight


def token_spans_of(words: Sequence[str], idx: Sequence[int]) -> numpy.ndarray:
    """``[n_tokens, 2]`` character spans from token texts and start offsets (``token.idx``)."""
    starts = numpy.asarray(idx, dtype=numpy.int64)
    lengths = numpy.fromiter((len(word) for word in words), dtype=numpy.int64, count=len(words))
    return numpy.stack([starts, starts + lengths], axis=1) if len(starts) else numpy.zeros((0, 2), numpy.int64)
