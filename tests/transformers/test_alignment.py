"""Pieces to tokens by character overlap (spacy_lm_suite/transformers/alignment.py)."""

import numpy
import pytest
import spacy

from spacy_lm_suite.transformers.alignment import align, token_spans_of
from spacy_lm_suite.transformers.loading import load_encoder


def _pairs(alignment):
    return sorted(zip(alignment.token.tolist(), alignment.piece.tolist()))


def test_overlap_rule_on_spans():
    tokens = [(0, 2), (2, 5), (6, 10)]  # "do", "n't", a word after a space
    pieces = [(0, 0), (0, 3), (3, 4), (4, 5), (6, 10), (0, 0)]  # [CLS] don ' t word [SEP]
    alignment = align(tokens, pieces)
    assert _pairs(alignment) == [(0, 1), (1, 1), (1, 2), (1, 3), (2, 4)]
    assert alignment.pieces_per_token().tolist() == [1, 3, 1]
    weights = dict(zip(zip(alignment.token.tolist(), alignment.piece.tolist()), alignment.weight.tolist()))
    assert weights[(1, 2)] == pytest.approx(1 / 3) and weights[(0, 1)] == 1.0


def test_one_piece_over_two_tokens_counts_for_both():
    alignment = align([(0, 1), (1, 2)], [(0, 2)])
    assert _pairs(alignment) == [(0, 0), (1, 0)]


def test_overlapping_pieces_and_unaligned_tokens():
    # byte-level BPE: two pieces share a character; a whitespace token gets no piece
    alignment = align([(0, 4), (4, 6), (6, 9)], [(0, 3), (2, 4), (6, 9)])
    assert _pairs(alignment) == [(0, 0), (0, 1), (2, 2)]
    assert alignment.pieces_per_token().tolist() == [2, 0, 1]


@pytest.mark.parametrize("pooling,expected", [("first", {(1, 0)}), ("last", {(1, 2)})])
def test_first_and_last_pooling(pooling, expected):
    alignment = align([(0, 2), (2, 5)], [(0, 3), (3, 4), (4, 5)], pooling=pooling)
    chosen = {(t, p) for t, p, w in zip(alignment.token, alignment.piece, alignment.weight) if w == 1.0 and t == 1}
    assert chosen == expected
    assert alignment.weight.sum() == 2.0  # one piece per token


def test_empty_inputs():
    assert len(align(numpy.zeros((0, 2)), numpy.zeros((0, 2))).token) == 0
    assert align([(0, 3)], numpy.zeros((0, 2))).pieces_per_token().tolist() == [0]
    with pytest.raises(ValueError, match="pooling"):
        align([(0, 1)], [(0, 1)], pooling="max")


def _doc_alignment(encoder, nlp, text):
    doc = nlp.make_doc(text)
    encoded = encoder.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    spans = token_spans_of([t.text for t in doc], [t.idx for t in doc])
    alignment = align(spans, numpy.asarray(encoded["offset_mapping"]).reshape(-1, 2))
    pieces = encoder.tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    by_token = {t.text: [] for t in doc}
    for token, piece in zip(alignment.token, alignment.piece):
        by_token[doc[int(token)].text].append(pieces[piece])
    return doc, alignment, by_token


@pytest.mark.slow
def test_real_tokenizer_cases(minilm_dir):
    encoder = load_encoder(minilm_dir)
    nlp = spacy.blank("en")
    doc, alignment, by_token = _doc_alignment(encoder, nlp, "I don't like 🙂🙂 at the Café in 北京.\n\nOK")
    assert by_token["do"] == ["don"] and by_token["n't"] == ["don", "'", "t"]
    assert by_token["🙂"] == ["[UNK]", "[UNK]"]  # one [UNK] piece over both emoji tokens: once for each
    assert sum(1 for t in alignment.token if doc[int(t)].text == "🙂") == 2
    assert by_token["Café"] == ["cafe"]
    assert by_token["北京"] == ["北", "京"]
    assert by_token["\n\n"] == []
    long_word = "x" * 3000
    doc, alignment, by_token = _doc_alignment(encoder, nlp, f"a {long_word} b")
    assert by_token == {"a": ["a"], long_word: ["[UNK]"], "b": ["b"]}  # WordPiece: over 100 characters is [UNK]


def test_byte_level_bpe_overlapping_offsets(tiny_roberta_dir):
    encoder = load_encoder(tiny_roberta_dir)
    nlp = spacy.blank("en")
    doc, alignment, by_token = _doc_alignment(encoder, nlp, "Café 🙂 naïve don't")
    counts = alignment.pieces_per_token()
    assert (counts > 0).all(), by_token  # every token gets its pieces, accents and emoji included
