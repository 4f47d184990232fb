import json
import subprocess
import sys

import numpy as np
import pytest
import spacy

from cli_support import run_output as run
from spacy_lm_suite.vectors.formats import read_vectors, write_word2vec
from spacy_lm_suite.vectors.loading import load_vectors
from spacy_lm_suite.vectors.table import LMVectors

WORDS = ["the", "paris", "london", "man", "woman", "king", "queen", "2000"]


def data():
    return np.random.default_rng(0).standard_normal((len(WORDS), 4)).astype(np.float32)


@pytest.fixture
def glove(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text("".join(f"{w} {' '.join(map(repr, row.tolist()))}\n" for w, row in zip(WORDS, data())))
    return path




@pytest.mark.parametrize("command", ["convert-vectors", "coverage", "evaluate-vectors"])
def test_help(command, capsys, monkeypatch):
    code, out = run([command, "--help"], capsys, monkeypatch)
    assert code == 0 and "Usage" in out


def test_convert_to_table(glove, tmp_path, capsys, monkeypatch):
    code, out = run(["convert-vectors", glove, tmp_path / "t", "--truncate", "5", "--fallback", "exact,lower"], capsys, monkeypatch)
    assert code == 0, out
    table = LMVectors().from_disk(tmp_path / "t")
    assert table.words == WORDS[:5] and table.fallback == ("exact", "lower")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folders left


def test_convert_to_pipeline(glove, tmp_path, capsys, monkeypatch):
    code, out = run(["convert-vectors", glove, tmp_path / "p", "-F", "pipeline", "--name", "tiny"], capsys, monkeypatch)
    assert code == 0, out
    nlp = spacy.load(tmp_path / "p")
    assert nlp.vocab.vectors.name == "tiny"
    np.testing.assert_allclose(nlp("Paris")[0].vector, data()[1])


@pytest.mark.parametrize("output_format", ["word2vec-text", "word2vec-bin"])
def test_convert_to_word2vec(glove, tmp_path, capsys, monkeypatch, output_format):
    out_path = tmp_path / "v.w2v"
    code, out = run(["convert-vectors", glove, out_path, "-F", output_format, "--normalize"], capsys, monkeypatch)
    assert code == 0, out
    words, matrix = read_vectors(out_path)
    assert words == WORDS
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1, rtol=1e-5)


BAD_INPUTS = {
    "empty": b"",
    "garbage": bytes(range(256)) * 4,
    "wrong_dim": b"a 1 2 3\nb 1 2\n",
    "truncated_bin": None,  # made in the test
}


@pytest.mark.parametrize("case", [*BAD_INPUTS, "missing", "unknown_format"])
def test_bad_input_exits_1_without_output(case, tmp_path, capsys, monkeypatch, glove):
    source = tmp_path / f"{case}.vec"
    args = []
    if case == "truncated_bin":
        write_word2vec(tmp_path / "ok.bin", WORDS, data(), binary=True)
        source.write_bytes((tmp_path / "ok.bin").read_bytes()[:-10])
    elif case == "unknown_format":
        source, args = glove, ["--format", "hdf5"]
    elif case != "missing":
        source.write_bytes(BAD_INPUTS[case])
    before = set(tmp_path.iterdir())
    for output_format in ["table", "pipeline", "word2vec-bin"]:
        out_path = tmp_path / f"out-{output_format}"
        code, out = run(["convert-vectors", source, out_path, "-F", output_format, *args], capsys, monkeypatch)
        assert code == 1
        assert out.count("\u2718") == 1 and "Traceback" not in out, out  # one ✘ message (wasabi may wrap it)
        assert set(tmp_path.iterdir()) == before  # nothing written, not even temporary files


def test_bad_input_message_names_file_and_line(tmp_path, capsys, monkeypatch):
    source = tmp_path / "v.txt"
    source.write_text("a 1 2 3\nb 1 2\n")
    code, out = run(["convert-vectors", source, tmp_path / "out"], capsys, monkeypatch)
    assert code == 1 and f"{source}:2: expected a word and 3 numbers" in " ".join(out.split())


def test_bad_option_values(glove, tmp_path, capsys, monkeypatch):
    for args in (["--fallback", "exact,upper"], ["-F", "hdf5"], ["--errors", "ignore"], ["--truncate", "-3"]):
        code, out = run(["convert-vectors", glove, tmp_path / "out", *args], capsys, monkeypatch)
        assert code == 1 and out.count("\u2718") == 1 and "Traceback" not in out, out
    assert not (tmp_path / "out").exists()


def test_coverage(glove, tmp_path, capsys, monkeypatch):
    (tmp_path / "text.txt").write_text("Paris and London\nTHE 1999 king\n")
    code, out = run(["coverage", glove, tmp_path / "text.txt", "-o", tmp_path / "cov.json"], capsys, monkeypatch)
    assert code == 0, out
    result = json.loads((tmp_path / "cov.json").read_text())
    steps = result["tokens"]["steps"]
    assert [steps[s]["count"] for s in ("exact", "lower", "shape", "miss")] == [1, 3, 1, 1]
    assert result["tokens"]["found_pct"] == pytest.approx(500 / 6)
    assert "lower" in out and "and (1)" in out


def test_coverage_conll(glove, tmp_path, capsys, monkeypatch):
    (tmp_path / "d.conll").write_text("-DOCSTART- -X- -X- O\n\nParis NNP B-NP B-LOC\nrocks VBZ B-VP O\n")
    code, out = run(["coverage", glove, tmp_path / "d.conll", "-d", "conll2003", "-o", tmp_path / "c.json"], capsys, monkeypatch)
    assert code == 0, out
    assert json.loads((tmp_path / "c.json").read_text())["tokens"]["total"] == 2


def test_evaluate_vectors(glove, tmp_path, capsys, monkeypatch):
    (tmp_path / "q.txt").write_text(": royals\nman woman king queen\nman woman king unicorn\n")
    (tmp_path / "pairs.tsv").write_text("man\twoman\t8\nking\tqueen\t7\nparis\tthe\t1\nman\tunicorn\t2\n")
    args = ["evaluate-vectors", glove, "--analogies", tmp_path / "q.txt", "--wordsim", tmp_path / "pairs.tsv",
            "--simlex", tmp_path / "pairs.tsv", "-o", tmp_path / "eval.json"]
    code, out = run(args, capsys, monkeypatch)
    assert code == 0, out
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["analogy"]["questions"] == 2 and result["analogy"]["oov"] == 1
    assert result["wordsim353"]["oov"] == 1 and -1 <= result["wordsim353"]["spearman"] <= 1
    assert "3cosmul" in out and "WordSim-353" in out


def test_evaluate_vectors_bad_benchmark_file(glove, tmp_path, capsys, monkeypatch):
    (tmp_path / "q.txt").write_text("no section header here\n")
    code, out = run(["evaluate-vectors", glove, "--analogies", tmp_path / "q.txt", "-o", tmp_path / "e.json"], capsys, monkeypatch)
    assert code == 1 and "q.txt:1:" in " ".join(out.split())
    assert not (tmp_path / "e.json").exists()


def test_real_process_exit_code(tmp_path):
    """The installed entry (`python -m spacy_lm_suite`) exits 1 with one line on bad input."""
    (tmp_path / "empty.txt").write_bytes(b"")
    result = subprocess.run(
        [sys.executable, "-m", "spacy_lm_suite", "convert-vectors", str(tmp_path / "empty.txt"), str(tmp_path / "out")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "empty file" in " ".join((result.stdout + result.stderr).split()) and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_convert_then_load_roundtrip(glove, tmp_path, capsys, monkeypatch):
    run(["convert-vectors", glove, tmp_path / "t"], capsys, monkeypatch)
    code, _ = run(["convert-vectors", tmp_path / "t", tmp_path / "t2", "--prune", "4"], capsys, monkeypatch)
    assert code == 0
    table = load_vectors(tmp_path / "t2")
    assert table.shape == (4, 4) and len(table.aliases) == 4
