"""Progress bars: a total for a text input when it is cheap to know, and a postfix of known values only."""

import math
import warnings

from spacy_lm_suite.runs.progress import count_texts, postfix


def test_count_texts_counts_what_iter_texts_yields(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("one\n\ntwo\nthree\n", encoding="utf-8")
    (tmp_path / "in" / "b.txt").write_text("first paragraph\nstill\n\nsecond\n", encoding="utf-8")
    assert count_texts(tmp_path / "in") == 6
    assert count_texts(tmp_path / "in" / "b.txt", fmt="paragraphs") == 2
    assert count_texts(tmp_path / "in", limit=4) == 4


def test_count_texts_gives_up_on_large_inputs(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("a line\n" * 100, encoding="utf-8")
    assert count_texts(path, max_bytes=100) is None
    assert count_texts(path, max_bytes=100, limit=30) == 30  # the limit bounds it


def test_count_texts_leaves_warnings_to_the_real_read(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_bytes("caf\u00e9\n".encode("utf-8") + "na\u00efve\n".encode("latin-1"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert count_texts(path, encoding="utf-8-or-latin-1") == 2


def test_postfix_leaves_out_values_not_known_yet():
    assert postfix(("ppl", None, ".1f"), ("dev_ppl", 12.345, ".1f"), ("tok_s", 1234.6, ".0f")) == {
        "dev_ppl": "12.3", "tok_s": "1235",
    }
    assert postfix(("ppl", math.nan, ".1f")) == {}
    assert list(postfix(("b", 1.0, ".0f"), ("a", 2.0, ".0f"))) == ["b", "a"]
