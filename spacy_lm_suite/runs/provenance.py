"""What a run records about where it came from: the suite's git commit, file digests.

Model code: no spaCy or Thinc import here.
"""

import hashlib
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional, Union


def git_commit() -> Optional[str]:
    """The commit of the checkout this package runs from, if it is one (None otherwise)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def file_sha256(path: Union[str, Path]) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file_:
        for block in iter(lambda: file_.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def chunk_history(state: Dict[str, Any], *, command: Optional[str]) -> Dict[str, List[Any]]:
    """The record of the chunks a resumable run trained in: ``suite_commits`` (the commits
    it ran at, a new one for each resume that ran other code) and ``commands`` (each
    chunk's command line, from the step it started at), carried in its checkpoint state
    and written into its provenance."""
    commits = list(state.get("suite_commits") or [])
    commit = git_commit()
    if commit and (not commits or commits[-1] != commit):
        commits.append(commit)
    commands = list(state.get("commands") or [])
    if command:
        commands.append({"from_step": int(state.get("step", 0)), "command": command, "suite_commit": commit})
    return {"suite_commits": commits, "commands": commands}


__all__ = ["git_commit", "file_sha256", "chunk_history"]
