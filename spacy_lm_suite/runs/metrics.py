"""The training log of every run folder: ``metrics.jsonl``, ``metrics.csv``, ``curves.png``.

One JSON record per line, each with ``"kind"`` (``"train"`` or ``"dev"``) and
``"step"``. A trainer appends records before each checkpoint and, on resume,
cuts the log back to the checkpoint's step (:func:`truncate_metrics`), so a
resumed run writes the same log as an uninterrupted one. ``metrics.csv``
(:func:`write_metrics_csv`) and ``curves.png`` (:func:`plot_curves`) are
derived from the JSONL file and written atomically.

Model code: no spaCy or Thinc import here.
"""

import csv
import io
import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from ..extras import require
from .outputs import atomic_write_file, write_text_atomic

METRICS_FILE = "metrics.jsonl"
METRICS_CSV_FILE = "metrics.csv"
CURVES_FILE = "curves.png"


def append_metrics(path: Path, record: Mapping[str, Any]) -> None:
    """Append one record (a JSON line) to ``path``."""
    with Path(path).open("a", encoding="utf-8") as file:
        file.write(json.dumps(dict(record)) + "\n")


def read_metrics(path: Path) -> List[Dict[str, Any]]:
    """The records of ``path`` (none if it does not exist; damaged lines are skipped)."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def truncate_metrics(path: Path, step: int) -> None:
    """Drop metrics logged after the checkpoint (``step``) by an interrupted run."""
    path = Path(path)
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("step", 0) <= step:
            kept.append(line)
    write_text_atomic(path, "".join(line + "\n" for line in kept))


def write_metrics_csv(metrics_path: Path, csv_path: Path) -> None:
    """``metrics.jsonl`` as a CSV table (one column per key seen, in first-seen order)."""
    records = read_metrics(metrics_path)
    columns: List[str] = []
    for record in records:
        for key in record:
            if key not in columns:
                columns.append(key)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(record)
    write_text_atomic(csv_path, buffer.getvalue())


def plot_curves(
    metrics_path: Path,
    png_path: Path,
    *,
    perplexity_label: str = "perplexity",
    rate_key: str = "tokens_per_second",
    rate_label: str = "tokens / s",
) -> None:
    """Train and dev perplexity (log scale) and throughput against steps, as a PNG.

    Reads ``train_perplexity`` of ``"train"`` records, ``dev_perplexity`` of
    ``"dev"`` records and ``rate_key`` of ``"train"`` records.
    """
    records = read_metrics(metrics_path)
    train = [r for r in records if r.get("kind") == "train"]
    dev = [r for r in records if r.get("kind") == "dev" and r.get("dev_perplexity") is not None]
    if not train:
        return
    matplotlib = require("matplotlib", "plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_ppl, ax_rate) = plt.subplots(1, 2, figsize=(10, 4))
    ax_ppl.plot([r["step"] for r in train], [r["train_perplexity"] for r in train], label="train")
    if dev:
        ax_ppl.plot([r["step"] for r in dev], [r["dev_perplexity"] for r in dev], "o-", label="dev")
    ax_ppl.set_yscale("log")
    ax_ppl.set_xlabel("step")
    ax_ppl.set_ylabel(perplexity_label)
    ax_ppl.legend()
    ax_ppl.grid(alpha=0.3)
    ax_rate.plot([r["step"] for r in train], [r.get(rate_key) for r in train])
    ax_rate.set_xlabel("step")
    ax_rate.set_ylabel(rate_label)
    ax_rate.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_write_file(png_path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


__all__ = [
    "METRICS_FILE", "METRICS_CSV_FILE", "CURVES_FILE", "append_metrics", "read_metrics", "truncate_metrics",
    "write_metrics_csv", "plot_curves",
]
