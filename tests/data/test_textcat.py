"""SST-2, TREC and JSONL text-classification parsing (spacy_lm_suite/data/textcat.py) and readers."""

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest
import spacy

from spacy_lm_suite.data.readers import jsonl_textcat_reader, sst2_reader, trec_reader
from spacy_lm_suite.data.textcat import (
    TREC_COARSE,
    TREC_FINE,
    read_sst2,
    read_textcat_jsonl,
    read_trec,
    sample_rank,
)
from spacy_lm_suite.errors import InputFormatError, UserError


def _classes(rows):
    return Counter(max(row.cats, key=row.cats.get) for row in rows)


def _write(tmp_path: Path, content, name="data.txt") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_sst2_published_counts(datasets_dir):
    rows = list(read_sst2(datasets_dir / "sst2" / "train.tsv"))
    assert len(rows) == 67349
    assert _classes(rows) == {"POSITIVE": 37569, "NEGATIVE": 29780}
    assert rows[0].text == "hide new secretions from the parental units"
    assert rows[0].cats == {"NEGATIVE": 1.0, "POSITIVE": 0.0}


def test_sst2_fixed_sample(datasets_dir):
    """The seed-0 2,000-row slice used for checkpoint selection never changes."""
    path = datasets_dir / "sst2" / "train.tsv"
    sample = list(read_sst2(path, sample=2000, seed=0))
    assert len(sample) == 2000
    assert [row.line for row in sample[:5]] == [5, 64, 175, 179, 250]
    assert _classes(sample) == {"POSITIVE": 1101, "NEGATIVE": 899}
    assert sample == list(read_sst2(path, sample=2000, seed=0))
    assert [row.line for row in read_sst2(path, sample=2000, seed=1)][:5] != [5, 64, 175, 179, 250]
    examples = list(sst2_reader(path, sample=2000, seed=0, limit=10)(spacy.blank("en")))
    assert [eg.reference.text for eg in examples] == [row.text for row in sample[:10]]


def test_sst2_complement_is_the_rest_of_train(datasets_dir):
    path = datasets_dir / "sst2" / "train.tsv"
    held_out = {row.line for row in read_sst2(path, sample=2000, seed=0)}
    rest = [row.line for row in read_sst2(path, sample=2000, seed=0, complement=True)]
    assert len(rest) == 67349 - 2000
    assert not held_out & set(rest)
    assert rest == sorted(rest)
    with pytest.raises(UserError, match="complement = true needs a sample size: set sample"):
        list(read_sst2(path, complement=True))


def test_trec_published_counts(datasets_dir):
    path = datasets_dir / "trec" / "train_5500.label"
    rows = list(read_trec(path))
    assert len(rows) == 5452
    assert _classes(rows) == {"ENTY": 1250, "HUM": 1223, "DESC": 1162, "NUM": 896, "LOC": 835, "ABBR": 86}
    assert list(rows[0].cats) == list(TREC_COARSE)
    fine = list(read_trec(path, fine=True))
    assert len(_classes(fine)) == 50 and list(fine[0].cats) == list(TREC_FINE)
    assert any("\xf0" in row.text for row in rows)  # the one ISO-8859-1 byte, decoded
    with pytest.raises(InputFormatError, match=r"not valid utf-8; set the encoding option .*encoding = \"latin-1\""):
        list(read_trec(path, encoding="utf-8"))
    examples = list(trec_reader(path, fine=True, limit=3)(spacy.blank("en")))
    assert examples[0].reference.cats["DESC:manner"] == 1.0 and len(examples[0].reference.cats) == 50


def test_trec_fixed_dev_slice_and_the_training_rows_beside_it(datasets_dir):
    """TREC has no dev file: the project scores on the seed-0 500-question slice and trains on the rest."""
    path = datasets_dir / "trec" / "train_5500.label"
    dev = list(read_trec(path, sample=500, seed=0))
    train = list(read_trec(path, sample=500, seed=0, complement=True))
    assert len(dev) == 500 and len(train) == 5452 - 500
    assert not {row.line for row in dev} & {row.line for row in train}
    assert _classes(dev) == {"HUM": 137, "DESC": 108, "ENTY": 96, "LOC": 74, "NUM": 74, "ABBR": 11}
    assert dev == list(read_trec(path, sample=500, seed=0))
    # the reader takes SST2Reader.v1's sample options, so a textcat config switches by @readers alone
    examples = list(trec_reader(path, sample=500, seed=0, limit=5)(spacy.blank("en")))
    assert [eg.reference.text for eg in examples] == [row.text for row in dev[:5]]
    with pytest.raises(UserError, match="complement = true needs a sample size"):
        trec_reader(path, complement=True)


def test_sst2_parsing(tmp_path):
    path = _write(tmp_path, "label\tsentence\n1\ta fine film \n\n0\tdull\n")
    rows = list(read_sst2(path))
    assert [(r.text, r.cats["POSITIVE"], r.line) for r in rows] == [("a fine film", 1.0, 2), ("dull", 0.0, 4)]
    named = list(read_sst2(path, labels=["neg", "pos"]))
    assert named[0].cats == {"neg": 0.0, "pos": 1.0}
    other_header = _write(tmp_path, "text\tlabel\nok\t1\n", "other.tsv")
    assert list(read_sst2(other_header, text_column="text"))[0].text == "ok"
    with pytest.warns(UserWarning, match="only 2 rows"):
        assert len(list(read_sst2(path, sample=5))) == 2


@pytest.mark.parametrize(
    "content,match,line",
    [
        ("", "expected a header line", 1),
        ("sentence\tlabel\n", "no data row", None),
        ("sentence\tgold\nok\t1\n", "no column 'label'.*label_column", 1),
        ("text\tlabel\nok\t1\n", "no column 'sentence'.*text_column", 1),
        ("ok\t1\nbad\t0\n", "no column 'sentence'", 1),
        ("sentence\tlabel\ngood\t1\nbad 0\n", "expected 2 tab-separated columns", 3),
        ("sentence\tlabel\ngood\t1\nbad\t2\n", "expected a label in 0, 1", 3),
        ("sentence\tlabel\n \t1\n", "empty one", 2),
        (b"sentence\tlabel\nna\xefve\t1\n", "not valid utf-8", 2),
        (bytes(range(256)), "binary file", 1),
    ],
)
def test_sst2_bad_input(tmp_path, content, match, line):
    path = _write(tmp_path, content, "train.tsv")
    with pytest.raises(InputFormatError, match=match) as err:
        list(read_sst2(path))
    assert err.value.line == line and str(err.value).startswith(str(path))


@pytest.mark.parametrize(
    "content,match,line",
    [
        ("", "no question found", None),
        ("LOC:city Where is it ?\nWhat is this ?\n", "expected 'COARSE:fine question'", 2),
        ("LOC:moon Where is it ?\n", "expected 'COARSE:fine question'", 1),
        ("LOC:city\n", "expected a question", 1),
        (bytes(range(256)), "binary file", 1),
    ],
)
def test_trec_bad_input(tmp_path, content, match, line):
    with pytest.raises(InputFormatError, match=match) as err:
        list(read_trec(_write(tmp_path, content)))
    assert err.value.line == line


def test_jsonl_label_and_cats_forms(tmp_path):
    lines = [
        {"text": "one", "label": "b"},
        {"text": "two", "cats": {"a": 1.0}},
        {"text": "three", "label": 3, "meta": "ignored"},
    ]
    path = _write(tmp_path, "".join(json.dumps(line) + "\n" for line in lines), "data.jsonl")
    rows = list(read_textcat_jsonl(path))
    assert [r.cats for r in rows] == [
        {"3": 0.0, "a": 0.0, "b": 1.0},
        {"3": 0.0, "a": 1.0, "b": 0.0},
        {"3": 1.0, "a": 0.0, "b": 0.0},
    ]
    fixed = list(read_textcat_jsonl(path, labels=["b", "a", "3", "c"], limit=1))
    assert fixed[0].cats == {"b": 1.0, "a": 0.0, "3": 0.0, "c": 0.0}
    with pytest.raises(InputFormatError, match="unknown label '3'") as err:
        list(read_textcat_jsonl(path, labels=["a", "b"]))
    assert err.value.line == 3
    with pytest.raises(UserError, match="at least 2 distinct"):
        list(read_textcat_jsonl(path, labels=["a", "a"]))


@pytest.mark.parametrize(
    "content,match,line",
    [
        ("", "no JSON object found", None),
        ('{"text": "a", "label": "x"}\n{"text": "b", "label": "y"\n', "invalid JSON", 2),
        ('["text", "label"]\n', "expected a JSON object per line", 1),
        ('{"label": "x"}\n', "string field 'text'", 1),
        ('{"text": "a"}\n', "exactly one of the fields 'label' or 'cats'", 1),
        ('{"text": "a", "label": "x", "cats": {"x": 1}}\n', "exactly one", 1),
        ('{"text": "a", "label": [1]}\n', "string or an integer", 1),
        ('{"text": "a", "cats": {"x": 2}}\n', "scores in \\[0, 1\\]", 1),
        (b'{"text": "caf\xe9", "label": "x"}\n', "not valid utf-8", 1),
        (bytes(range(256)), "binary file", 1),
    ],
)
def test_jsonl_bad_input(tmp_path, content, match, line):
    with pytest.raises(InputFormatError, match=match) as err:
        list(read_textcat_jsonl(_write(tmp_path, content, "data.jsonl")))
    assert err.value.line == line


@pytest.mark.parametrize("read", [read_sst2, read_trec, read_textcat_jsonl])
def test_missing_path(tmp_path, read):
    with pytest.raises(UserError, match="missing.tsv: no such file"):
        list(read(tmp_path / "missing.tsv"))


def test_sample_rank_is_fixed():
    assert sample_rank(0, 0) == int.from_bytes(hashlib.blake2b(b"0:0", digest_size=8).digest(), "big")
    assert sample_rank(1, 0) != sample_rank(0, 1)


def test_gutenberg_asset_reader(assets_dir):
    nlp = spacy.blank("en")
    train = list(jsonl_textcat_reader(assets_dir / "gutenberg" / "train.jsonl")(nlp))
    dev = list(jsonl_textcat_reader(assets_dir / "gutenberg" / "dev.jsonl")(nlp))
    assert (len(train), len(dev)) == (2000, 500)
    labels = ["austen", "chesterton", "melville", "milton", "whitman"]
    for examples, per_label in ((train, 400), (dev, 100)):
        assert all(list(eg.reference.cats) == labels and sum(eg.reference.cats.values()) == 1.0 for eg in examples)
        assert Counter(max(eg.reference.cats, key=eg.reference.cats.get) for eg in examples) == dict.fromkeys(labels, per_label)
    assert not {eg.reference.text for eg in train} & {eg.reference.text for eg in dev}
