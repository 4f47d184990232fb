"""Running the CLI in-process in tests: exit code and output, snapshots of folders, one-line failures."""

import sys
from pathlib import Path

import pytest

from spacy_lm_suite.cli import main


def run_output(args, capsys, monkeypatch):
    """``(exit code, output as printed)`` of ``spacy-lm-suite ARGS``, run in-process."""
    monkeypatch.setattr(sys, "argv", ["spacy-lm-suite", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out + captured.err


def run(args, capsys, monkeypatch):
    """``(exit code, output on one line)`` of ``spacy-lm-suite ARGS`` (wasabi's wrapping undone)."""
    code, output = run_output(args, capsys, monkeypatch)
    return code, " ".join(output.split())


def snapshot(root):
    """Every path below ``root`` with its bytes (None for folders): equal snapshots, nothing touched."""
    root = Path(root)
    return {p.relative_to(root).as_posix(): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}


def assert_fails(args, message, capsys, monkeypatch):
    """The command exits 1 with ``message`` in one ✘ line, no traceback and no ✔."""
    code, out = run(args, capsys, monkeypatch)
    assert code == 1, out
    assert message in out, out
    assert out.count("\u2718") == 1 and "Traceback" not in out and "\u2714" not in out, out
