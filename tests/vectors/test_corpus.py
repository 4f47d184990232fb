"""Corpus files for the vector trainers: tokenisation, the training normaliser, bad input."""

import pytest

from spacy_lm_suite.errors import UserError
from spacy_lm_suite.vectors.corpus import (
    prepare_corpus,
    spacy_tokenizer,
    training_normalizer,
    whitespace_tokenizer,
    write_corpus_file,
)


def test_training_normalizer_is_the_last_fallback_step():
    assert training_normalizer(["exact"])("Paris") == "Paris"
    assert training_normalizer(["exact", "lower"])("Paris") == "paris"
    assert training_normalizer(["exact", "lower", "shape"])("In 1984") == "in ####"
    with pytest.raises(UserError):
        training_normalizer(["upper"])


def test_spacy_tokenizer_splits_punctuation_and_drops_spaces():
    tokenize = spacy_tokenizer("en")
    assert list(tokenize(["Hello, world!  It's  here."])) == [["Hello", ",", "world", "!", "It", "'s", "here", "."]]


def test_write_corpus_file(tmp_path):
    texts = ["The Cat sat.", "   ", "In 1999\tit\u00a0ran"]
    corpus = write_corpus_file(texts, tmp_path / "c.txt", tokenizer=whitespace_tokenizer,
                               normalizer=training_normalizer(["exact", "lower", "shape"]), progress=False)
    assert (tmp_path / "c.txt").read_text(encoding="utf-8") == "the cat sat.\nin #### it ran\n"
    assert (corpus.n_texts, corpus.n_lines, corpus.n_tokens) == (3, 2, 7)
    again = write_corpus_file(texts, tmp_path / "d.txt", normalizer=training_normalizer(["exact", "lower", "shape"]),
                              progress=False)
    assert again.sha1 == corpus.sha1


def test_prepare_corpus_from_folder(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("Dr. Smith's cat.\n\nHello there\n", encoding="utf-8")
    (tmp_path / "in" / "b.jsonl").write_text('{"text": "JSON Text"}\n', encoding="utf-8")
    corpus = prepare_corpus(tmp_path / "in", tmp_path / "c.txt", fallback=["exact", "lower"], progress=False)
    assert corpus.path.read_text(encoding="utf-8").splitlines() == ["dr. smith 's cat .", "hello there", "json text"]
    assert "spacy.blank('en')" in corpus.tokenization and "'lower'" in corpus.tokenization
    pre = prepare_corpus(tmp_path / "in" / "a.txt", tmp_path / "p.txt", pretokenized=True, fallback=["exact"],
                         progress=False)
    assert pre.path.read_text(encoding="utf-8").splitlines() == ["Dr. Smith's cat.", "Hello there"]


def test_bad_input(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        prepare_corpus(tmp_path / "missing.txt", tmp_path / "c.txt", progress=False)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n", encoding="utf-8")
    with pytest.raises(UserError, match="no text"):
        prepare_corpus(empty, tmp_path / "c.txt", progress=False)
    with pytest.raises(UserError, match="empty"):
        write_corpus_file(["...", "  "], tmp_path / "c.txt", normalizer=lambda t: t.strip("."), progress=False)
    with pytest.raises(UserError, match="language code"):
        spacy_tokenizer("no-such-language")


def test_tokenising_bar_has_a_total(tmp_path, capsys):
    """The bar shows N/N texts (a percentage and an ETA), not just a count."""
    path = tmp_path / "in.txt"
    path.write_text("one two\nthree\n\nfour five six\n", encoding="utf-8")
    prepare_corpus(path, tmp_path / "c.txt", pretokenized=True, progress=True)
    err = capsys.readouterr().err
    assert "tokenising: 100%" in err and "3/3" in err, err
