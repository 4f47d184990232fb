"""CoNLL-2003 / WNUT-17 parsing (spacy_lm_suite/data/conll.py) and the NER readers."""

from collections import Counter
from pathlib import Path

import pytest
import spacy

from spacy_lm_suite.data.conll import group_sentences, iob_to_spans, read_conll2003, read_iob, read_wnut17
from spacy_lm_suite.data.readers import conll2003_reader, wnut17_reader
from spacy_lm_suite.errors import InputFormatError, UserError


def _entity_counts(sentences):
    return Counter(label for sentence in sentences for _, _, label in sentence.spans)


@pytest.mark.parametrize(
    "split,n_sents,n_tokens,n_docs,by_type",
    [
        ("train", 14041, 203621, 946, {"PER": 6600, "LOC": 7140, "ORG": 6321, "MISC": 3438}),
        ("dev", 3250, 51362, 216, {"PER": 1842, "LOC": 1837, "ORG": 1341, "MISC": 922}),
    ],
)
def test_conll2003_published_counts(datasets_dir, split, n_sents, n_tokens, n_docs, by_type):
    path = datasets_dir / "conll2003" / f"{split}.txt"
    sentences = list(read_conll2003(path))
    assert len(sentences) == n_sents
    assert sum(len(s.words) for s in sentences) == n_tokens
    assert _entity_counts(sentences) == by_type
    assert not any("-DOCSTART-" in s.words for s in sentences)
    assert len(list(group_sentences(sentences, 0))) == n_docs
    # The stored copy is IOB2, so the strict check passes and gives the same spans.
    assert [s.spans for s in read_conll2003(path, scheme="iob2")] == [s.spans for s in sentences]


@pytest.mark.parametrize(
    "split,n_sents,n_tokens,n_entities",
    [("train", 3394, 62730, 1975), ("dev", 1009, 15733, 836)],
)
def test_wnut17_published_counts(datasets_dir, split, n_sents, n_tokens, n_entities):
    sentences = list(read_wnut17(datasets_dir / "wnut17" / f"{split}.conll"))
    assert len(sentences) == n_sents
    assert sum(len(s.words) for s in sentences) == n_tokens
    assert sum(_entity_counts(sentences).values()) == n_entities


def test_conll2003_reader_dev(datasets_dir):
    nlp = spacy.blank("en")
    path = datasets_dir / "conll2003" / "dev.txt"
    examples = list(conll2003_reader(path)(nlp))
    assert len(examples) == 3250
    assert sum(len(eg.reference.ents) for eg in examples) == 5942
    documents = list(conll2003_reader(path, n_sents=0)(nlp))
    assert len(documents) == 216
    assert sum(len(list(eg.reference.sents)) for eg in documents) == 3250
    assert len(list(conll2003_reader(path, n_sents=10, limit=7)(nlp))) == 7


def test_wnut17_sample_asset(assets_dir):
    train = list(read_wnut17(assets_dir / "wnut17" / "train.conll"))
    dev = list(read_wnut17(assets_dir / "wnut17" / "dev.conll"))
    assert (len(train), sum(len(s.spans) for s in train)) == (1000, 569)
    assert (len(dev), sum(len(s.spans) for s in dev)) == (300, 282)
    examples = list(wnut17_reader(assets_dir / "wnut17" / "train.conll")(spacy.blank("en")))
    assert len(examples) == 1000
    assert sum(len(eg.reference.ents) for eg in examples) == 569


def test_iob_to_spans_reads_iob1_and_iob2():
    assert iob_to_spans(["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"]) == [
        (0, 2, "PER"), (2, 3, "PER"), (4, 5, "LOC"), (5, 6, "ORG"),
    ]
    assert iob_to_spans(["B-PER", "I-PER", "B-PER", "I-PER"]) == [(0, 2, "PER"), (2, 4, "PER")]
    assert iob_to_spans(["O", "O"]) == []


def _write(tmp_path: Path, text, name="data.txt") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


CONLL_IOB1 = """-DOCSTART- -X- -X- O

U.N. NNP I-NP I-ORG
official NN I-NP O
Ekeus NNP I-NP I-PER
heads VBZ I-VP O
for IN I-PP O
Baghdad NNP I-NP I-LOC
. . O O

-DOCSTART- -X- -X- O

Germany NNP I-NP I-LOC
France NNP I-NP B-LOC
"""


def test_conll_iob1_to_spans_and_documents(tmp_path):
    sentences = list(read_conll2003(_write(tmp_path, CONLL_IOB1)))
    assert [s.words[0] for s in sentences] == ["U.N.", "Germany"]
    assert sentences[0].spans == ((0, 1, "ORG"), (2, 3, "PER"), (5, 6, "LOC"))
    assert sentences[1].spans == ((0, 1, "LOC"), (1, 2, "LOC"))
    assert [(s.line, s.document) for s in sentences] == [(3, 0), (13, 1)]
    examples = list(conll2003_reader(_write(tmp_path, CONLL_IOB1))(spacy.blank("en")))
    assert [[(e.text, e.label_) for e in eg.reference.ents] for eg in examples][1] == [("Germany", "LOC"), ("France", "LOC")]
    reference = examples[0].reference
    assert [t.ent_iob_ for t in reference] == ["B", "O", "B", "O", "O", "B", "O"]
    assert [t.text for t in examples[0].predicted] == [t.text for t in reference]


def test_wnut_whitespace_lines_end_sentences(tmp_path):
    path = _write(tmp_path, "\ufeffHi\tO\n\t\nNew\tB-location\nYork\tI-location\n \r\nok\tO\r\n")
    sentences = list(read_wnut17(path))
    assert [s.words for s in sentences] == [("Hi",), ("New", "York"), ("ok",)]
    assert sentences[1].spans == ((0, 2, "location"),)
    assert list(read_wnut17(path, limit=2))[-1].words == ("New", "York")


def test_group_sentences_stays_inside_documents(tmp_path):
    sentences = list(read_conll2003(_write(tmp_path, CONLL_IOB1 + "\nx X X O\n")))
    assert [len(g) for g in group_sentences(sentences, 5)] == [1, 2]
    assert [len(g) for g in group_sentences(sentences, 1)] == [1, 1, 1]
    with pytest.raises(UserError, match="n_sents"):
        list(group_sentences(sentences, -1))


@pytest.mark.parametrize(
    "text,read,match,line",
    [
        ("EU NNP B-NP B-ORG\nrejects VBZ O\n", read_conll2003, "expected 4 whitespace-separated columns", 2),
        ("EU NNP B-NP X-ORG\n", read_conll2003, "expected a tag O, B-<type> or I-<type>", 1),
        ("EU NNP B-NP B-ORG\nx X X E-ORG\n", read_conll2003, "expected a tag", 2),
        ("EU B-ORG\n", read_wnut17, "expected 2 tab-separated columns", 1),
        ("a\tO\n\tO\n", read_wnut17, "expected a word", 2),
        ("a\tO\nb\tI-person\n", read_wnut17, "I-person continues no person entity", 2),
        ("a\tB-group\nb\tI-person\n", read_wnut17, "I-person continues no person entity", 2),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, text, read, match, line):
    path = _write(tmp_path, text)
    with pytest.raises(InputFormatError, match=match) as err:
        list(read(path))
    assert err.value.line == line
    assert str(err.value).startswith(f"{path}:{line}: ")


def test_schemes_are_checked(tmp_path):
    iob2 = _write(tmp_path, "a X X B-PER\nb X X I-PER\n", "iob2.txt")
    assert list(read_conll2003(iob2, scheme="iob2"))[0].spans == ((0, 2, "PER"),)
    with pytest.raises(InputFormatError, match="scheme='iob1'"):
        list(read_conll2003(iob2, scheme="iob1"))
    iob1 = _write(tmp_path, CONLL_IOB1, "iob1.txt")
    assert len(list(read_conll2003(iob1, scheme="iob1"))) == 2
    with pytest.raises(InputFormatError, match="scheme='iob2'") as err:
        list(read_conll2003(iob1, scheme="iob2"))
    assert err.value.line == 3
    with pytest.raises(UserError, match="unknown tag scheme 'bilou'"):
        list(read_conll2003(iob1, scheme="bilou"))


@pytest.mark.parametrize("read", [read_conll2003, read_wnut17])
@pytest.mark.parametrize("text", ["", "\n\n  \n", "-DOCSTART- -X- -X- O\n\n"])
def test_empty_file(tmp_path, read, text):
    with pytest.raises(InputFormatError, match="no sentence found"):
        list(read(_write(tmp_path, text)))


@pytest.mark.parametrize("read", [read_conll2003, read_wnut17])
def test_binary_garbage(tmp_path, read):
    path = _write(tmp_path, bytes(range(256)) * 4)
    with pytest.raises(InputFormatError, match="binary file"):
        list(read(path))


def test_wrong_encoding_names_line_and_option(tmp_path):
    path = _write(tmp_path, "Köln X X B-LOC\n\nM\xfcnchen X X B-LOC\n".encode("latin-1"))
    with pytest.raises(InputFormatError, match=r"is not valid utf-8; set the encoding option to the file.s encoding \(in a config: encoding = \"latin-1\"") as err:
        list(read_conll2003(path))
    assert err.value.line == 1
    assert [s.words[0] for s in read_conll2003(path, encoding="latin-1")] == ["Köln", "München"]
    with pytest.raises(UserError, match="unknown encoding"):
        list(read_conll2003(path, encoding="klingon"))


def test_missing_path_and_folder(tmp_path):
    with pytest.raises(UserError, match="nope.txt: no such file"):
        list(read_conll2003(tmp_path / "nope.txt"))
    with pytest.raises(UserError, match="is a folder"):
        list(read_wnut17(tmp_path))
    with pytest.raises(UserError, match="no such file"):
        list(conll2003_reader(tmp_path / "nope.txt")(spacy.blank("en")))


def test_read_iob_generic_columns(tmp_path):
    path = _write(tmp_path, "a|x|B-T\nb|y|I-T\n")
    assert list(read_iob(path, n_columns=3, separator="|"))[0].spans == ((0, 2, "T"),)
