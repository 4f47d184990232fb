"""Atomic multi-file checkpoints for every trainer (ELMo, Word2Vec, GloVe, ...).

A checkpoint is a set of files in a run folder plus ``state.json``, which
names them. :meth:`Checkpoint.save`:

1. writes every changed file under ``<name>.tmp`` (fsynced, umask applied);
2. writes ``state.json.tmp``, which records each file it belongs to with its
   size and SHA-256 (:data:`FILES_KEY`);
3. renames the files into place, then ``state.json`` last.

A process killed at any point leaves either the previous checkpoint (step 1:
:meth:`Checkpoint.recover` discards the partial ``.tmp`` files) or a complete
new one (after step 2: :meth:`~Checkpoint.recover` renames the rest into
place). :meth:`Checkpoint.load_state` verifies that the files on disk are the
ones ``state.json`` names, so two steps are never silently mixed.

Fault injection, for tests: :data:`fault_hook` (a callable) is called with
each point reached, ``"written:<name>"`` after a ``.tmp`` file is complete and
``"renamed:<name>"`` after it is renamed (``<name>`` is ``state.json`` for the
state). The environment variable :data:`FAULT_ENV` set to ``<point>`` or
``<point>#<n>`` kills the process with SIGKILL when the point is reached (the
``n``-th time), which lets a test kill a trainer between two writes.
"""

import hashlib
import json
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Union

from ..errors import InputFormatError, UserError
from .outputs import fix_permissions, fsync_file, write_json_atomic

PathLike = Union[str, Path]
STATE_FILE = "state.json"
FILES_KEY = "checkpoint_files"
FAULT_ENV = "SPACY_LM_SUITE_CHECKPOINT_FAULT"
TMP_SUFFIX = ".tmp"

Writer = Callable[[Path], None]
fault_hook: Optional[Callable[[str], None]] = None
_reached_counts: Counter = Counter()


def _reached(point: str) -> None:
    """Report a point of a save to :data:`fault_hook` and act on :data:`FAULT_ENV`."""
    if fault_hook is not None:
        fault_hook(point)
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    wanted, _, nth = spec.partition("#")
    if wanted != point:
        return
    _reached_counts[point] += 1
    if _reached_counts[point] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def file_record(path: PathLike) -> Dict[str, Any]:
    """``{"size": bytes, "sha256": hex}`` of a file, as a state names it."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as file_:
        for block in iter(lambda: file_.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"size": size, "sha256": digest.hexdigest()}


class Checkpoint:
    """The checkpoint of one run folder: the files it may hold and the state naming them.

    folder: the run folder (``state.json`` lives there).
    files: every file a checkpoint of this trainer may hold, relative to
        ``folder`` (e.g. ``"checkpoint/word2vec.model"``). A save writes some of
        them; the others that exist are carried over (and named) unchanged.
    """

    def __init__(self, folder: PathLike, *, files: Sequence[str], state_file: str = STATE_FILE) -> None:
        self.folder = Path(folder)
        self.files = tuple(files)
        self.state_file = state_file

    @property
    def state_path(self) -> Path:
        return self.folder / self.state_file

    def _tmp(self, name: str) -> Path:
        return self.folder / (name + TMP_SUFFIX)

    def exists(self) -> bool:
        """Whether a committed (or rollable-forward) checkpoint is there."""
        self.recover()
        return self.state_path.is_file()

    def _read(self, path: Path) -> Dict[str, Any]:
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputFormatError(path, f"expected the JSON state of a training run ({err})") from None
        if not isinstance(state, dict):
            raise InputFormatError(path, "expected the JSON state of a training run (an object)")
        return state

    def save(
        self,
        state: Mapping[str, Any],
        *,
        write: Optional[Mapping[str, Writer]] = None,
        remove: Sequence[str] = (),
    ) -> None:
        """Commit a checkpoint: ``write[name](tmp_path)`` writes each changed
        file (to the path it is given); ``state`` is saved naming them and the
        unchanged files; ``remove`` are files no longer part of the run
        (deleted after the state is committed)."""
        write = dict(write or {})
        unknown = sorted(set(write) - set(self.files)) + sorted(set(remove) - set(self.files))
        if unknown:
            raise ValueError(f"not files of this checkpoint: {', '.join(unknown)}")
        self._discard_tmps()
        previous: Dict[str, Any] = {}
        if self.state_path.is_file():
            try:
                previous = self._read(self.state_path).get(FILES_KEY) or {}
            except InputFormatError:
                previous = {}
        records: Dict[str, Dict[str, Any]] = {}
        for name, writer in write.items():
            tmp = self._tmp(name)
            tmp.parent.mkdir(parents=True, exist_ok=True)
            writer(tmp)
            fsync_file(tmp)
            fix_permissions(tmp)
            records[name] = file_record(tmp)
            _reached(f"written:{name}")
        for name in self.files:
            if name in write or name in remove or not (self.folder / name).is_file():
                continue
            old = previous.get(name) if isinstance(previous, dict) else None
            if isinstance(old, dict) and old.get("size") == (self.folder / name).stat().st_size:
                records[name] = old
            else:
                records[name] = file_record(self.folder / name)
        state_tmp = self._tmp(self.state_file)
        write_json_atomic(state_tmp, {**state, FILES_KEY: records})
        _reached(f"written:{self.state_file}")
        for name in write:
            os.replace(self._tmp(name), self.folder / name)
            _reached(f"renamed:{name}")
        os.replace(state_tmp, self.state_path)
        _reached(f"renamed:{self.state_file}")
        for name in remove:
            (self.folder / name).unlink(missing_ok=True)

    def _discard_tmps(self) -> None:
        for name in (*self.files, self.state_file):
            self._tmp(name).unlink(missing_ok=True)

    def recover(self) -> None:
        """Finish or discard a save that was interrupted.

        A complete ``state.json.tmp`` means every file it names was written:
        they are renamed into place (``state.json`` last). Otherwise the
        partial ``.tmp`` files are removed; the previous checkpoint is intact.
        """
        state_tmp = self._tmp(self.state_file)
        if not state_tmp.exists():
            self._discard_tmps()
            return
        try:
            state = self._read(state_tmp)
        except InputFormatError:
            self._discard_tmps()
            return
        named = state.get(FILES_KEY)
        names = list(named) if isinstance(named, dict) else list(self.files)
        for name in self.files:
            tmp = self._tmp(name)
            if tmp.exists():
                if name in names:
                    os.replace(tmp, self.folder / name)
                else:
                    tmp.unlink()
        os.replace(state_tmp, self.state_path)

    def load_state(self) -> Dict[str, Any]:
        """The committed state (after :meth:`recover`), with the files it names
        verified (size and SHA-256); ``UserError`` if there is none or a file
        does not match. The returned dict is the trainer's own state."""
        self.recover()
        if not self.state_path.is_file():
            raise UserError(f"{self.folder}: no checkpoint to continue ({self.state_file} missing)")
        state = self._read(self.state_path)
        records = state.pop(FILES_KEY, None)
        if records is None:  # a state written before checkpoints named their files
            return state
        if not isinstance(records, dict):
            raise InputFormatError(self.state_path, f"expected {FILES_KEY!r} to map file names to size and sha256")
        for name, record in records.items():
            path = self.folder / name
            if not path.is_file():
                raise UserError(
                    f"{path}: missing, but {self.state_path} names it; restore the run folder from a backup or start again"
                )
            if not isinstance(record, dict) or file_record(path) != {"size": record.get("size"), "sha256": record.get("sha256")}:
                raise UserError(
                    f"{path}: does not match {self.state_path} (written at another step, or damaged); "
                    "restore the run folder from a backup or start again"
                )
        return state
