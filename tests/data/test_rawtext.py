"""Raw text streams (spacy_lm_suite/data/rawtext.py) and the RawText.v1 reader."""

import json
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_lm_suite.data.rawtext import expand_source, iter_texts, read_lines
from spacy_lm_suite.data.readers import raw_text_reader
from spacy_lm_suite.errors import InputFormatError, UserError


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A folder of every format, with a sub-folder and a hidden file."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("first line\n\n  second line  \n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"text": "from json"}\n\n{"text": "more", "id": 2}\n', encoding="utf-8")
    (tmp_path / "sub" / "c.txt").write_text("nested\n", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("hidden\n", encoding="utf-8")
    nlp = spacy.blank("en")
    DocBin(docs=[nlp("from a doc bin."), nlp("second doc")]).to_disk(tmp_path / "sub" / "d.spacy")
    return tmp_path


def test_folder_is_recursive_sorted_and_auto_format(corpus):
    assert [p.name for p in expand_source(corpus)] == ["a.txt", "b.jsonl", "c.txt", "d.spacy"]
    assert list(iter_texts(corpus)) == [
        "first line", "second line", "from json", "more", "nested", "from a doc bin.", "second doc",
    ]
    assert list(iter_texts(corpus, limit=3)) == ["first line", "second line", "from json"]


def test_glob_and_list_sources(corpus):
    assert list(iter_texts(str(corpus / "**" / "*.txt"))) == ["first line", "second line", "nested"]
    assert list(iter_texts([corpus / "sub" / "c.txt", corpus / "a.txt"])) == ["nested", "first line", "second line"]


def test_paragraphs(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("One line\n  and its rest.\n\n\n\nNext one.\r\n \r\nLast", encoding="utf-8")
    assert list(iter_texts(path, fmt="paragraphs")) == ["One line and its rest.", "Next one.", "Last"]
    assert list(iter_texts(path, fmt="lines")) == ["One line", "and its rest.", "Next one.", "Last"]


def test_jsonl_field_and_forced_format(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text('{"body": "x y"}\n', encoding="utf-8")
    assert list(iter_texts(path, fmt="jsonl", field="body")) == ["x y"]
    with pytest.raises(InputFormatError, match="string field 'text'") as err:
        list(iter_texts(path, fmt="jsonl"))
    assert err.value.line == 1 and str(err.value).startswith(f"{path}:1:")


@pytest.mark.parametrize(
    "content,match,line",
    [
        ('{"text": "ok"}\n[1, 2]\n', "expected a JSON object per line", 2),
        ('{"text": "ok"}\n{"text": 3}\n', "string field 'text'", 2),
        ('{"text": "ok"}\n{text: 3}\n', "invalid JSON", 2),
    ],
)
def test_bad_jsonl_names_file_and_line(tmp_path, content, match, line):
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputFormatError, match=match) as err:
        list(iter_texts(path))
    assert err.value.line == line and str(err.value).startswith(f"{path}:{line}:")


def test_missing_sources(tmp_path):
    with pytest.raises(UserError, match="nope.txt: no such file or folder"):
        list(iter_texts(tmp_path / "nope.txt"))
    with pytest.raises(UserError, match="the pattern matches no file"):
        list(iter_texts(str(tmp_path / "*.txt")))
    with pytest.raises(UserError, match="the folder holds no files"):
        list(iter_texts(tmp_path))
    with pytest.raises(UserError, match="no input given"):
        list(iter_texts([]))


def test_unknown_format(tmp_path):
    with pytest.raises(UserError, match="unknown text format 'xml'"):
        list(iter_texts(tmp_path, fmt="xml"))
    with pytest.raises(UserError, match="unknown text format 'xml'"):
        raw_text_reader(tmp_path, fmt="xml")


def test_empty_files(tmp_path):
    (tmp_path / "a.txt").write_text("\n \n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(UserError, match="no text found"):
        list(iter_texts(tmp_path))


def test_binary_garbage_and_encoding(tmp_path):
    garbage = tmp_path / "garbage.txt"
    garbage.write_bytes(b"fine\n" + bytes(range(256)))
    with pytest.raises(InputFormatError, match="binary file") as err:
        list(iter_texts(garbage))
    assert err.value.line == 2
    latin = tmp_path / "latin.txt"
    latin.write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(InputFormatError, match="byte 0xe9 at column 4 is not valid utf-8.*encoding") as err:
        list(iter_texts(latin))
    assert err.value.line == 2
    assert list(iter_texts(latin, encoding="latin-1")) == ["ok", "café"]
    not_docbin = tmp_path / "bad.spacy"
    not_docbin.write_bytes(bytes(range(256)))
    with pytest.raises(InputFormatError, match="expected a spaCy DocBin"):
        list(iter_texts(not_docbin))


def test_read_lines_numbers_and_bom(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffone\r\ntwo\n".encode("utf-8"))
    assert list(read_lines(path)) == [(1, "one"), (2, "two")]


def test_raw_text_reader(corpus):
    nlp = spacy.blank("en")
    examples = list(raw_text_reader(corpus)(nlp))
    assert len(examples) == 7
    assert all(eg.predicted.text == eg.reference.text and not eg.reference.ents for eg in examples)
    assert [eg.reference.text for eg in raw_text_reader(corpus, min_length=2, max_length=2)(nlp)] == [
        "first line", "second line", "from json", "second doc",
    ]
    assert len(list(raw_text_reader([str(corpus / "*.jsonl")], limit=1)(nlp))) == 1


def test_raw_text_reader_from_config(assets_dir):
    config = {"corpus": {"@readers": "spacy-lm-suite.RawText.v1", "path": str(assets_dir / "gutenberg" / "raw.txt")}}
    reader = spacy.registry.resolve(config)["corpus"]
    examples = list(reader(spacy.blank("en")))
    assert len(examples) == 1272
    assert sum(len(eg.reference) for eg in examples) > 80_000


def test_gutenberg_raw_asset(assets_dir):
    path = assets_dir / "gutenberg" / "raw.txt"
    lines = list(iter_texts(path))
    assert len(lines) == 1272 and lines == list(iter_texts(path, fmt="paragraphs"))
    assert sum(len(text.split()) for text in lines) == 71645
    dev = {json.loads(line)["text"] for line in (assets_dir / "gutenberg" / "dev.jsonl").open(encoding="utf-8")}
    raw = path.read_text(encoding="utf-8")
    assert not any(text in raw for text in dev)


def test_mixed_encoding_reads_latin1_lines_with_a_warning(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_bytes("café au lait\n".encode("utf-8") + "naïve\n".encode("latin-1"))
    with pytest.raises(InputFormatError, match=r"mixed.txt:2: .*utf-8-or-latin-1"):
        list(iter_texts(path))
    with pytest.warns(UserWarning, match="1 line\\(s\\) are not UTF-8"):
        assert list(iter_texts(path, encoding="utf-8-or-latin-1")) == ["café au lait", "naïve"]
