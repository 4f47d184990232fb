"""Run records: what the report needs of a finished training run, in one small JSON file.

A trained pipeline is tens to hundreds of MB and lives under ``training/``, which is
never committed; the report grid needs only a few numbers of it (the dev scores spaCy
recorded, the size on disk, the training time, steps and curve, the words/s measured by
``evaluate``). A run record keeps those, with the command that trained the run and a
``key`` of that command (:func:`command_key`), so a report can be rebuilt and a
training reused after the run folder is gone: a grid run of several hours in chunks
across fresh checkouts, or a team sharing results without sharing models.

Records mirror the runs' paths: the record of ``training/stacked/ner-static-seed0``
is ``<records>/training/stacked/ner-static-seed0.json`` (paths relative to the
project root). Each is written atomically. Model code: no spaCy or Thinc import here.
"""

import hashlib
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .outputs import write_json_atomic
from .provenance import git_commit

FORMAT = "spacy-lm-suite.run-record.v1"


def record_path(records: Path, run: Path, *, root: Path) -> Optional[Path]:
    """Where the record of ``run`` (a ``spacy train --output`` folder) lies under ``records``;
    None for a run outside ``root`` (its relative path would not mean the same elsewhere)."""
    try:
        relative = Path(os.path.abspath(run)).relative_to(Path(os.path.abspath(root)))
    except ValueError:
        return None
    return Path(records) / relative.parent / f"{relative.name}.json"


def portable(value: str, *, root: Path) -> str:
    """An option value as it would be written in another checkout: an absolute path, or a
    relative one that exists, is made relative to ``root`` (the data beside it,
    site-packages in its venv) whether or not it exists now (a model folder of an earlier
    checkout may be gone); anything else is left as it is."""
    if not value or value.startswith("-") or not (os.path.isabs(value) or os.path.exists(value)):
        return value
    return os.path.relpath(os.path.abspath(value), os.path.abspath(root))


def command_key(config: Path, overrides: Sequence[str], *, root: Path, python: Optional[str] = None) -> str:
    """sha256 of a training command: the config file's text, the overrides with their
    paths made portable, and the interpreter (a peer's venv trains differently). Two
    runs with the same key are the same experiment (the same seed included)."""
    payload = {
        "config": Path(config).read_text(encoding="utf-8"),
        "overrides": [portable(str(value), root=root) for value in overrides],
        "python": os.path.relpath(os.path.abspath(python or sys.executable), os.path.abspath(root)),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def read_record(path: Path) -> Optional[Dict[str, Any]]:
    """The record at ``path``; None when absent or not a run record (a half-copied or
    foreign file is never mistaken for a finished run)."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != FORMAT or not isinstance(record.get("performance"), dict):
        return None
    return record


def find_record(records: Path, run: Path, *, root: Path) -> Optional[Dict[str, Any]]:
    """The record of ``run`` under ``records`` (None: none, or the run is outside ``root``)."""
    path = record_path(records, run, root=root)
    return read_record(path) if path is not None else None


def write_record(
    path: Path,
    *,
    run: str,
    performance: Dict[str, Any],
    size_bytes: Optional[int],
    train_seconds: Optional[float],
    curve: List[Dict[str, Any]],
    steps: Optional[int] = None,
    key: Optional[str] = None,
    command: Optional[List[str]] = None,
    evaluations: Optional[Dict[str, Dict[str, Any]]] = None,
    meta: Optional[Dict[str, Any]] = None,
    commit: Optional[str] = None,
) -> Dict[str, Any]:
    """Write (or refresh) a record. What the earlier record at ``path`` knew and this
    call does not (the key and command when the report refreshes a benchmark's record,
    evaluations measured in an earlier session) is kept while the run is the same one
    (same scores). ``commit``: the code's commit when the run started (default: the
    earlier record's, else the current one)."""
    old = read_record(path)
    same_run = old is not None and old.get("performance") == performance
    record = {
        "format": FORMAT,
        "run": run,
        "key": key or (old.get("key") if same_run else None),
        "command": command or (old.get("command") if same_run else None),
        "commit": commit or (old.get("commit") if same_run else None) or git_commit(),
        "recorded_at": (old.get("recorded_at") if same_run else None) or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "performance": performance,
        "meta": meta or (old.get("meta") if same_run else None) or {},
        "size_bytes": size_bytes,
        "train_seconds": train_seconds if train_seconds is not None else (old.get("train_seconds") if same_run else None),
        "steps": steps if steps is not None else (old.get("steps") if same_run else None),
        "curve": curve or (old.get("curve") if same_run else None) or [],
        "evaluations": {**((old.get("evaluations") or {}) if same_run else {}), **(evaluations or {})},
    }
    write_json_atomic(path, record)
    return record
