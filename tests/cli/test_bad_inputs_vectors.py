"""``convert-vectors``, ``coverage``, ``evaluate-vectors``: what they promise about existing files, and bad options.

Each case writes its expectation: the error text, the bystander files byte for
byte, the output left as it was.
"""

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from cli_support import run, snapshot
from spacy_lm_suite.runs.outputs import MANIFEST_FILE
from spacy_lm_suite.vectors.formats import read_vectors
from spacy_lm_suite.vectors.table import LMVectors

WORDS = ["the", "paris", "london", "man", "woman"]


@pytest.fixture
def glove(tmp_path):
    data = np.random.default_rng(0).standard_normal((len(WORDS), 4)).astype(np.float32)
    path = tmp_path / "glove.txt"
    path.write_text("".join(f"{w} {' '.join(map(repr, row.tolist()))}\n" for w, row in zip(WORDS, data)))
    return path




def assert_fails(args, message, capsys, monkeypatch):
    code, out = run(args, capsys, monkeypatch)
    assert code == 1, out
    assert message in out, out
    assert out.count("\u2718") == 1 and "Traceback" not in out, out


@pytest.fixture
def user_folder(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    (folder / "config.cfg").write_text("[my own]")
    return folder


@pytest.mark.parametrize("output_format", ["table", "pipeline"])
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_refuses_a_users_non_empty_folder(glove, user_folder, output_format, overwrite, capsys, monkeypatch):
    before = snapshot(user_folder)
    assert_fails(["convert-vectors", glove, user_folder, "-F", output_format, *overwrite],
                 f"{user_folder}: the output folder exists and is not empty, and holds no output of spacy-lm-suite",
                 capsys, monkeypatch)
    assert snapshot(user_folder) == before


def test_overwrite_replaces_only_an_earlier_output(glove, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert run(["convert-vectors", glove, out, "-F", "pipeline"], capsys, monkeypatch)[0] == 0
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    assert_fails(["convert-vectors", glove, out], f"{out}: the output folder exists and is not empty; pass --overwrite",
                 capsys, monkeypatch)
    assert snapshot(out) == before
    code, text = run(["convert-vectors", glove, out, "--overwrite", "--truncate", "3"], capsys, monkeypatch)
    assert code == 0, text
    names = {p.name for p in out.iterdir()}
    assert names == {"notes.txt", "lm_vectors.npy", "lm_vectors.json", "vectors", MANIFEST_FILE}  # the pipeline files are gone
    assert (out / "notes.txt").read_text() == "mine" and LMVectors().from_disk(out).words == WORDS[:3]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_manifest_paths_outside_the_target_are_never_deleted(glove, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    run(["convert-vectors", glove, out], capsys, monkeypatch)
    (tmp_path / "x").write_text("precious")
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    for files in (["../x", "lm_vectors.npy"], "../x", [str(tmp_path / "x")]):
        (out / MANIFEST_FILE).write_text(json.dumps({**manifest, "files": files}))
        before = snapshot(tmp_path)
        assert_fails(["convert-vectors", glove, out, "--overwrite"], f"{out / MANIFEST_FILE}", capsys, monkeypatch)
        assert snapshot(tmp_path) == before and (tmp_path / "x").read_text() == "precious"


def test_dot_as_output(glove, tmp_path, capsys, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    code, out = run(["convert-vectors", glove, "."], capsys, monkeypatch)
    assert code == 0, out
    assert sorted(os.listdir(here)) == [MANIFEST_FILE, "lm_vectors.json", "lm_vectors.npy", "vectors"]
    assert sorted(os.listdir(tmp_path)) == ["glove.txt", "here"]  # no temporary folders, here or beside
    code, out = run(["convert-vectors", glove, ".", "-F", "pipeline", "--overwrite"], capsys, monkeypatch)
    assert code == 0, out
    assert not [name for name in os.listdir(here) if name.startswith(".") and name != MANIFEST_FILE]
    assert Path.cwd() == here and (here / "config.cfg").is_file()


@pytest.mark.parametrize("output_format", ["table", "pipeline", "word2vec-text"])
def test_output_paths_that_cannot_be_written_are_reported_before_reading(tmp_path, output_format, capsys, monkeypatch):
    """The input is missing too: the output is checked first, before any work."""
    (tmp_path / "file").write_text("x")
    missing = tmp_path / "missing.vec"
    assert_fails(["convert-vectors", missing, tmp_path / "file" / "out", "-F", output_format],
                 f"{tmp_path / 'file'} is a file, not a folder", capsys, monkeypatch)
    if output_format != "word2vec-text":
        assert_fails(["convert-vectors", missing, tmp_path / "file", "-F", output_format],
                     "exists and is not a folder", capsys, monkeypatch)
    else:
        assert_fails(["convert-vectors", missing, tmp_path, "-F", output_format],
                     "is a folder; the word2vec-text file must be a file", capsys, monkeypatch)
    assert (tmp_path / "file").read_text() == "x"


def test_existing_word2vec_file_needs_overwrite(glove, tmp_path, capsys, monkeypatch):
    target = tmp_path / "v.txt"
    target.write_text("my own file")
    assert_fails(["convert-vectors", glove, target, "-F", "word2vec-text"],
                 f"{target}: the word2vec-text file exists; pass --overwrite", capsys, monkeypatch)
    assert target.read_text() == "my own file"
    assert run(["convert-vectors", glove, target, "-F", "word2vec-text", "--overwrite"], capsys, monkeypatch)[0] == 0
    assert read_vectors(target)[0] == WORDS


def test_unknown_lang_before_reading(tmp_path, capsys, monkeypatch):
    assert_fails(["convert-vectors", tmp_path / "missing.vec", tmp_path / "p", "-F", "pipeline", "--lang", "zz"],
                 "--lang: spaCy has no language 'zz'", capsys, monkeypatch)
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("args,message", [
    (["convert-vectors", "{glove}", "{out}", "--prune", "-1"], "--prune: expected 0 or more, found -1"),
    (["convert-vectors", "{glove}", "{out}", "--truncate", "-3"], "--truncate: expected 0 or more, found -3"),
    (["coverage", "{glove}", "{glove}", "--limit", "-1"], "--limit: expected 0 or more, found -1"),
    (["coverage", "{glove}", "{glove}", "--top-missed", "-5"], "--top-missed: expected 0 or more, found -5"),
    (["evaluate-vectors", "{glove}", "--restrict", "0"], "--restrict: expected at least 1, found 0"),
    (["evaluate-vectors", "{glove}", "--pairs-restrict", "-2"], "--pairs-restrict: expected at least 1, found -2"),
    (["coverage", "{glove}", "{glove}", "-o", "{file}/r.json"], "is a file, not a folder"),
    (["evaluate-vectors", "{glove}", "-o", "{tmp}"], "is a folder; the report file must be a file"),
])
def test_bad_options(glove, tmp_path, args, message, capsys, monkeypatch):
    (tmp_path / "file").write_text("x")
    values = {"glove": glove, "out": tmp_path / "out", "file": tmp_path / "file", "tmp": tmp_path}
    before = snapshot(tmp_path)
    assert_fails([arg.format(**values) for arg in args], message, capsys, monkeypatch)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_outputs_follow_the_umask(glove, tmp_path, mask, capsys, monkeypatch):
    before = os.umask(mask)
    try:
        for output_format, name in (("table", "t"), ("pipeline", "p"), ("word2vec-bin", "v.bin")):
            assert run(["convert-vectors", glove, tmp_path / name, "-F", output_format], capsys, monkeypatch)[0] == 0
        assert run(["coverage", glove, glove, "-o", tmp_path / "c.json"], capsys, monkeypatch)[0] == 0
    finally:
        os.umask(before)
    for path in [tmp_path / "t", tmp_path / "p", *(tmp_path / "t").rglob("*"), *(tmp_path / "p").rglob("*"),
                 tmp_path / "v.bin", tmp_path / "c.json"]:
        expected = 0o777 & ~mask if path.is_dir() else 0o666 & ~mask
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
