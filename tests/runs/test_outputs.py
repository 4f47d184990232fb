"""The shared output writer: refuse what is not ours, replace only what we wrote, atomic, umask."""

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from spacy_lm_suite.errors import InputFormatError, UserError
from spacy_lm_suite.runs import outputs
from spacy_lm_suite.runs.outputs import (
    MANIFEST_FILE,
    atomic_output_dir,
    atomic_write_file,
    check_output_dir,
    check_output_file,
    claim_output_dir,
    fix_permissions,
    read_manifest,
    save_safetensors_atomic,
    write_json_atomic,
)


def snapshot(root):
    """Every path under ``root`` with its bytes (None for folders, the link for symlinks)."""
    root = Path(root)
    found = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[key] = ("link", os.readlink(path))
        elif path.is_dir():
            found[key] = None
        else:
            found[key] = path.read_bytes()
    return found


def write_output(path, files, *, overwrite=False, command="test"):
    with atomic_output_dir(path, command=command, overwrite=overwrite) as tmp:
        for name, text in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(text)


@pytest.fixture
def umask():
    """Set a umask for one test and restore the previous one."""
    before = os.umask(0o022)
    os.umask(before)

    def set_mask(mask):
        os.umask(mask)

    yield set_mask
    os.umask(before)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


# -- checks ----------------------------------------------------------------------


def test_check_refuses_files_and_paths_under_files(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="exists and is not a folder"):
        check_output_dir(tmp_path / "file")
    with pytest.raises(UserError, match=r"file is a file, not a folder"):
        check_output_dir(tmp_path / "file" / "sub" / "out")
    with pytest.raises(UserError, match="is a folder; the output file must be a file"):
        check_output_file(tmp_path)
    with pytest.raises(UserError, match="is a file, not a folder"):
        check_output_file(tmp_path / "file" / "v.txt")
    with pytest.raises(UserError, match="exists; pass --overwrite"):
        check_output_file(tmp_path / "file")
    check_output_file(tmp_path / "file", overwrite=True)
    assert (tmp_path / "file").read_text() == "x"


def test_check_refuses_unwritable_folders(tmp_path, monkeypatch):
    """(The tests may run as root, for whom every folder is writable: fake the answer.)"""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(outputs.os, "access", lambda p, m: False if Path(p) == locked else real_access(p, m))
    with pytest.raises(UserError, match=f"{locked}: cannot write in the output folder"):
        check_output_dir(locked)
    with pytest.raises(UserError, match=f"cannot write in {locked} \\(permission denied\\)"):
        check_output_dir(locked / "new" / "out")
    with pytest.raises(UserError, match="permission denied"):
        check_output_file(locked / "v.txt")


def test_check_non_empty_folders(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(UserError, match=r"holds no output of spacy-lm-suite .*--overwrite replaces only"):
            check_output_dir(user, overwrite=overwrite, command="test")
    assert (user / "notes.txt").read_text() == "mine"
    write_output(tmp_path / "ours", {"a.txt": "1"})
    with pytest.raises(UserError, match="pass --overwrite to replace the earlier output of test"):
        check_output_dir(tmp_path / "ours", command="test")
    with pytest.raises(UserError, match="holds the output of test, not of other"):
        check_output_dir(tmp_path / "ours", overwrite=True, command="other")
    assert check_output_dir(tmp_path / "ours", overwrite=True, command="test").files == ["a.txt"]
    assert check_output_dir(tmp_path / "new") is None
    (tmp_path / "empty").mkdir()
    assert check_output_dir(tmp_path / "empty") is None


# -- writing a folder --------------------------------------------------------------------


def test_new_folder_is_written_atomically_with_a_manifest(tmp_path):
    write_output(tmp_path / "a" / "out", {"x.txt": "1", "sub/y.txt": "2"})
    assert snapshot(tmp_path / "a") == {
        "out": None, f"out/{MANIFEST_FILE}": (tmp_path / "a" / "out" / MANIFEST_FILE).read_bytes(),
        "out/sub": None, "out/sub/y.txt": b"2", "out/x.txt": b"1",
    }
    manifest = json.loads((tmp_path / "a" / "out" / MANIFEST_FILE).read_text())
    assert manifest["command"] == "test" and manifest["files"] == ["sub/y.txt", "x.txt"]


def test_error_changes_nothing_and_leaves_no_temporary_folder(tmp_path):
    write_output(tmp_path / "out", {"x.txt": "old"})
    (tmp_path / "out" / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    for path in (tmp_path / "out", tmp_path / "new"):
        with pytest.raises(RuntimeError):
            with atomic_output_dir(path, command="test", overwrite=True) as tmp:
                (tmp / "x.txt").write_text("half")
                raise RuntimeError("boom")
    assert snapshot(tmp_path) == before


def test_overwrite_replaces_only_the_earlier_outputs_files(tmp_path):
    out = tmp_path / "out"
    write_output(out, {"old.txt": "1", "keep.txt": "2", "sub/old.txt": "3"})
    (out / "notes.txt").write_text("mine")
    (out / "sub" / "mine.txt").write_text("mine too")
    write_output(out, {"keep.txt": "new", "fresh/f.txt": "4"}, overwrite=True)
    files = snapshot(out)
    assert files["notes.txt"] == b"mine" and files["sub/mine.txt"] == b"mine too"  # bystanders survive
    assert files["keep.txt"] == b"new" and files["fresh/f.txt"] == b"4"
    assert "old.txt" not in files and "sub/old.txt" not in files
    assert read_manifest(out).files == ["fresh/f.txt", "keep.txt"]
    assert not [name for name in os.listdir(out) if name.startswith(".spacy-lm-suite-tmp")]


def test_a_new_file_never_replaces_a_users_file(tmp_path):
    out = tmp_path / "out"
    write_output(out, {"a.txt": "1"})
    (out / "b.txt").write_text("mine")
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match="would replace b.txt, which the earlier output did not write"):
        write_output(out, {"a.txt": "2", "b.txt": "ours"}, overwrite=True)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("files", [["../victim.txt"], "victim.txt", [1], ["/abs"], ["a/../../victim.txt"], ["./x"]])
def test_manifest_never_deletes_outside_the_target(tmp_path, files):
    out = tmp_path / "out"
    write_output(out, {"a.txt": "1"})
    (tmp_path / "victim.txt").write_text("precious")
    if files == ["/abs"]:
        files = [str(tmp_path / "victim.txt")]
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    (out / MANIFEST_FILE).write_text(json.dumps({**manifest, "files": files}))
    before = snapshot(tmp_path)
    with pytest.raises(InputFormatError, match=MANIFEST_FILE):
        write_output(out, {"a.txt": "2"}, overwrite=True)
    assert snapshot(tmp_path) == before
    assert (tmp_path / "victim.txt").read_text() == "precious"


def test_manifest_through_a_symlink_out_of_the_target(tmp_path):
    out = tmp_path / "out"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.txt").write_text("precious")
    (outside / "g.txt").write_text("precious too")
    write_output(out, {"a.txt": "1"})
    (out / "link").symlink_to(outside)
    (out / "file-link").symlink_to(outside / "g.txt")
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    (out / MANIFEST_FILE).write_text(json.dumps({**manifest, "files": ["a.txt", "link/f.txt"]}))
    with pytest.raises(InputFormatError, match="outside the folder"):
        write_output(out, {"a.txt": "2"}, overwrite=True)
    assert (outside / "f.txt").read_text() == "precious"
    # a listed symlink is removed itself, never what it points to
    (out / MANIFEST_FILE).write_text(json.dumps({**manifest, "files": ["a.txt", "file-link", "link"]}))
    write_output(out, {"a.txt": "2"}, overwrite=True)
    assert not os.path.lexists(out / "file-link") and not os.path.lexists(out / "link")
    assert snapshot(outside) == {"f.txt": b"precious", "g.txt": b"precious too"}


def test_dot_as_output_leaves_no_temporary_folders(tmp_path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    write_output(".", {"x.txt": "1"})
    write_output(".", {"x.txt": "2"}, overwrite=True)
    assert sorted(os.listdir(here)) == [MANIFEST_FILE, "x.txt"] and (here / "x.txt").read_text() == "2"
    assert sorted(os.listdir(tmp_path)) == ["here"]
    assert Path.cwd() == here  # the folder we stand in was not replaced


def test_stale_temporary_folder_of_a_killed_writer(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".spacy-lm-suite-tmp-abc").mkdir()
    (out / ".spacy-lm-suite-tmp-abc" / "half").write_text("x")
    write_output(out, {"x.txt": "1"})  # an empty folder but for our leftovers
    assert sorted(os.listdir(out)) == [MANIFEST_FILE, "x.txt"]


def test_claim_output_dir_for_runs_written_step_by_step(tmp_path):
    out = tmp_path / "run"
    assert claim_output_dir(out, command="train", files=["state.json", "checkpoint"])
    (out / "state.json").write_text("{}")
    (out / "checkpoint").mkdir()
    (out / "checkpoint" / "w").write_text("w")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="--overwrite"):
        claim_output_dir(out, command="train", files=["state.json"])
    assert not claim_output_dir(out, command="train", files=["state.json", "checkpoint"], overwrite=True)
    assert sorted(os.listdir(out)) == [MANIFEST_FILE, "notes.txt"]


# -- files and permissions ----------------------------------------------------------------


def test_atomic_write_file_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "v.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write_file(target) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".txt"
            tmp.write_text("half")
            raise RuntimeError
    assert target.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["v.txt"]
    write_json_atomic(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_everything_we_create_follows_the_umask(tmp_path, umask, mask):
    umask(mask)
    write_output(tmp_path / "dir", {"a.txt": "1", "sub/b.txt": "2"})
    write_json_atomic(tmp_path / "j.json", {})
    save_safetensors_atomic(tmp_path / "w.safetensors", {"x": np.zeros(3, dtype=np.float32)})
    import torch

    save_safetensors_atomic(tmp_path / "t.safetensors", {"x": torch.zeros(2)})
    claim_output_dir(tmp_path / "run", command="train", files=["state.json"])
    for path in (tmp_path / "dir", tmp_path / "dir" / "sub", tmp_path / "run"):
        assert mode(path) == 0o777 & ~mask, path
    for path in (tmp_path / "dir" / "a.txt", tmp_path / "dir" / "sub" / "b.txt", tmp_path / "dir" / MANIFEST_FILE,
                 tmp_path / "j.json", tmp_path / "w.safetensors", tmp_path / "t.safetensors",
                 tmp_path / "run" / MANIFEST_FILE):
        assert mode(path) == 0o666 & ~mask, path


def test_fix_permissions_does_not_follow_symlinks(tmp_path, umask):
    umask(0o022)
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    os.chmod(outside, 0o600)
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "f").write_text("y")
    os.chmod(tmp_path / "tree" / "f", 0o600)
    (tmp_path / "tree" / "link").symlink_to(outside)
    fix_permissions(tmp_path / "tree")
    assert mode(tmp_path / "tree" / "f") == 0o644 and mode(outside) == 0o600
