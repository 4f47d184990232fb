import pytest

from spacy_lm_suite.errors import UserError
from spacy_lm_suite.vectors.normalizers import (
    DEFAULT_FALLBACK,
    NORMALIZERS,
    exact,
    lower,
    normalizer_chain,
    shape,
    validate_fallback,
)


def test_normalizers():
    assert exact("Paris") == "Paris"
    assert lower("PaRiS") == "paris"
    assert shape("1984") == "####"
    assert shape("3.5Km") == "#.#km"
    assert shape("Paris") == "paris"
    assert shape("٣٤") == "##"  # Arabic-Indic digits are digits too


def test_default_chain():
    assert DEFAULT_FALLBACK == ("exact", "lower", "shape")
    assert list(NORMALIZERS) == list(DEFAULT_FALLBACK)
    assert normalizer_chain(["lower", "exact"]) == (lower, exact)


def test_validate_fallback_accepts_comma_string():
    assert validate_fallback("exact, lower") == ("exact", "lower")


@pytest.mark.parametrize("bad", [[], ["exact", "exact"], ["upper"], ""])
def test_validate_fallback_rejects(bad):
    with pytest.raises(UserError, match="fallback"):
        validate_fallback(bad)
