"""Strided windows and piece-budget batches (spacy_lm_suite/transformers/windows.py)."""

from spacy_lm_suite.transformers.windows import batch_windows, piece_windows, strided_windows, window_counts


def test_strided_windows_cover_and_end_at_the_end():
    assert strided_windows(0, 300, window=128, stride=96) == [(0, 128), (96, 224), (192, 300)]
    assert strided_windows(0, 100, window=128, stride=96) == [(0, 100)]  # fits: one window
    assert strided_windows(0, 128, window=128, stride=96) == [(0, 128)]
    assert strided_windows(0, 129, window=128, stride=96) == [(0, 128), (96, 129)]
    assert strided_windows(5, 5, window=8, stride=4) == []


def test_window_counts_and_sentences():
    spans = piece_windows(10, window=4, stride=3)
    assert spans == [(0, 4), (3, 7), (6, 10)]
    assert window_counts(10, spans).tolist() == [1, 1, 1, 2, 1, 1, 2, 1, 1, 1]
    assert piece_windows(10, window=4, stride=4, sentence_piece_spans=[(0, 3), (3, 10)]) == [(0, 3), (3, 7), (7, 10)]


def test_batches_respect_the_budget_longest_first():
    windows = [(0, 0, 10), (1, 0, 3), (2, 0, 7), (3, 0, 10)]
    batches = list(batch_windows(windows, extra=2, max_batch_pieces=24))
    assert [[w[0] for w in b] for b in batches] == [[0, 3], [2], [1]]  # 3 + 2 pieces < 0.75 x 9: its own batch
    for batch in batches:
        longest = max(b - a for _, a, b in batch) + 2
        assert len(batch) * longest <= 24
    assert [len(b) for b in batch_windows(windows, extra=2, max_batch_pieces=24, min_fill=0.0)] == [2, 2]
