"""``train-vectors word2vec|glove``: help, a full small run, resume, bad input."""

import json

import pytest

from cli_support import run_output as run




@pytest.fixture
def text(tmp_path):
    lines = [
        "The cat sat on the mat. The dog sat on the log.",
        "A cat and a dog met on the mat.",
        "The dog ran; the cat sat.",
    ] * 20
    path = tmp_path / "in.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [["train-vectors"], ["train-vectors", "word2vec"], ["train-vectors", "glove"]])
def test_help(command, capsys, monkeypatch):
    code, out = run([*command, "--help"], capsys, monkeypatch)
    assert code == 0 and "Usage" in out


def test_glove_run_and_resume(text, tmp_path, capsys, monkeypatch):
    out = tmp_path / "glove"
    args = ["train-vectors", "glove", text, out, "--dim", "8", "--epochs", "3", "--min-count", "2", "--threads", "1"]
    code, output = run([*args, "--stop-after", "1"], capsys, monkeypatch)
    assert code == 0, output
    assert "non-zeros" in output and "--resume" in output
    code, output = run([*args, "--resume"], capsys, monkeypatch)
    assert code == 0, output
    assert json.loads((out / "state.json").read_text())["complete"]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3
    assert (out / "pipeline" / "config.cfg").exists() and (out / "vectors.bin").exists()


def test_word2vec_run(text, tmp_path, capsys, monkeypatch):
    out = tmp_path / "w2v"
    code, output = run(["train-vectors", "word2vec", text, out, "--dim", "8", "--epochs", "2", "--min-count", "2",
                        "--workers", "1", "-a", "skipgram", "--fallback", "exact,lower"], capsys, monkeypatch)
    assert code == 0, output
    words = (out / "vectors.txt").read_text(encoding="utf-8").split("\n")[1:]
    assert "cat" in {line.split(" ")[0] for line in words} and "The" not in output.split()


@pytest.mark.parametrize("trainer", ["word2vec", "glove"])
def test_bad_input_exits_1_without_output(trainer, text, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    for args in ([empty, out], [tmp_path / "missing.txt", out], [text, out, "--min-count", "1000"]):
        code, output = run(["train-vectors", trainer, *args], capsys, monkeypatch)
        assert code == 1, output
        assert "Traceback" not in output and "✘" in output
        assert not out.exists()
