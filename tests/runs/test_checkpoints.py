"""Atomic multi-file checkpoints: state last, roll forward or back, never mixed."""

import json
import os
import signal
import subprocess
import sys

import pytest

from spacy_lm_suite.errors import InputFormatError, UserError
from spacy_lm_suite.runs import checkpoints
from spacy_lm_suite.runs.checkpoints import FAULT_ENV, FILES_KEY, Checkpoint


class Killed(Exception):
    """Stands for SIGKILL: raised by the fault hook, it leaves the files as a kill would."""


@pytest.fixture
def fault(monkeypatch):
    """``fault("written:b")`` makes the next save stop right after that point."""

    def arm(point):
        def hook(reached):
            if reached == point:
                raise Killed(point)

        monkeypatch.setattr(checkpoints, "fault_hook", hook)

    return arm


def text_writer(text):
    return lambda path: path.write_text(text)


def save_step(checkpoint, step, names=("a", "sub/b")):
    checkpoint.save({"step": step}, write={name: text_writer(f"{name}@{step}") for name in names})


def contents(folder, names=("a", "sub/b")):
    return {name: (folder / name).read_text() for name in names}


def test_save_names_its_files_and_load_verifies_them(tmp_path):
    checkpoint = Checkpoint(tmp_path, files=["a", "sub/b"])
    assert not checkpoint.exists()
    save_step(checkpoint, 1)
    state = json.loads((tmp_path / "state.json").read_text())
    assert sorted(state[FILES_KEY]) == ["a", "sub/b"] and state[FILES_KEY]["a"]["size"] == len("a@1")
    assert checkpoint.load_state() == {"step": 1}
    assert sorted(p.name for p in tmp_path.rglob("*.tmp")) == []


def test_unchanged_files_are_carried_over_and_removed_files_dropped(tmp_path):
    checkpoint = Checkpoint(tmp_path, files=["a", "sub/b"])
    save_step(checkpoint, 1)
    checkpoint.save({"step": 2}, write={"a": text_writer("a@2")})
    state = json.loads((tmp_path / "state.json").read_text())
    assert sorted(state[FILES_KEY]) == ["a", "sub/b"]
    assert checkpoint.load_state() == {"step": 2} and contents(tmp_path) == {"a": "a@2", "sub/b": "sub/b@1"}
    checkpoint.save({"step": 3}, remove=["sub/b"])
    assert sorted(json.loads((tmp_path / "state.json").read_text())[FILES_KEY]) == ["a"]
    assert not (tmp_path / "sub" / "b").exists() and checkpoint.load_state() == {"step": 3}


@pytest.mark.parametrize("point", ["written:a", "written:sub/b"])
def test_killed_before_the_state_is_complete_rolls_back(tmp_path, fault, point):
    checkpoint = Checkpoint(tmp_path, files=["a", "sub/b"])
    save_step(checkpoint, 1)
    fault(point)
    with pytest.raises(Killed):
        save_step(checkpoint, 2)
    assert list(tmp_path.rglob("*.tmp"))  # the kill left temporary files
    assert checkpoint.load_state() == {"step": 1}
    assert contents(tmp_path) == {"a": "a@1", "sub/b": "sub/b@1"}
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("point", ["written:state.json", "renamed:a", "renamed:sub/b"])
def test_killed_after_the_state_is_complete_rolls_forward(tmp_path, fault, point):
    checkpoint = Checkpoint(tmp_path, files=["a", "sub/b"])
    save_step(checkpoint, 1)
    fault(point)
    with pytest.raises(Killed):
        save_step(checkpoint, 2)
    assert checkpoint.load_state() == {"step": 2}
    assert contents(tmp_path) == {"a": "a@2", "sub/b": "sub/b@2"}
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_truncated_state_tmp_is_discarded(tmp_path):
    checkpoint = Checkpoint(tmp_path, files=["a"])
    save_step(checkpoint, 1, names=["a"])
    (tmp_path / "a.tmp").write_text("partial")
    (tmp_path / "state.json.tmp").write_text('{"step": 2, "trunc')
    assert checkpoint.load_state() == {"step": 1} and (tmp_path / "a").read_text() == "a@1"


def test_mixed_files_are_detected_not_loaded(tmp_path):
    """A file from another step (as the old in-place writes could leave) is an error."""
    checkpoint = Checkpoint(tmp_path, files=["a", "sub/b"])
    save_step(checkpoint, 1)
    (tmp_path / "a").write_text("a@2")  # same size, other bytes
    with pytest.raises(UserError, match=r"a: does not match .*state.json \(written at another step"):
        checkpoint.load_state()
    (tmp_path / "a").unlink()
    with pytest.raises(UserError, match="missing, but"):
        checkpoint.load_state()


def test_bad_states(tmp_path):
    checkpoint = Checkpoint(tmp_path, files=["a"])
    with pytest.raises(UserError, match="no checkpoint to continue"):
        checkpoint.load_state()
    (tmp_path / "state.json").write_text("[1, 2]")
    with pytest.raises(InputFormatError, match="an object"):
        checkpoint.load_state()
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(InputFormatError, match="expected the JSON state"):
        checkpoint.load_state()
    (tmp_path / "state.json").write_text(json.dumps({"step": 1, FILES_KEY: ["a"]}))
    with pytest.raises(InputFormatError, match="to map file names"):
        checkpoint.load_state()
    with pytest.raises(ValueError, match="not files of this checkpoint: z"):
        checkpoint.save({"step": 1}, write={"z": text_writer("z")})


def test_environment_variable_kills_the_process_between_two_writes(tmp_path):
    script = (
        "import sys\n"
        "from spacy_lm_suite.runs.checkpoints import Checkpoint\n"
        "c = Checkpoint(sys.argv[1], files=['a', 'b'])\n"
        "for step in (1, 2, 3):\n"
        "    c.save({'step': step}, write={n: (lambda p, n=n: p.write_text(f'{n}@{step}')) for n in 'ab'})\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env={**os.environ, FAULT_ENV: "written:b#2"})
    assert result.returncode == -signal.SIGKILL
    assert (tmp_path / "a.tmp").read_text() == "a@2" and (tmp_path / "b.tmp").read_text() == "b@2"
    assert Checkpoint(tmp_path, files=["a", "b"]).load_state() == {"step": 1}
    assert contents(tmp_path, ["a", "b"]) == {"a": "a@1", "b": "b@1"}
