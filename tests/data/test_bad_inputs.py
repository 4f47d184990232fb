"""Bad inputs to every registered reader (issue 9): each gives one clear error,
found when the reader is made (options) or at the file and line (data), and no
reader writes anything."""

import gzip
import warnings
from pathlib import Path

import pytest
import spacy
from spacy.util import registry

from spacy_lm_suite.data.rawtext import read_lines
from spacy_lm_suite.errors import InputFormatError, UserError

READERS = {
    "conll2003": "spacy-lm-suite.CoNLL2003Reader.v1",
    "wnut17": "spacy-lm-suite.WNUT17Reader.v1",
    "sst2": "spacy-lm-suite.SST2Reader.v1",
    "trec": "spacy-lm-suite.TRECReader.v1",
    "jsonl": "spacy-lm-suite.JsonlTextcatReader.v1",
    "raw": "spacy-lm-suite.RawText.v1",
}
# One small valid file per reader, with one non-ASCII word ("Köln").
CONTENT = {
    "conll2003": "-DOCSTART- -X- -X- O\n\nKöln NNP B-NP B-LOC\nis VBZ B-VP O\n\nOK UH O O\n",
    "wnut17": "Köln\tB-location\nis\tO\n\nOK\tO\n",
    "sst2": "sentence\tlabel\nKöln is fine\t1\nawful\t0\n",
    "trec": "LOC:city Where is Köln ?\nHUM:ind Who is he ?\n",
    "jsonl": '{"text": "Köln is fine", "label": "POS"}\n{"text": "awful", "label": "NEG"}\n',
    "raw": "Köln is fine\nawful\n",
}
NAMES = {"conll2003": "d.conll", "wnut17": "d.conll", "sst2": "d.tsv", "trec": "d.label", "jsonl": "d.jsonl", "raw": "d.txt"}


def make_reader(kind, path, **options):
    """The reader as a config makes it: resolved through spaCy's registry."""
    config = {"corpus": {"@readers": READERS[kind], "path": str(path), **options}}
    return registry.resolve(config)["corpus"]


def texts(kind, path, **options):
    nlp = spacy.blank("en")
    return [eg.reference.text for eg in make_reader(kind, path, **options)(nlp)]


def write(tmp_path, kind, content=None, *, encoding="utf-8", gz=False):
    content = CONTENT[kind] if content is None else content
    data = content.encode(encoding) if isinstance(content, str) else content
    path = tmp_path / (NAMES[kind] + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture
def unchanged(tmp_path):
    """Asserts, after the test, that the test folder holds exactly the files it
    wrote itself: no reader writes (or leaves) anything."""
    written = []
    yield written
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(written)


# -- encoding --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(READERS))
def test_every_reader_takes_an_encoding(kind, tmp_path):
    default = "latin-1" if kind == "trec" else "utf-8"
    other = "utf-8" if kind == "trec" else "latin-1"
    utf8 = write(tmp_path, kind)
    assert "Köln" in " ".join(texts(kind, utf8, encoding="utf-8"))
    (tmp_path / "latin").mkdir()
    latin = write(tmp_path / "latin", kind, encoding="latin-1")
    assert "Köln" in " ".join(texts(kind, latin, encoding="latin-1"))
    assert "Köln" in " ".join(texts(kind, latin if default == "latin-1" else utf8))  # the default
    if other == "latin-1":
        with pytest.raises(InputFormatError, match=r":\d: byte 0xf6 at column \d+ is not valid utf-8; set the encoding option"):
            texts(kind, latin)
    for path in (utf8, latin):  # "utf-8-or-latin-1" reads both
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert "Köln" in " ".join(texts(kind, path, encoding="utf-8-or-latin-1"))


def test_decode_error_names_file_line_and_the_option_in_config_spelling(tmp_path):
    path = write(tmp_path, "conll2003", encoding="latin-1")
    with pytest.raises(InputFormatError) as err:
        texts("conll2003", path)
    assert str(err.value) == (
        f"{path}:3: byte 0xf6 at column 2 is not valid utf-8; set the encoding option to the file's encoding "
        '(in a config: encoding = "latin-1", on the command line: --encoding latin-1; '
        '"utf-8-or-latin-1" reads files that mix both)'
    )


def test_a_utf8_trec_file_is_read_with_encoding_utf8_and_not_silently_mojibaked(tmp_path):
    path = write(tmp_path, "trec")
    assert texts("trec", path, encoding="utf-8")[0] == "Where is Köln ?"
    with pytest.warns(UserWarning, match=r'1 line\(s\) read as Latin-1 are valid UTF-8 \(first: line 1\).*encoding = "utf-8"'):
        assert texts("trec", path)[0] == "Where is KÃ¶ln ?"  # the default stays the original files' Latin-1


def test_the_original_latin1_trec_byte_gives_no_warning(tmp_path):
    path = write(tmp_path, "trec", "DESC:def What is \xf0 ?\n", encoding="latin-1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert texts("trec", path) == ["What is \xf0 ?"]


@pytest.mark.parametrize("kind", sorted(READERS))
@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-16-le", "cp037", "base64"])
def test_encodings_that_cannot_be_read_line_by_line_are_refused_when_the_reader_is_made(kind, encoding, tmp_path, unchanged):
    with pytest.raises(UserError, match=rf'encoding = "{encoding}": the readers read files line by line and a newline is not the byte 0x0a'):
        make_reader(kind, tmp_path / "not-read.txt", encoding=encoding)


@pytest.mark.parametrize("kind", sorted(READERS))
def test_an_unknown_encoding_is_refused_when_the_reader_is_made(kind, tmp_path, unchanged):
    with pytest.raises(UserError, match=r'encoding = "klingon": unknown encoding; expected a Python codec name such as "utf-8"'):
        make_reader(kind, tmp_path / "not-read.txt", encoding="klingon")


def test_read_lines_refuses_utf16_too(tmp_path):
    path = tmp_path / "u16.txt"
    path.write_text("a\nb\n", encoding="utf-16")
    with pytest.raises(UserError, match=r'encoding = "utf-16": the readers read files line by line'):
        list(read_lines(path, encoding="utf-16"))


# -- numeric options -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(READERS))
@pytest.mark.parametrize("limit", [-1, -100])
def test_a_negative_limit_is_refused_when_the_reader_is_made(kind, limit, tmp_path, unchanged):
    unchanged.append(write(tmp_path, kind).name)
    with pytest.raises(UserError, match=rf"limit = {limit}: expected a whole number >= 0 \(0: no limit\)"):
        make_reader(kind, tmp_path / NAMES[kind], limit=limit)


@pytest.mark.parametrize(
    "kind, options, message",
    [
        ("raw", {"min_length": 5, "max_length": 2}, r"min_length = 5 is greater than max_length = 2, so no doc could pass"),
        ("raw", {"min_length": -1}, r"min_length = -1: expected a whole number >= 0 \(0: no lower bound\)"),
        ("raw", {"max_length": -3}, r"max_length = -3: expected a whole number >= 0 \(0: no upper bound\)"),
        ("sst2", {"sample": -5}, r"sample = -5: expected a whole number >= 0 \(0: all rows\)"),
        ("sst2", {"complement": True}, r"complement = true needs a sample size: set sample"),
        ("sst2", {"labels": ["ONLY"]}, r"labels must name at least 2 distinct classes"),
        ("jsonl", {"labels": ["a", "a"]}, r"labels must name at least 2 distinct classes"),
        ("conll2003", {"n_sents": -2}, r"n_sents = -2: expected a whole number >= 0 \(0: one doc per -DOCSTART- document\)"),
        ("raw", {"fmt": "xml"}, r"unknown text format 'xml'"),
    ],
)
def test_bad_options_are_refused_when_the_reader_is_made(kind, options, message, tmp_path, unchanged):
    with pytest.raises(UserError, match=message):
        make_reader(kind, tmp_path / "not-read.txt", **options)


def test_min_length_equal_to_max_length_is_fine(tmp_path):
    path = write(tmp_path, "raw")
    assert texts("raw", path, min_length=1, max_length=1) == ["awful"]


def test_the_python_functions_refuse_a_negative_limit_too(tmp_path):
    from spacy_lm_suite.data import iter_texts, read_conll2003, read_sst2, read_textcat_jsonl, read_trec

    for read, kind in [(read_conll2003, "conll2003"), (read_sst2, "sst2"), (read_trec, "trec"), (read_textcat_jsonl, "jsonl")]:
        with pytest.raises(UserError, match=r"limit = -1: expected a whole number >= 0"):
            list(read(write(tmp_path, kind), limit=-1))
    with pytest.raises(UserError, match=r"limit = -1: expected a whole number >= 0"):
        list(iter_texts(write(tmp_path, "raw"), limit=-1))


# -- corrupt data: one InputFormatError naming file:line ----------------------------------------


@pytest.mark.parametrize("kind", sorted(READERS))
def test_gzipped_files_are_read(kind, tmp_path):
    assert texts(kind, write(tmp_path, kind, gz=True), encoding="utf-8") == texts(kind, write(tmp_path, kind), encoding="utf-8")


def test_a_jsonl_gz_file_is_read_as_jsonl(tmp_path):
    path = tmp_path / "d.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"text": "one"}\n{"text": "two"}\n'))
    assert texts("raw", path) == ["one", "two"]


@pytest.mark.parametrize("kind", sorted(READERS))
def test_a_truncated_gz_names_file_and_line(kind, tmp_path):
    lines = CONTENT[kind].splitlines(keepends=True)
    body = lines[0] + "".join(lines[1:] * 2000) if kind == "sst2" else CONTENT[kind] * 2000
    data = gzip.compress(body.encode("utf-8"))
    path = tmp_path / (NAMES[kind] + ".gz")
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFormatError, match=rf"^{path}:\d+: the gzip data ends or breaks here \(truncated or corrupt file\?") as err:
        texts(kind, path)
    assert err.value.line > 1


@pytest.mark.parametrize(
    "kind, content, line, message",
    [
        ("conll2003", "Köln NNP B-NP B-LOC\nis VBZ O\n", 2, r"expected 4 whitespace-separated columns \(word ... tag\) or a blank line, got 3"),
        ("wnut17", "Köln\tB-location\nis\tO\textra\n", 2, r"expected 2 tab-separated columns \(word ... tag\) or a blank line, got 3"),
        ("sst2", "sentence\tlabel\nfine\t1\nbad\t0\textra\n", 3, r"expected 2 tab-separated columns as in the header, got 3"),
        ("conll2003", "Köln NNP B-NP B-PLACE-\nis VBZ B-VP X-LOC\n", 2, r"expected a tag O, B-<type> or I-<type> in the last column \(found 'X-LOC'\)"),
        ("sst2", "sentence\tlabel\nfine\t1\nbad\t2\n", 3, r"expected a label in 0, 1 \(one per name in `labels`\) \(found '2'\)"),
        ("trec", "LOC:city Where ?\nPLACE:city Where else ?\n", 2, r"expected 'COARSE:fine question' with a TREC label such as 'LOC:city'"),
        ("trec", "LOC:city\n", 1, r"expected 'COARSE:fine question' with a TREC label|expected a question after the label"),
        ("jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n{"text": "c", "label": "z"}\n', 3, r"unknown label 'z', expected one of \['x', 'y'\]"),
        ("jsonl", '{"text": "a", "label": "x"}\n{"text": 3, "label": "y"}\n', 2, r"expected a non-empty string field 'text'"),
        ("raw", "fine\nbinary \x00 data\n", 2, r"found a NUL byte: this looks like a binary file"),
    ],
)
def test_corrupt_data_names_file_and_line(kind, content, line, message, tmp_path):
    path = write(tmp_path, kind, content)
    options = {"labels": ["x", "y"]} if kind == "jsonl" and "z" in content else {}
    with pytest.raises(InputFormatError, match=rf"^{path}:{line}: ({message})") as err:
        texts(kind, path, **options)
    assert err.value.line == line and err.value.path == path
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # nothing written


def test_sst2_column_hint_names_options_the_reader_has(tmp_path):
    path = write(tmp_path, "sst2", "text\tlabel\nfine\t1\nbad\t0\n")
    with pytest.raises(InputFormatError) as err:
        texts("sst2", path)
    assert str(err.value) == (
        f"{path}:1: the header has no column 'sentence'; set text_column to one of the header's columns "
        "['text', 'label'] (found 'text\\tlabel')"
    )
    assert texts("sst2", path, text_column="text") == ["fine", "bad"]  # the option the hint names works
    path = write(tmp_path, "sst2", "sentence\tstars\nfine\t1\n")
    assert texts("sst2", path, label_column="stars") == ["fine"]


def test_readers_are_made_without_touching_the_file(tmp_path, unchanged):
    """Options are checked at construction; the (missing) file is read only per epoch."""
    for kind in READERS:
        reader = make_reader(kind, tmp_path / "later.txt", limit=2)
        with pytest.raises(UserError, match="later.txt: no such file"):
            list(reader(spacy.blank("en")))


def test_a_file_that_is_not_gzip_despite_its_name_is_read_as_text(tmp_path):
    path = Path(tmp_path / "plain.txt.gz")
    path.write_text("not compressed\n", encoding="utf-8")
    assert texts("raw", path) == ["not compressed"]
