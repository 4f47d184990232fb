"""Strided windows over a doc's pieces, and batches of windows by a piece budget.

A transformer sees at most a few hundred pieces at once. A doc's pieces are
cut into windows of ``window`` pieces that start every ``stride`` pieces (the
last one ends at the doc's end); where windows overlap, a piece's output is
the mean of its windows' outputs. ``window = stride`` gives disjoint windows.
Optionally the windows are taken within sentence spans (a window never
crosses a sentence boundary).

Windows are run in batches sorted by length, each at most ``max_batch_pieces``
padded positions (special pieces included), so padding costs little.
"""

from typing import Iterator, List, Optional, Sequence, Tuple

import numpy

Window = Tuple[int, int, int]  # (doc index, first piece, end piece)


def strided_windows(start: int, end: int, *, window: int, stride: int) -> List[Tuple[int, int]]:
    """``[start, end)`` cut into windows of ``window`` pieces every ``stride``;
    the last window ends at ``end`` and may be shorter. Empty for an empty range."""
    if end <= start:
        return []
    spans = []
    first = start
    while True:
        last = min(first + window, end)
        spans.append((first, last))
        if last >= end:
            return spans
        first += stride


def piece_windows(
    n_pieces: int,
    *,
    window: int,
    stride: int,
    sentence_piece_spans: Optional[Sequence[Tuple[int, int]]] = None,
) -> List[Tuple[int, int]]:
    """The windows of one doc: over all its pieces, or within each sentence's piece span."""
    if sentence_piece_spans is None:
        return strided_windows(0, n_pieces, window=window, stride=stride)
    spans: List[Tuple[int, int]] = []
    for start, end in sentence_piece_spans:
        spans.extend(strided_windows(start, end, window=window, stride=stride))
    return spans


def window_counts(n_pieces: int, spans: Sequence[Tuple[int, int]]) -> numpy.ndarray:
    """How many windows cover each piece ``[n_pieces]`` (0 for pieces outside every window)."""
    delta = numpy.zeros(n_pieces + 1, dtype=numpy.int64)
    for start, end in spans:
        delta[start] += 1
        delta[end] -= 1
    return numpy.cumsum(delta[:-1])


def batch_windows(
    windows: Sequence[Window], *, extra: int, max_batch_pieces: int, min_fill: float = 0.75
) -> Iterator[List[Window]]:
    """Groups of windows, longest first, whose padded size (``rows x (longest + extra)``,
    ``extra`` = special pieces per window) stays within ``max_batch_pieces``; a window
    shorter than ``min_fill`` of its group's longest starts a new group, so no row is
    mostly padding (on a CPU small batches cost little, padded positions cost fully)."""
    batch: List[Window] = []
    width = 0
    for item in sorted(windows, key=lambda w: w[1] - w[2]):
        length = item[2] - item[1] + extra
        if batch and ((len(batch) + 1) * width > max_batch_pieces or length < min_fill * width):
            yield batch
            batch = []
        if not batch:
            width = length
        batch.append(item)
    if batch:
        yield batch
