import numpy as np
import pytest

from spacy_lm_suite.errors import UserError
from spacy_lm_suite.vectors.coverage import corpus_tokens, coverage
from spacy_lm_suite.vectors.table import LMVectors


@pytest.fixture
def table():
    words = ["the", "paris", "2000", "is"]
    return LMVectors.from_arrays(words, np.ones((len(words), 2), dtype=np.float32))


def test_coverage_counts_per_step(table):
    tokens = ["the", "the", "Paris", "PARIS", "1984", "is", "unicorn", "unicorn", "unicorn"]
    report = coverage(table, tokens, top_missed=5)
    assert report.tokens == {"exact": 3, "lower": 2, "shape": 1, "miss": 3}
    assert report.types == {"exact": 2, "lower": 2, "shape": 1, "miss": 1}
    assert report.n_tokens == 9 and report.n_types == 6
    assert report.found_rate() == pytest.approx(6 / 9) and report.found_rate("types") == pytest.approx(5 / 6)
    assert report.missed == [("unicorn", 3)]
    out = report.to_dict()
    assert out["tokens"]["steps"]["lower"] == {"count": 2, "pct": pytest.approx(200 / 9)}
    assert out["types"]["found_pct"] == pytest.approx(500 / 6)


def test_coverage_follows_the_table_fallback(table):
    table.fallback = ["exact"]
    assert coverage(table, ["Paris", "the"]).tokens == {"exact": 1, "miss": 1}
    with pytest.raises(UserError, match="no tokens"):
        coverage(table, [])


def test_corpus_tokens_text_and_conll(tmp_path):
    (tmp_path / "t.txt").write_text("Paris is nice.\n\nThe end\n", encoding="utf-8")
    assert list(corpus_tokens(tmp_path / "t.txt")) == ["Paris", "is", "nice", ".", "The", "end"]
    (tmp_path / "c.conll").write_text(
        "-DOCSTART- -X- -X- O\n\nParis NNP B-NP B-LOC\nis VBZ B-VP O\n\nOK UH O O\n", encoding="utf-8"
    )
    assert list(corpus_tokens(tmp_path / "c.conll", data_format="conll2003")) == ["Paris", "is", "OK"]
    with pytest.raises(UserError, match="data format"):
        list(corpus_tokens(tmp_path / "t.txt", data_format="xml"))


def test_corpus_tokens_on_embedded_samples(assets_dir, table):
    tokens = list(corpus_tokens(assets_dir / "wnut17" / "dev.conll", data_format="wnut17", limit=20))
    assert tokens and all(isinstance(t, str) for t in tokens)
    report = coverage(table, tokens)
    assert report.n_tokens == len(tokens)
    assert list(corpus_tokens(assets_dir / "gutenberg" / "dev.jsonl", data_format="jsonl", limit=2))


def test_corpus_tokens_take_an_encoding(tmp_path):
    latin = tmp_path / "t.txt"
    latin.write_bytes("Köln is nice\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"t.txt:1: byte 0xf6 at column 2 is not valid utf-8; set the encoding option"):
        list(corpus_tokens(latin))
    assert list(corpus_tokens(latin, encoding="latin-1")) == ["Köln", "is", "nice"]
    trec = tmp_path / "q.label"
    trec.write_text("LOC:city Where is Köln ?\n", encoding="utf-8")
    assert "Köln" in list(corpus_tokens(trec, data_format="trec", encoding="utf-8"))
    with pytest.raises(UserError, match=r'encoding = "utf-16": the readers read files line by line'):
        list(corpus_tokens(latin, encoding="utf-16"))


def test_whitespace_tokens_are_not_counted_as_missed_words(tmp_path, table):
    path = tmp_path / "t.txt"
    path.write_text("the  paris\t\tis\n", encoding="utf-8")
    tokens = list(corpus_tokens(path))
    assert tokens == ["the", "paris", "is"]
    report = coverage(table, ["the", " ", "\n", "is", "unicorn"])
    assert report.n_tokens == 3 and report.tokens["miss"] == 1
