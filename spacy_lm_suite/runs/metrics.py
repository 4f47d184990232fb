"""The training log of every run folder: ``metrics.jsonl``, ``metrics.csv``, ``curves.png``.

One JSON record per line, each with ``"kind"`` (``"train"`` or ``"dev"``) and
``"step"``. A trainer appends records before each checkpoint and, on resume,
cuts the log back to the checkpoint's step (:func:`truncate_metrics`), so a
resumed run writes the same log as an uninterrupted one. ``metrics.csv``
(:func:`write_metrics_csv`) and ``curves.png`` (:func:`plot_curves`) are
derived from the JSONL file and written atomically. :func:`plot_curves` draws
the curves of every trainer: per step (:func:`perplexity_panels` of the
pretrainers) or per epoch (the vector trainers' loss).

Model code: no spaCy or Thinc import here.
"""

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

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


@dataclass(frozen=True)
class Curve:
    """One line of a plot: the field ``key`` of the records of ``kind`` (all
    records when None) against the plot's x field; ``markers`` marks every point
    (a curve of one point is always drawn as a marker, or it would not show)."""

    key: str
    label: Optional[str] = None
    kind: Optional[str] = None
    markers: bool = False


@dataclass(frozen=True)
class Panel:
    """One set of axes: its curves, the y-axis label, and a log scale or not."""

    curves: Tuple[Curve, ...]
    ylabel: str
    log_scale: bool = False


def perplexity_panels(
    *, perplexity_label: str = "perplexity", rate_key: str = "tokens_per_second", rate_label: str = "tokens / s"
) -> Tuple[Panel, Panel]:
    """The panels of a pretraining run: ``train_perplexity`` of ``"train"`` records
    and ``dev_perplexity`` of ``"dev"`` records (log scale), and ``rate_key`` of
    ``"train"`` records (throughput)."""
    return (
        Panel(
            (Curve("train_perplexity", label="train", kind="train"), Curve("dev_perplexity", label="dev", kind="dev", markers=True)),
            ylabel=perplexity_label,
            log_scale=True,
        ),
        Panel((Curve(rate_key, kind="train"),), ylabel=rate_label),
    )


def plot_curves(
    records: Sequence[Mapping[str, Any]],
    png_path: Path,
    *,
    panels: Sequence[Panel],
    x: str = "step",
    title: Optional[str] = None,
    extra: str = "plots",
) -> None:
    """Draw ``panels`` side by side against the field ``x`` (``"step"``,
    ``"epoch"``) of ``records`` as a PNG, written atomically.

    The x axis has integer ticks only (there is no step or epoch 0.5); a record
    without a curve's field (or with None) is skipped for that curve. Nothing is
    written when no curve has a point. extra: the extra that installs matplotlib
    (named in the error when it is missing).
    """
    lines = [
        [(curve, _points(records, curve, x)) for curve in panel.curves] for panel in panels
    ]
    if not any(points[0] for panel_lines in lines for _, points in panel_lines):
        return
    matplotlib = require("matplotlib", extra)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(panels), figsize=(1.5 + 4.5 * len(panels), 4), dpi=100, squeeze=False)
    for ax, panel, panel_lines in zip(axes[0], panels, lines):
        for curve, (xs, ys) in panel_lines:
            if xs:
                marker = "o" if curve.markers or len(xs) == 1 else None
                ax.plot(xs, ys, marker=marker, label=curve.label)
        if panel.log_scale and any(ys for _, (_, ys) in panel_lines):
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # a tick even for one point
        ax.set_xlabel(x)
        ax.set_ylabel(panel.ylabel)
        if any(curve.label for curve, (xs, _) in panel_lines if xs):
            ax.legend()
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_write_file(png_path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def _points(records: Sequence[Mapping[str, Any]], curve: Curve, x: str) -> Tuple[List[float], List[float]]:
    """``(xs, ys)`` of ``curve``: its records that have both fields."""
    chosen = [
        r for r in records
        if (curve.kind is None or r.get("kind") == curve.kind) and r.get(x) is not None and r.get(curve.key) is not None
    ]
    return [r[x] for r in chosen], [r[curve.key] for r in chosen]


__all__ = [
    "METRICS_FILE", "METRICS_CSV_FILE", "CURVES_FILE", "append_metrics", "read_metrics", "truncate_metrics",
    "write_metrics_csv", "Curve", "Panel", "perplexity_panels", "plot_curves",
]
