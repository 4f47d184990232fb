"""``pretrain-elmo`` and ``export-elmo``: existing folders, manifests, bad options, diverging runs."""

import json
import os
import stat
import sys

import pytest
import torch

from spacy_lm_suite.cli import main
from cli_support import run, snapshot, assert_fails
from spacy_lm_suite.runs.outputs import MANIFEST_FILE

TEXTS = ["the cat sees the dog .", "a dog likes music .", "the old man paints a red house ."] * 20
TINY = ["--preset", "tiny", "--vocab-size", "20", "--batch-size", "4", "--seq-len", "10", "--tokenizer", "whitespace",
        "--checkpoint-every", "2", "--log-every", "1", "--threads", "1"]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 4-step tiny run (shared: pretraining is the slow part)."""
    root = tmp_path_factory.mktemp("elmo")
    (root / "corpus.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(sys, "argv", ["spacy-lm-suite", "pretrain-elmo", str(root / "corpus.txt"), str(root / "run"),
                                      *TINY, "--steps", "4"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    monkeypatch.undo()
    assert exit_info.value.code == 0
    return root / "run"


@pytest.mark.parametrize("resume", [[], ["--resume"]])
def test_pretrain_refuses_a_users_folder(corpus, tmp_path, resume, capsys, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"my": "model config"}')
    before = snapshot(mine)
    assert_fails(["pretrain-elmo", corpus, mine, *TINY, "--steps", "2", *resume],
                 f"{mine}: the output folder exists and is not empty, and holds no output of spacy-lm-suite",
                 capsys, monkeypatch)
    assert snapshot(mine) == before


def test_pretrain_into_a_folder_with_a_checkpoint(corpus, finished, tmp_path, capsys, monkeypatch):
    before = snapshot(finished)
    assert_fails(["pretrain-elmo", corpus, finished, *TINY, "--steps", "4"],
                 "holds a pretraining checkpoint (state.json); pass resume=True (--resume)", capsys, monkeypatch)
    assert snapshot(finished) == before
    assert json.loads((finished / MANIFEST_FILE).read_text())["command"] == "pretrain-elmo"


def test_resume_on_another_kind_of_run(corpus, tmp_path, capsys, monkeypatch):
    vectors_run = tmp_path / "glove"
    code, out = run(["train-vectors", "glove", corpus, vectors_run, "--dim", "4", "--epochs", "2", "--min-count", "1",
                     "--threads", "1", "--stop-after", "1"], capsys, monkeypatch)
    assert code == 0, out
    before = snapshot(vectors_run)
    assert_fails(["pretrain-elmo", corpus, vectors_run, *TINY, "--steps", "2", "--resume"],
                 f"{vectors_run}: holds a train-vectors run, not a pretrain-elmo run", capsys, monkeypatch)
    assert_fails(["pretrain-elmo", corpus, vectors_run, *TINY, "--steps", "2"],
                 "holds the output of train-vectors, not of pretrain-elmo", capsys, monkeypatch)
    assert snapshot(vectors_run) == before


def test_output_paths_that_cannot_be_written(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("x")
    missing = tmp_path / "missing.txt"  # checked before the input is read
    assert_fails(["pretrain-elmo", missing, tmp_path / "file" / "run", *TINY], "file is a file, not a folder",
                 capsys, monkeypatch)
    assert_fails(["pretrain-elmo", missing, tmp_path / "file", *TINY], "exists and is not a folder", capsys, monkeypatch)
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.parametrize("args,message", [
    (["--limit", "-1"], "--limit: expected 0 or more, found -1"),
    (["--dev-fraction", "1.5"], "--dev-fraction: expected a fraction in [0, 1), found 1.5"),
    (["--dev-fraction", "-0.1"], "--dev-fraction: expected a fraction in [0, 1), found -0.1"),
    (["--dev-fraction", "1"], "--dev-fraction: expected a fraction in [0, 1), found 1.0"),
    (["--dev-fraction", "nan"], "--dev-fraction: expected a finite number, found nan"),
    (["--clip", "-1"], "--clip: expected a number above 0, found -1.0"),
    (["--steps", "0"], "--steps: expected a number above 0, found 0"),
    (["--steps", "-3"], "--steps: expected a number above 0, found -3"),
    (["--epochs", "0"], "--epochs: expected a number above 0, found 0.0"),
    (["--epochs", "-1"], "--epochs: expected a number above 0, found -1.0"),
    (["--epochs", "nan"], "--epochs: expected a finite number, found nan"),
    (["--lr", "nan"], "--lr: expected a finite number, found nan"),
    (["--lr", "inf"], "--lr: expected a finite number, found inf"),
    (["--lr", "-0.01"], "--lr: expected a number above 0"),
    (["--threads", "0"], "--threads: expected a number above 0, found 0"),
    (["--warmup-steps", "-1"], "--warmup-steps: expected 0 or more, found -1"),
    (["--vocab-size", "3"], "--vocab-size: expected at least 4"),
    (["--max-minutes", "0"], "--max-minutes: expected a number above 0"),
])
def test_bad_options(args, message, corpus, tmp_path, capsys, monkeypatch):
    assert_fails(["pretrain-elmo", corpus, tmp_path / "run", *TINY, *args], message, capsys, monkeypatch)
    assert not (tmp_path / "run").exists()


def test_diverging_run_fails_instead_of_reporting_success(corpus, tmp_path, capsys, monkeypatch):
    assert_fails(["pretrain-elmo", corpus, tmp_path / "run", *TINY, "--steps", "4", "--lr", "1e30"],
                 "training diverged: the loss is", capsys, monkeypatch)
    assert not (tmp_path / "run" / "state.json").exists()


def test_export_overwrite_never_deletes_outside_the_target(finished, tmp_path, capsys, monkeypatch):
    out = tmp_path / "export"
    assert run(["export-elmo", finished, out], capsys, monkeypatch)[0] == 0
    (tmp_path / "x").write_text("precious")
    (out / "notes.txt").write_text("mine")
    # whatever pretraining.json says, it is not what --overwrite deletes
    provenance = json.loads((out / "pretraining.json").read_text())
    (out / "pretraining.json").write_text(json.dumps({**provenance, "files": ["../x", "notes.txt"]}))
    code, text = run(["export-elmo", finished, out, "--overwrite"], capsys, monkeypatch)
    assert code == 0, text
    assert (tmp_path / "x").read_text() == "precious" and (out / "notes.txt").read_text() == "mine"
    # a manifest that lists paths outside the target, or is not a list, is an error, and nothing is deleted
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    for files in (["../x"], "../x", ["config.json", "/etc/hostname"]):
        (out / MANIFEST_FILE).write_text(json.dumps({**manifest, "files": files}))
        before = snapshot(tmp_path)
        assert_fails(["export-elmo", finished, out, "--overwrite"], f"{out / MANIFEST_FILE}", capsys, monkeypatch)
        assert snapshot(tmp_path) == before
    assert (tmp_path / "x").read_text() == "precious"


def test_export_refuses_a_users_folder_and_other_outputs(finished, tmp_path, capsys, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "weights.safetensors").write_bytes(b"my weights")
    for extra in ([], ["--overwrite"]):
        assert_fails(["export-elmo", finished, mine, *extra], "holds no output of spacy-lm-suite", capsys, monkeypatch)
    assert (mine / "weights.safetensors").read_bytes() == b"my weights"
    # a pretraining run is ours, but not an export: --overwrite must not replace it
    assert_fails(["export-elmo", finished, finished, "--overwrite"],
                 "holds the output of pretrain-elmo, not of export-elmo", capsys, monkeypatch)
    assert (finished / "state.json").is_file()
    (tmp_path / "state.json").write_text("{broken")
    assert_fails(["export-elmo", tmp_path, tmp_path / "e"], "expected the JSON state of a pretrain-elmo run",
                 capsys, monkeypatch)


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_exports_follow_the_umask(finished, tmp_path, mask, capsys, monkeypatch):
    before = os.umask(mask)
    try:
        assert run(["export-elmo", finished, tmp_path / "e"], capsys, monkeypatch)[0] == 0
    finally:
        os.umask(before)
    for path in [tmp_path / "e", *(tmp_path / "e").iterdir()]:
        expected = 0o777 & ~mask if path.is_dir() else 0o666 & ~mask
        assert stat.S_IMODE(path.stat().st_mode) == expected, path


def test_pretraining_folder_follows_the_umask(finished):
    """The module's run was made under the default umask of the tests (0o022 here)."""
    mask = os.umask(0o022)
    os.umask(mask)
    for path in [finished, *finished.iterdir()]:
        expected = 0o777 & ~mask if path.is_dir() else 0o666 & ~mask
        assert stat.S_IMODE(path.stat().st_mode) == expected, path


def test_finished_run_leaves_no_checkpoint_folder(finished):
    """ELMo's checkpoint is the run folder's own files (they are the model): no checkpoint/, no empty folder."""
    assert not (finished / "checkpoint").exists()
    assert not [path for path in finished.rglob("*") if path.is_dir() and not any(path.iterdir())]
