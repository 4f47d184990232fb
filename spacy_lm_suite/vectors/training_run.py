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

Exports are written through temporary names and renamed, and ``state.json``
says ``complete`` only after all of them exist, so an interrupted run never
looks finished.
"""

import csv
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Sequence, Union

import numpy as np

from ..errors import UserError

PathLike = Union[str, Path]


def write_json(path: Path, data: Any) -> None:
    """Write JSON through a temporary file in the same folder, then rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as file_:
        json.dump(data, file_, indent=2)
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


class RunDirectory:
    """One training run's folder (see the module docstring)."""

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)

    config_path = property(lambda self: self.path / "config.json")
    state_path = property(lambda self: self.path / "state.json")
    metrics_jsonl = property(lambda self: self.path / "metrics.jsonl")
    metrics_csv = property(lambda self: self.path / "metrics.csv")
    curves_png = property(lambda self: self.path / "curves.png")
    checkpoint = property(lambda self: self.path / "checkpoint")

    # -- lifecycle ----------------------------------------------------------

    def check_available(self, *, overwrite: bool = False) -> None:
        """Raise before any work if a new run may not use this folder."""
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"{self.path}: exists and is not a directory")
        if self.path.exists() and any(self.path.iterdir()) and not overwrite:
            raise UserError(
                f"{self.path}: the output folder exists and is not empty "
                "(use --resume to continue it, --extend to train it on more text, or --overwrite)"
            )

    def create(self, *, overwrite: bool = False) -> None:
        """Make the folder for a new run; an existing non-empty folder needs ``overwrite``."""
        self.check_available(overwrite=overwrite)
        if self.path.exists():
            shutil.rmtree(self.path)
        self.checkpoint.mkdir(parents=True, exist_ok=True)

    def require_existing(self, trainer: str) -> Dict:
        """The saved config of a run to resume or extend, checked to be of ``trainer``."""
        if not self.config_path.exists() or not self.state_path.exists():
            raise UserError(f"{self.path}: no training run to continue here (config.json/state.json missing)")
        config = read_json(self.config_path)
        if config.get("trainer") != trainer:
            raise UserError(f"{self.path}: holds a {config.get('trainer')!r} run, not {trainer!r}")
        return config

    @property
    def state(self) -> Dict:
        return read_json(self.state_path)

    def save_config(self, config: Dict) -> None:
        write_json(self.config_path, config)

    def save_state(self, state: Dict) -> None:
        write_json(self.state_path, state)

    # -- per-epoch log --------------------------------------------------------

    def records(self) -> List[Dict]:
        if not self.metrics_jsonl.exists():
            return []
        with self.metrics_jsonl.open(encoding="utf-8") as file_:
            return [json.loads(line) for line in file_ if line.strip()]

    def truncate_log(self, n_records: int) -> None:
        """Keep the first ``n_records`` epochs (a resumed run drops epochs logged after its checkpoint)."""
        records = self.records()[:n_records]
        with self.metrics_jsonl.open("w", encoding="utf-8") as file_:
            for record in records:
                file_.write(json.dumps(record) + "\n")
        self._write_csv(records)

    def log_epoch(self, record: Dict) -> None:
        """Append one epoch to ``metrics.jsonl`` and rewrite ``metrics.csv``."""
        with self.metrics_jsonl.open("a", encoding="utf-8") as file_:
            file_.write(json.dumps(record) + "\n")
        self._write_csv(self.records())

    def plot(self) -> None:
        """Draw ``curves.png`` from the log (once per call: rendering costs ~0.2 s)."""
        records = self.records()
        if records:
            plot_curves(records, self.curves_png)

    def _write_csv(self, records: List[Dict]) -> None:
        columns: List[str] = []
        for record in records:
            columns.extend(key for key in record if key not in columns)
        with self.metrics_csv.open("w", encoding="utf-8", newline="") as file_:
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
        from .loading import atomic_directory, save_vectors_pipeline
        from .table import LMVectors

        table = LMVectors.from_arrays(list(words), np.asarray(data, dtype=np.float32), fallback=fallback, name=name)
        with atomic_directory(self.path / "vectors") as tmp:
            table.to_disk(tmp)
        save_vectors_pipeline(table, self.path / "pipeline", lang=lang)
        outputs = {"table": "vectors", "pipeline": "pipeline"}
        for file_name, binary in (("vectors.txt", False), ("vectors.bin", True)):
            target = self.path / file_name
            fd, tmp_name = tempfile.mkstemp(prefix=f".{file_name}.", dir=self.path)
            os.close(fd)
            try:
                write_word2vec(tmp_name, table.words, table.data, binary=binary)
                os.replace(tmp_name, target)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            outputs["word2vec_" + ("bin" if binary else "text")] = file_name
        return outputs


def plot_curves(records: List[Dict], path: Path, *, key: str = "loss") -> None:
    """Plot ``key`` (and ``seconds`` on a second axis) per epoch to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in records]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(epochs, [r[key] for r in records], marker="o", label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel(records[0].get("loss_name", key))
    ax.grid(alpha=0.3)
    title = records[-1].get("title")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def remove_failed_run(path: Path, created: bool) -> None:
    """Remove a run folder this process created if it holds no finished epoch."""
    run = RunDirectory(path)
    if created and path.exists() and not run.metrics_jsonl.exists():
        shutil.rmtree(path, ignore_errors=True)
