"""The output directory of a vector-training run: config, state, per-epoch log, exports.

Layout (both trainers)::

    OUTPUT_DIR/
      config.json        settings, input, tokenisation
      state.json         progress; "complete": true is written last
      metrics.jsonl      one JSON object per epoch (appended, so resumes continue it)
      metrics.csv        the same as a table
      curves.png         loss per epoch
      checkpoint/        what a resumed run needs (trainer-specific)
      vectors/           the LMVectors table (spacy_lm_suite.vectors.table)
      pipeline/          a spaCy pipeline holding only the table: `[initialize] vectors = ".../pipeline"`
      vectors.txt        word2vec text format
      vectors.bin        word2vec binary format

The folder is claimed with a manifest (:mod:`spacy_lm_suite.runs.outputs`):
a new run needs a new or empty folder, and ``--overwrite`` replaces only an
earlier run's files. Checkpoints (``config.json`` and the trainer's files in
``checkpoint/``, then ``state.json`` naming them) are atomic
(:mod:`spacy_lm_suite.runs.checkpoints`), so a run killed at any moment
resumes as if it had not been. Exports are written through temporary names
and renamed, and ``state.json`` says ``complete`` only after all of them
exist, so an interrupted run never looks finished.
"""

import csv
import json
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from ..errors import InputFormatError, UserError
from ..runs.checkpoints import Checkpoint
from ..runs.metrics import Curve, Panel, plot_curves
from ..runs.options import require_at_least, require_non_negative
from ..runs.outputs import (
    atomic_output_dir,
    atomic_write_file,
    check_output_dir,
    check_writable_dir,
    claim_output_dir,
    write_json_atomic,
    write_text_atomic,
)

PathLike = Union[str, Path]
COMMAND = "train-vectors"
CONFIG_FILE = "config.json"
# Everything a run may write at its top level: what --overwrite removes of an earlier run.
RUN_FILES = (
    CONFIG_FILE, "state.json", "metrics.jsonl", "metrics.csv", "curves.png", "checkpoint", "vectors", "pipeline",
    "vectors.txt", "vectors.bin", "evaluation.json",
)


def read_json(path: Path) -> Any:
    """A JSON file of the run; unreadable JSON is an ``InputFormatError``."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputFormatError(path, f"expected JSON written by train-vectors ({err})") from None


def check_run_options(*, limit: Optional[int], stop_after: Optional[int]) -> None:
    """The options every trainer shares: ``--limit`` (0 or None: all) and ``--stop-after``."""
    require_non_negative(limit, option="--limit")
    require_at_least(stop_after, 1, option="--stop-after")


def check_lang(lang: str) -> None:
    """Fail now, not after training, on a ``--lang`` spaCy does not know
    (it is needed at the end, for the exported pipeline)."""
    from .loading import blank_pipeline

    blank_pipeline(lang)


def reconcile_settings(
    path: Path,
    saved: Mapping[str, Any],
    requested: Mapping[str, Any],
    *,
    may_change: Sequence[str],
    options: Mapping[str, str],
    ignored: Sequence[str] = (),
) -> Dict[str, Any]:
    """The settings a resumed or extended run continues with.

    saved: the run's settings (and reading options); requested: those the user
    gave explicitly (field -> value). A field of ``may_change`` takes the new
    value; one of ``ignored`` is dropped (it no longer matters); any other that
    differs is a ``UserError`` naming its option (``options``: field -> CLI
    option), since it would change the shape or meaning of the trained model.
    """
    result = dict(saved)
    for field, value in requested.items():
        if field in ignored or saved.get(field) == value:
            continue
        option = options.get(field, field)
        if field not in may_change:
            raise UserError(
                f"{option}: this run in {path} was trained with {saved.get(field)!r}, not {value!r}; "
                f"drop {option} to continue it (only {', '.join(options.get(f, f) for f in may_change)} may change), "
                "or start a new run"
            )
        result[field] = value
    return result


class RunDirectory:
    """One training run's folder (see the module docstring).

    checkpoint_files: the trainer's files under ``checkpoint/`` that a
        checkpoint holds besides ``config.json`` (e.g. ``"word2vec.model"``).
    hint: how to continue an existing run (for the "not empty" message).
    """

    def __init__(self, path: PathLike, *, checkpoint_files: Sequence[str] = (), hint: str = "") -> None:
        self.path = Path(path)
        self.hint = hint
        self._checkpoint = Checkpoint(
            self.path, files=(CONFIG_FILE, *(f"checkpoint/{name}" for name in checkpoint_files))
        )

    config_path = property(lambda self: self.path / CONFIG_FILE)
    state_path = property(lambda self: self.path / "state.json")
    metrics_jsonl = property(lambda self: self.path / "metrics.jsonl")
    metrics_csv = property(lambda self: self.path / "metrics.csv")
    curves_png = property(lambda self: self.path / "curves.png")
    checkpoint = property(lambda self: self.path / "checkpoint")

    # -- lifecycle ----------------------------------------------------------

    def check_available(self, *, overwrite: bool = False) -> None:
        """Raise before any work if a new run may not use this folder: it must
        be new or empty, or (``overwrite``) an earlier train-vectors run."""
        check_output_dir(self.path, overwrite=overwrite, command=COMMAND, hint=self.hint)

    def check_writable(self) -> None:
        """Raise before any work if an existing run's folder cannot be written."""
        check_writable_dir(self.path)

    def create(self, *, overwrite: bool = False) -> bool:
        """Claim the folder for a new run (an earlier run's files are removed
        with ``overwrite``; nothing else is); returns whether it was created."""
        created = claim_output_dir(self.path, command=COMMAND, files=RUN_FILES, overwrite=overwrite, hint=self.hint)
        self.checkpoint.mkdir(exist_ok=True)
        return created

    def require_existing(self, trainer: str) -> Dict:
        """The saved config of a run to resume or extend, checked to be of ``trainer``."""
        self._checkpoint.recover()
        if not self.config_path.exists() or not self.state_path.exists():
            raise UserError(
                f"{self.path}: no training run to continue here (config.json/state.json missing); "
                "start a new run (--overwrite replaces an unfinished one of ours)"
            )
        config = read_json(self.config_path)
        found = config.get("trainer") if isinstance(config, dict) else None
        if found != trainer:
            what = f"a train-vectors {found} run" if isinstance(found, str) else "no train-vectors run"
            raise UserError(f"{self.path}: holds {what}, not a train-vectors {trainer} run")
        return config

    @property
    def state(self) -> Dict:
        """The committed state, as written (see :meth:`load_state` to resume)."""
        return read_json(self.state_path)

    def load_state(self) -> Dict:
        """The committed state, with the checkpoint files it names verified."""
        state = self._checkpoint.load_state()
        if not isinstance(state.get("complete"), bool):
            raise InputFormatError(self.state_path, "expected the state of a train-vectors run (with \"complete\")")
        return state

    def save_checkpoint(
        self,
        state: Dict,
        *,
        config: Optional[Dict] = None,
        files: Optional[Mapping[str, Callable[[Path], None]]] = None,
        remove: Sequence[str] = (),
    ) -> None:
        """Commit ``state`` atomically with the checkpoint ``files`` (names under
        ``checkpoint/`` -> writer of a given path) and ``config`` if given;
        ``remove``: checkpoint files no longer part of the run."""
        write: Dict[str, Callable[[Path], None]] = {f"checkpoint/{name}": writer for name, writer in (files or {}).items()}
        if config is not None:
            write[CONFIG_FILE] = lambda tmp: write_json_atomic(tmp, config)
        self._checkpoint.save(state, write=write, remove=[f"checkpoint/{name}" for name in remove])

    def save_state(self, state: Dict) -> None:
        """Commit a new state for the checkpoint files already in place."""
        self.save_checkpoint(state)

    def remove_checkpoint_dir(self, *, keep: Sequence[str] = ()) -> None:
        """Drop ``checkpoint/`` of a finished run except the files ``keep``
        (and the folder itself when nothing is kept)."""
        if not self.checkpoint.is_dir():
            return
        for entry in self.checkpoint.iterdir():
            if entry.name in keep:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        if not any(self.checkpoint.iterdir()):
            self.checkpoint.rmdir()

    # -- per-epoch log --------------------------------------------------------

    def records(self) -> List[Dict]:
        if not self.metrics_jsonl.exists():
            return []
        with self.metrics_jsonl.open(encoding="utf-8") as file_:
            return [json.loads(line) for line in file_ if line.strip()]

    def truncate_log(self, n_records: int) -> None:
        """Keep the first ``n_records`` epochs (a resumed run drops epochs logged after its checkpoint)."""
        records = self.records()[:n_records]
        write_text_atomic(self.metrics_jsonl, "".join(json.dumps(record) + "\n" for record in records))
        self._write_csv(records)

    def log_epoch(self, record: Dict) -> None:
        """Append one epoch to ``metrics.jsonl`` and rewrite ``metrics.csv``."""
        with self.metrics_jsonl.open("a", encoding="utf-8") as file_:
            file_.write(json.dumps(record) + "\n")
        self._write_csv(self.records())

    def plot(self) -> None:
        """Draw ``curves.png`` from the log: the loss per epoch (once per call: rendering costs ~0.2 s)."""
        records = self.records()
        if records:
            panel = Panel((Curve("loss", markers=True),), ylabel=records[0].get("loss_name", "loss"))
            plot_curves(records, self.curves_png, panels=(panel,), x="epoch", title=records[-1].get("title"), extra="train")

    def _write_csv(self, records: List[Dict]) -> None:
        columns: List[str] = []
        for record in records:
            columns.extend(key for key in record if key not in columns)
        with atomic_write_file(self.metrics_csv) as tmp, tmp.open("w", encoding="utf-8", newline="") as file_:
            writer = csv.DictWriter(file_, fieldnames=columns)
            writer.writeheader()
            writer.writerows(records)

    # -- exports ----------------------------------------------------------------

    def export_vectors(
        self,
        words: Sequence[str],
        data: np.ndarray,
        *,
        fallback: Sequence[str],
        name: str,
        lang: str = "en",
    ) -> Dict[str, str]:
        """Write the table folder, the spaCy pipeline folder and word2vec text/binary files."""
        from .formats import write_word2vec
        from .loading import save_vectors_pipeline
        from .table import LMVectors

        table = LMVectors.from_arrays(list(words), np.asarray(data, dtype=np.float32), fallback=fallback, name=name)
        with atomic_output_dir(self.path / "vectors", command=COMMAND, overwrite=True) as tmp:
            table.to_disk(tmp)
        save_vectors_pipeline(table, self.path / "pipeline", lang=lang, overwrite=True, command=COMMAND)
        outputs = {"table": "vectors", "pipeline": "pipeline"}
        for file_name, binary in (("vectors.txt", False), ("vectors.bin", True)):
            with atomic_write_file(self.path / file_name) as tmp:
                write_word2vec(tmp, table.words, table.data, binary=binary)
            outputs["word2vec_" + ("bin" if binary else "text")] = file_name
        return outputs


def remove_failed_run(path: Path, created: bool) -> None:
    """Remove a run folder this process created if it holds no finished epoch."""
    run = RunDirectory(path)
    if created and path.exists() and not run.metrics_jsonl.exists():
        shutil.rmtree(path, ignore_errors=True)
