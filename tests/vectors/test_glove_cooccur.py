"""Co-occurrence counting: a brute-force reference, spilling to shards, bad input."""

import random
from collections import defaultdict

import numpy as np
import pytest

from spacy_lm_suite.errors import UserError
from spacy_lm_suite.vectors.glove.cooccur import (
    Cooccurrence,
    TokenIndex,
    _radix_sort,
    build_vocabulary,
    count_cooccurrences,
)


def reference_counts(lines, vocab, *, window, symmetric, distance_weighting):
    """Stanford's rules in plain Python: OOV dropped first, windows within a line."""
    index = {w: i for i, w in enumerate(vocab.words)}
    counts = defaultdict(float)
    for line in lines:
        ids = [index[t] for t in line.split() if t in index]
        for j, w2 in enumerate(ids):
            for k in range(max(0, j - window), j):
                weight = 1.0 / (j - k) if distance_weighting else 1.0
                counts[ids[k], w2] += weight
                if symmetric:
                    counts[w2, ids[k]] += weight
    dense = np.zeros((len(vocab), len(vocab)))
    for (a, b), value in counts.items():
        dense[a, b] = value
    return dense


@pytest.fixture
def corpus(tmp_path):
    rng = random.Random(7)
    words = [f"w{i}" for i in range(40)] + ["rare1", "rare2"]
    weights = [1 / (i + 1) for i in range(40)] + [0.001, 0.001]
    lines = [" ".join(rng.choices(words, weights, k=rng.randint(1, 25))) for _ in range(300)]
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, lines


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("distance_weighting", [True, False])
def test_counts_match_reference(corpus, symmetric, distance_weighting):
    path, lines = corpus
    vocab, n_tokens = build_vocabulary(path, min_count=3)
    assert n_tokens == sum(len(line.split()) for line in lines)
    assert "rare1" not in vocab.words
    cooc = count_cooccurrences(path, vocab, window=4, symmetric=symmetric,
                               distance_weighting=distance_weighting, progress=False)
    expected = reference_counts(lines, vocab, window=4, symmetric=symmetric, distance_weighting=distance_weighting)
    np.testing.assert_allclose(cooc.to_dense(), expected, rtol=1e-12)
    assert cooc.nnz == int(np.count_nonzero(expected))
    keys = cooc.rows.astype(np.int64) * len(vocab) + cooc.cols
    assert np.all(np.diff(keys) > 0), "sorted by (row, col), no duplicates"
    assert cooc.stats.nnz == cooc.nnz and cooc.stats.n_shards == 0


def test_spilled_shards_equal_in_memory(corpus, tmp_path):
    path, _ = corpus
    vocab, _ = build_vocabulary(path, min_count=1)
    in_memory = count_cooccurrences(path, vocab, window=5, progress=False)
    spilled = count_cooccurrences(path, vocab, window=5, max_product=20, max_pairs_in_memory=500,
                                  tmp_dir=tmp_path, progress=False)
    assert spilled.stats.n_shards > 3
    assert np.array_equal(in_memory.rows, spilled.rows)
    assert np.array_equal(in_memory.cols, spilled.cols)
    np.testing.assert_allclose(in_memory.vals, spilled.vals, rtol=1e-12)  # only the summation order differs
    assert not any(tmp_path.glob("glove-cooccur-*")), "shards are removed"


def test_lines_reset_window_and_oov_is_dropped(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("a x b\nb a\n", encoding="utf-8")
    vocab, _ = build_vocabulary(path, min_count=2)
    assert vocab.words == ["a", "b"]
    cooc = count_cooccurrences(path, vocab, window=1, progress=False)
    # "x" is dropped before windowing, so a-b are adjacent on line 1; line 2 adds b-a once more
    np.testing.assert_allclose(cooc.to_dense(), [[0.0, 2.0], [2.0, 0.0]])


def test_save_and_load(corpus, tmp_path):
    path, _ = corpus
    vocab, _ = build_vocabulary(path, min_count=2, max_vocab=10)
    assert len(vocab) == 10
    cooc = count_cooccurrences(path, vocab, window=3, progress=False)
    cooc.to_disk(tmp_path / "cooc")
    loaded = Cooccurrence.from_disk(tmp_path / "cooc")
    assert loaded.vocab.words == vocab.words
    assert np.array_equal(loaded.vals, cooc.vals) and loaded.stats == cooc.stats


def test_token_index_matches_dict_lookup():
    words = ["a", "bb", "über", "ß", "日本"]
    index = TokenIndex(words)
    ids, n_tokens = index.ids("bb a zz über\n\n日本 ß x\n".encode("utf-8"))
    assert n_tokens == 7
    assert ids.tolist() == [1, 0, 2, -2, -2, 4, 3, -2]


def test_radix_sort():
    values = np.random.default_rng(0).integers(0, 2**40, size=10_000)
    out = values.copy()
    _radix_sort(out, np.empty_like(out))
    assert np.array_equal(out, np.sort(values))


def test_bad_input(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(UserError, match="no tokens"):
        build_vocabulary(empty)
    small = tmp_path / "small.txt"
    small.write_text("a b c\na\n", encoding="utf-8")
    with pytest.raises(UserError, match="min_count=5"):
        build_vocabulary(small, min_count=5)
    vocab, _ = build_vocabulary(small, min_count=1)
    with pytest.raises(UserError, match="window"):
        count_cooccurrences(small, vocab, window=0, progress=False)
