"""``train-vectors word2vec|glove``: existing folders, bad options, diverging runs, and what a run leaves behind."""

import json
import os
import stat
from pathlib import Path

import pytest

from cli_support import run, snapshot, assert_fails
from spacy_lm_suite.runs.outputs import MANIFEST_FILE


@pytest.fixture
def text(tmp_path):
    lines = ["The cat sat on the mat. The dog sat on the log.", "A cat and a dog met on the mat."] * 20
    path = tmp_path / "in.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


SMALL = {
    "word2vec": ["--dim", "4", "--epochs", "2", "--min-count", "1", "--workers", "1"],
    "glove": ["--dim", "4", "--epochs", "2", "--min-count", "1", "--threads", "1"],
}


@pytest.mark.parametrize("trainer", ["word2vec", "glove"])
def test_refuses_a_users_folder_even_with_overwrite(trainer, text, tmp_path, capsys, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"my": "settings"}')
    before = snapshot(mine)
    for extra in ([], ["--overwrite"]):
        assert_fails(["train-vectors", trainer, text, mine, *SMALL[trainer], *extra],
                     f"{mine}: the output folder exists and is not empty, and holds no output of spacy-lm-suite",
                     capsys, monkeypatch)
    assert snapshot(mine) == before


@pytest.mark.parametrize("trainer", ["word2vec", "glove"])
def test_overwrite_replaces_only_an_earlier_run(trainer, text, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert run(["train-vectors", trainer, text, out, *SMALL[trainer]], capsys, monkeypatch)[0] == 0
    (out / "notes.txt").write_text("mine")
    assert_fails(["train-vectors", trainer, text, out, *SMALL[trainer]],
                 "exists and is not empty; pass --overwrite", capsys, monkeypatch)
    code, output = run(["train-vectors", trainer, text, out, *SMALL[trainer], "--overwrite", "--epochs", "1"],
                       capsys, monkeypatch)
    assert code == 0, output
    assert (out / "notes.txt").read_text() == "mine"
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1  # the earlier log is gone


def _empty_folders(root):
    return [path for path in Path(root).rglob("*") if path.is_dir() and not any(path.iterdir())]


def test_completed_glove_run_leaves_no_empty_checkpoint_folder(text, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert run(["train-vectors", "glove", text, out, *SMALL["glove"]], capsys, monkeypatch)[0] == 0
    assert not (out / "checkpoint").exists() and not _empty_folders(out)
    state = json.loads((out / "state.json").read_text())
    assert state["complete"] and sorted(state["checkpoint_files"]) == ["config.json"]
    assert not list(out.rglob("*.tmp*"))


def test_completed_word2vec_run_keeps_only_what_extend_needs(text, tmp_path, capsys, monkeypatch):
    """checkpoint/ stays (not empty): --extend trains its model on more text."""
    out = tmp_path / "run"
    assert run(["train-vectors", "word2vec", text, out, *SMALL["word2vec"]], capsys, monkeypatch)[0] == 0
    assert sorted(path.name for path in (out / "checkpoint").iterdir()) == ["loss_sample.npz", "word2vec.model"]
    assert not _empty_folders(out) and not list(out.rglob("*.tmp*"))
    state = json.loads((out / "state.json").read_text())
    assert state["complete"] and sorted(state["checkpoint_files"]) == [
        "checkpoint/loss_sample.npz", "checkpoint/word2vec.model", "config.json",
    ]


def test_resume_refusals(text, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    run(["train-vectors", "glove", text, out, *SMALL["glove"], "--stop-after", "1"], capsys, monkeypatch)
    assert_fails(["train-vectors", "word2vec", text, out, "--resume"],
                 f"{out}: holds a train-vectors glove run, not a train-vectors word2vec run", capsys, monkeypatch)
    elmo = tmp_path / "elmo"
    elmo.mkdir()
    (elmo / "config.json").write_text(json.dumps({"char_dim": 16}))
    (elmo / "state.json").write_text(json.dumps({"step": 3, "training": {}, "optimizer": {}}))
    assert_fails(["train-vectors", "glove", text, elmo, "--resume"],
                 f"{elmo}: holds no train-vectors run, not a train-vectors glove run", capsys, monkeypatch)
    (out / "state.json").write_text("{broken")
    assert_fails(["train-vectors", "glove", text, out, "--resume"],
                 f"{out / 'state.json'}: expected the JSON state", capsys, monkeypatch)


@pytest.mark.parametrize("trainer", ["word2vec", "glove"])
def test_output_paths_that_cannot_be_written(trainer, text, tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("x")
    missing = tmp_path / "missing.txt"  # the output is checked before the input is read
    assert_fails(["train-vectors", trainer, missing, tmp_path / "file" / "run"],
                 f"{tmp_path / 'file'} is a file, not a folder", capsys, monkeypatch)
    assert_fails(["train-vectors", trainer, missing, tmp_path / "file"], "exists and is not a folder",
                 capsys, monkeypatch)
    assert_fails(["train-vectors", trainer, missing, tmp_path / "run", "--lang", "zz"],
                 "--lang: spaCy has no language 'zz'", capsys, monkeypatch)
    assert (tmp_path / "file").read_text() == "x" and not (tmp_path / "run").exists()


BAD_OPTIONS = {
    "word2vec": [
        (["--limit", "-1"], "--limit: expected 0 or more, found -1"),
        (["--epochs", "0"], "--epochs (Word2Vec setting epochs): expected at least 1, found 0"),
        (["--epochs", "-2"], "expected at least 1, found -2"),
        (["--alpha", "nan"], "--alpha: expected a finite number, found nan"),
        (["--alpha", "inf"], "--alpha: expected a finite number, found inf"),
        (["--alpha", "-0.1"], "--alpha: expected a number above 0"),
        (["--min-alpha", "nan"], "--min-alpha: expected a finite number"),
        (["--sample", "-1"], "--sample: expected 0 or more"),
        (["--workers", "0"], "--workers (Word2Vec setting workers): expected at least 1, found 0"),
        (["--stop-after", "0"], "--stop-after: expected at least 1, found 0"),
    ],
    "glove": [
        (["--limit", "-5"], "--limit: expected 0 or more, found -5"),
        (["--epochs", "0"], "--epochs (GloVe setting epochs): expected at least 1, found 0"),
        (["--alpha", "nan"], "--alpha (GloVe setting alpha): expected a finite number, found nan"),
        (["--eta", "inf"], "--eta (GloVe setting eta): expected a finite number, found inf"),
        (["--eta", "nan"], "--eta (GloVe setting eta): expected a finite number, found nan"),
        (["--x-max", "0"], "--x-max (GloVe setting x_max): expected a number above 0"),
        (["--threads", "0"], "--threads (GloVe setting threads): expected at least 1, found 0"),
        (["--threads", "-1"], "expected at least 1, found -1"),
        (["--stop-after", "-1"], "--stop-after: expected at least 1, found -1"),
    ],
}


@pytest.mark.parametrize("trainer,args,message", [(t, a, m) for t, cases in BAD_OPTIONS.items() for a, m in cases])
def test_bad_options(trainer, args, message, text, tmp_path, capsys, monkeypatch):
    assert_fails(["train-vectors", trainer, text, tmp_path / "run", *args], message, capsys, monkeypatch)
    assert not (tmp_path / "run").exists()


def test_diverging_glove_fails_instead_of_reporting_success(text, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert run(["train-vectors", "glove", text, out, *SMALL["glove"], "--epochs", "3", "--stop-after", "1"],
               capsys, monkeypatch)[0] == 0
    before = snapshot(out)
    monkeypatch.setattr("spacy_lm_suite.vectors.glove.train._train_span", lambda *args: float("nan"))
    assert_fails(["train-vectors", "glove", text, out, "--resume"],
                 "training diverged: the loss is nan in epoch 2; stopped without saving it", capsys, monkeypatch)
    assert snapshot(out) == before  # the checkpoint of epoch 1 is intact
    code, _ = run(["train-vectors", "glove", text, tmp_path / "new", *SMALL["glove"], "--eta", "1e30"],
                  capsys, monkeypatch)
    assert code == 1 and not (tmp_path / "new").exists()


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_run_folder_follows_the_umask(mask, text, tmp_path, capsys, monkeypatch):
    before = os.umask(mask)
    try:
        assert run(["train-vectors", "glove", text, tmp_path / "run", *SMALL["glove"], "--keep-checkpoint"],
                   capsys, monkeypatch)[0] == 0
    finally:
        os.umask(before)
    paths = [tmp_path / "run", *(tmp_path / "run").rglob("*")]
    assert any(p.name == "weights.safetensors" for p in paths) and any(p.name == MANIFEST_FILE for p in paths)
    for path in paths:
        expected = 0o777 & ~mask if path.is_dir() else 0o666 & ~mask
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
