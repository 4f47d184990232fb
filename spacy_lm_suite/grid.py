"""The project's one report: every embedding type (rows) x every dataset (columns).

A grid file (YAML, e.g. ``reports/grid.yml``) names the datasets (columns) and,
per row, where its trained runs are, by glob, one pattern per dataset::

    datasets:
      conll2003: {label: "CoNLL-2003 F1", task: ner}
      sst2: {label: "SST-2 accuracy", task: textcat}
    rows:
      - name: MiniLM
        runs:
          conll2003: "training/transformer/ner-minilm-seed*"
          sst2: "training/transformer/textcat-minilm-seed*"
      - name: en_core_web_sm (labels mapped)
        evaluations:
          conll2003: "metrics/evaluate/conll2003-en_core_web_sm.json"

Runs are ``spacy train --output`` folders (or their ``model-best``; a run still
training is left out, see :func:`~.evaluation.training_finished`): the score is
the dev score spaCy recorded for ``model-best`` (``meta.json``: NER F1, textcat
micro F = accuracy for exclusive classes), seeds as mean ± std. An
``evaluations`` entry reads a ``spacy-lm-suite evaluate`` JSON instead (for a
pipeline trained elsewhere, e.g. an installed package with a label map).
``evaluate`` JSONs given with ``--evaluations`` (any number) supply words/s and
peak memory of the pipelines they scored, matched by folder. Per row the table
also has the model size on disk and the training minutes (``<output>.seconds``
beside a run, as the benchmarks write it, ``meta.json``'s ``training``, or the last
``seconds`` of the run's ``log.csv``, which ``spacy-lm-suite.ConsoleLogger.v1`` writes
with ``csv_file``).
A cell whose pattern matches nothing is "not run" (``—``, listed under the table),
never an error: the grid fills in as the runs land. A cell the grid names nothing for
is ``n/a`` (listed apart: nothing trains it).

Writes ``report.md``, ``report.json``, ``curves.png`` (dev score against steps,
mean over seeds, one panel per dataset) and ``accuracy_vs_speed.png``, each
atomically, after every input has been read.
"""

import glob
import io
import json
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import srsly

from .errors import InputFormatError, UserError
from .evaluation import PipelineRef, folder_size, log_rows, training_curve, training_finished, training_record
from .extras import require
from .report import _write_file, check_output_dir, resolve_run
from .runs.records import find_record, read_record, record_path, write_record

TASK_SCORES = {"ner": "ents_f", "textcat": "cats_micro_f"}
GRID_FILES = ("report.md", "report.json", "curves.png", "accuracy_vs_speed.png")


@dataclass
class Cell:
    """One row x dataset: the runs found and their scores (percent)."""

    runs: List[Path] = field(default_factory=list)
    scores: List[float] = field(default_factory=list)
    words_per_second: List[float] = field(default_factory=list)
    size_bytes: List[int] = field(default_factory=list)
    train_seconds: List[float] = field(default_factory=list)
    steps: List[int] = field(default_factory=list)
    curves: List[List[Tuple[int, float]]] = field(default_factory=list)
    source: str = "runs"
    planned: bool = True  # the grid names runs or evaluations for it (else "n/a": nothing trains it)
    recorded: int = 0  # of the runs, how many were read from run records (their folders are gone)
    commits: List[str] = field(default_factory=list)  # the commit each run trained at, where its record says
    to_record: List[Tuple[Path, Optional[Dict[str, Any]]]] = field(default_factory=list)

    def summary(self) -> Optional[Dict[str, Any]]:
        if not self.scores:
            return None
        return {
            "mean": statistics.fmean(self.scores),
            "std": statistics.stdev(self.scores) if len(self.scores) > 1 else 0.0,
            "values": self.scores,
            "n": len(self.scores),
            "runs": [str(run) for run in self.runs],
            "source": self.source,
            "from_records": self.recorded,
            "commits": sorted(set(self.commits)),
            "words_per_second": _mean(self.words_per_second),
            "size_bytes": _mean(self.size_bytes),
            "train_seconds": _mean(self.train_seconds),
            "steps": max(self.steps) if self.steps else None,
        }


def _mean(values: Sequence[float]) -> Optional[float]:
    return statistics.fmean(values) if values else None


# -- reading the grid ------------------------------------------------------------------


def read_grid(path: Path) -> Dict[str, Any]:
    """The grid file, checked: ``datasets`` (name -> label, task) and ``rows``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such grid file (a YAML file with datasets and rows; see docs/evaluate.md)")
    try:
        grid = srsly.read_yaml(path)
    except Exception as err:  # the YAML parser's own error types
        raise InputFormatError(path, f"expected YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(grid, dict) or not isinstance(grid.get("datasets"), dict) or not isinstance(grid.get("rows"), list):
        raise InputFormatError(path, "expected a mapping with 'datasets' (name -> {label, task}) and 'rows' (a list)")
    for name, spec in grid["datasets"].items():
        if not isinstance(spec, dict) or spec.get("task") not in TASK_SCORES:
            raise InputFormatError(path, f"dataset {name!r}: expected {{label, task}} with task one of {list(TASK_SCORES)}")
    for index, row in enumerate(grid["rows"]):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            raise InputFormatError(path, f"row {index + 1}: expected a mapping with a 'name'")
        if not isinstance(row.get("note", ""), str) or "\n" in row.get("note", "").strip():
            raise InputFormatError(path, f"row {row['name']!r}: note must be one line of text")
        for key in ("runs", "evaluations"):
            entries = row.get(key) or {}
            if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
                raise InputFormatError(path, f"row {row['name']!r}: {key} must map dataset names to one glob pattern each")
            unknown = sorted(set(entries) - set(grid["datasets"]))
            if unknown:
                raise InputFormatError(
                    path, f"row {row['name']!r}: {key} names {', '.join(unknown)}, not a dataset "
                          f"({', '.join(grid['datasets'])})"
                )
    return grid


def _finished_run(path: Path) -> bool:
    """Whether ``path`` (an output folder or its model-best) holds a finished run."""
    return path.is_dir() and (resolve_run(path) / "meta.json").is_file() and training_finished(_output(path))


def _expand(pattern: str, root: Path) -> List[Path]:
    full = pattern if Path(pattern).is_absolute() else str(root / pattern)
    return [p for p in sorted(Path(p) for p in glob.glob(full)) if _finished_run(p)]


def evaluation_files(paths: Sequence[Path]) -> List[Path]:
    """The JSON files given: a folder stands for the ``*.json`` files in it (none: nothing)."""
    files: List[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(path.glob("*.json"))
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"--evaluations {path}: no such file or folder (an evaluate JSON report, or a folder of them)")
    return files


def _speeds(evaluations: Sequence[Path]) -> Dict[str, Dict[str, Any]]:
    """folder -> the ``evaluate`` result of that pipeline (words/s, memory, size, scores)."""
    table: Dict[str, Dict[str, Any]] = {}
    for path in evaluations:
        report = _read_evaluation(path)
        for result in report["pipelines"]:
            table[str(Path(result["folder"]).resolve())] = result
    return table


def _read_evaluation(path: Path) -> Dict[str, Any]:
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise InputFormatError(path, f"expected a spacy-lm-suite evaluate JSON report ({err})") from None
    if not isinstance(report, dict) or not isinstance(report.get("pipelines"), list):
        raise InputFormatError(path, "expected a spacy-lm-suite evaluate JSON report (with 'pipelines')")
    return report


def _output(run: Path) -> Path:
    """The ``spacy train --output`` folder of a run given as that folder or its model-best."""
    return run.parent if run.name in ("model-best", "model-last") else run


def _training(run: Path, model: Path) -> Tuple[Optional[float], Optional[int]]:
    """Training seconds and steps trained: :func:`~.evaluation.training_record` (meta.json,
    the ``.seconds`` stamp, the console log), the seconds else the last ``log.csv`` row's."""
    found = training_record(PipelineRef(source=str(model), folder=model, name=model.name))
    seconds = found["seconds"]
    if seconds is None:
        rows = [row for row in log_rows(_output(run)) if row["seconds"] is not None]
        seconds = rows[-1]["seconds"] if rows else None
    return seconds, found["steps"]


def run_curve(run: Path) -> List[Dict[str, Any]]:
    """The dev curve of a run (its folder or model-best): :func:`~.evaluation.training_curve`."""
    return training_curve(_output(run))


def _record_evaluation(measured: Mapping[str, Any]) -> Dict[str, Any]:
    """What a run record keeps of an ``evaluate`` result (not the per-type scores twice)."""
    keep = ("words_per_second", "peak_rss_mb", "n_docs", "n_words", "seconds", "dataset", "scores")
    return {key: measured[key] for key in keep if key in measured}


def run_summary(run: Path) -> Dict[str, Any]:
    """What a run record holds of a finished run on disk: ``performance`` (meta.json),
    ``size_bytes`` of model-best, ``train_seconds``, ``steps`` trained, ``curve``
    (:func:`run_curve`) and ``meta``."""
    model = resolve_run(run)
    meta = json.loads((model / "meta.json").read_text(encoding="utf-8"))
    seconds, steps = _training(run, model)
    return {
        "performance": meta.get("performance") or {},
        "size_bytes": folder_size(model),
        "train_seconds": seconds,
        "steps": steps,
        "curve": run_curve(run),
        "meta": {key: meta[key] for key in ("lang", "name", "version", "spacy_version", "pipeline") if key in meta},
    }


def save_run_record(
    run: Path, records: Path, *, root: Path, key: Optional[str] = None, command: Optional[List[str]] = None,
    evaluations: Optional[Dict[str, Dict[str, Any]]] = None, commit: Optional[str] = None,
) -> Optional[Dict[str, Any]]:
    """Write the :mod:`~.runs.records` record of a finished run (None for a run outside ``root``)."""
    output = _output(Path(run))
    path = record_path(records, output, root=root)
    if path is None:
        return None
    relative = Path(os.path.relpath(os.path.abspath(output), os.path.abspath(root))).as_posix()
    return write_record(path, run=relative, key=key, command=command, evaluations=evaluations, commit=commit,
                        **run_summary(output))


def recorded_runs(pattern: str, records: Path, *, root: Path) -> List[Dict[str, Any]]:
    """The run records whose run matches ``pattern`` (a grid glob relative to ``root``) and
    is not on disk as a finished run: what a report uses for runs trained in an earlier
    checkout."""
    if Path(pattern).is_absolute():
        return []
    found = []
    for path in sorted(glob.glob(str(Path(records) / f"{pattern}.json"))):
        record = read_record(Path(path))
        if record is None or not isinstance(record.get("run"), str):
            continue
        if _finished_run(root / record["run"]):
            continue  # the run itself is read (and its record refreshed)
        found.append(record)
    return found


def _add_run(cell: "Cell", run: Path, summary: Mapping[str, Any], task: str, *, where: Path, what: str,
             words_per_second: Optional[float]) -> None:
    """Add one run's numbers (a :func:`run_summary` or a run record) to ``cell``."""
    score = (summary.get("performance") or {}).get(TASK_SCORES[task])
    if not isinstance(score, (int, float)):
        raise InputFormatError(where, f"{what}: no {TASK_SCORES[task]} score (is it a {task} pipeline?)")
    cell.runs.append(run)
    cell.scores.append(100 * float(score))
    if summary.get("size_bytes"):
        cell.size_bytes.append(int(summary["size_bytes"]))
    if summary.get("train_seconds"):
        cell.train_seconds.append(float(summary["train_seconds"]))
    curve = [(int(row["step"]), 100 * float(row["score"])) for row in summary.get("curve") or []]
    if curve:
        cell.curves.append(curve)
    if summary.get("steps") or curve:  # records written before they kept steps: the last scored step
        cell.steps.append(int(summary.get("steps") or max(step for step, _ in curve)))
    if words_per_second:
        cell.words_per_second.append(float(words_per_second))


def collect(
    grid: Mapping[str, Any], *, root: Path, evaluations: Sequence[Path] = (), records: Optional[Path] = None,
) -> Dict[str, Dict[str, Cell]]:
    """row name -> dataset -> :class:`Cell`. With ``records``, runs no longer on disk are
    read from their run records (:func:`recorded_runs`), and each run on disk refreshes
    its record (scores, size, time, curve and the words/s measured for it)."""
    speeds = _speeds(evaluations)
    table: Dict[str, Dict[str, Cell]] = {}
    for row in grid["rows"]:
        cells: Dict[str, Cell] = {}
        for dataset, spec in grid["datasets"].items():
            pattern = (row.get("runs") or {}).get(dataset)
            evaluation = (row.get("evaluations") or {}).get(dataset)
            cell = Cell(planned=bool(pattern or evaluation))
            if pattern:
                for run in _expand(pattern, root):
                    model = resolve_run(run)
                    measured = speeds.get(str(model.resolve()))
                    _add_run(cell, run, run_summary(run), spec["task"], where=model / "meta.json",
                             what=f"row {row['name']!r}, {dataset}", words_per_second=(measured or {}).get("words_per_second"))
                    if records is not None:
                        cell.to_record.append((run, {dataset: _record_evaluation(measured)} if measured else None))
                        known = find_record(records, _output(run), root=root)
                        if known and known.get("commit"):
                            cell.commits.append(known["commit"])
                for record in recorded_runs(pattern, records, root=root) if records is not None else ():
                    cell.recorded += 1
                    if record.get("commit"):
                        cell.commits.append(record["commit"])
                    measured = (record.get("evaluations") or {}).get(dataset) or {}
                    _add_run(cell, Path(record["run"]), record, spec["task"], where=Path(records),
                             what=f"run record of {record['run']}", words_per_second=measured.get("words_per_second"))
            elif evaluation:
                cell.source = "evaluate"
                for path in sorted(glob.glob(str(root / evaluation))):
                    for result in _read_evaluation(Path(path))["pipelines"]:
                        key = "ents_f" if spec["task"] == "ner" else "cats_accuracy"
                        score = (result.get("scores") or {}).get(key) if isinstance(result, dict) else None
                        if not isinstance(score, (int, float)):
                            raise InputFormatError(
                                path, f"row {row['name']!r}, {dataset}: a result without a {key} score "
                                      f"(is it a {spec['task']} evaluation?)"
                            )
                        cell.runs.append(Path(result.get("folder", path)))
                        cell.scores.append(100 * float(score))
                        if result.get("words_per_second"):
                            cell.words_per_second.append(float(result["words_per_second"]))
                        if result.get("size_bytes"):
                            cell.size_bytes.append(int(result["size_bytes"]))
            cells[dataset] = cell
        table[row["name"]] = cells
    return table


# -- writing ----------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    """``42 s`` under a minute and a half, else whole minutes."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _first(cells: Mapping[str, Cell], attribute: str) -> Tuple[Optional[str], Optional[float]]:
    """The first dataset (in column order) whose cell has the measurement, and its mean."""
    for dataset, cell in cells.items():
        values = getattr(cell, attribute)
        if values:
            return dataset, statistics.fmean(values)
    return None, None


def _steps(cells: Mapping[str, Cell]) -> str:
    """The training steps of a row's runs: one number, or one per dataset where they differ."""
    found = {dataset: max(cell.steps) for dataset, cell in cells.items() if cell.steps}
    if not found:
        return "—"
    if len(set(found.values())) == 1:
        return f"{next(iter(found.values())):,}"
    return ", ".join(f"{steps:,} ({dataset})" for dataset, steps in found.items())


def format_markdown(grid: Mapping[str, Any], table: Mapping[str, Mapping[str, Cell]], *, header: str = "") -> str:
    datasets = grid["datasets"]
    columns = [spec.get("label", name) for name, spec in datasets.items()]
    lines = [header, ""] if header else []
    lines += ["| embeddings | " + " | ".join(columns) + " | words/s | size | training time | steps |",
              "| --- | " + " | ".join("---" for _ in columns) + " | --- | --- | --- | --- |"]
    missing, outside = [], []
    for name, cells in table.items():
        values = []
        for dataset, cell in cells.items():
            summary = cell.summary()
            if summary is None and not cell.planned:
                values.append("n/a")
                outside.append(f"{name} × {datasets[dataset].get('label', dataset)}")
            elif summary is None:
                values.append("—")
                missing.append(f"{name} × {datasets[dataset].get('label', dataset)}")
            elif summary["n"] > 1:
                values.append(f"{summary['mean']:.2f} ± {summary['std']:.2f} ({summary['n']})")
            else:
                values.append(f"{summary['mean']:.2f} (1)")
        speed_at, speed = _first(cells, "words_per_second")
        size_at, size = _first(cells, "size_bytes")
        time_at, seconds = _first(cells, "train_seconds")
        lines.append(
            f"| {name} | " + " | ".join(values)
            + f" | {f'{speed:,.0f} ({speed_at})' if speed else '—'}"
            + f" | {f'{size / 1e6:,.0f} MB' if size else '—'}"
            + f" | {f'{_duration(seconds)} ({time_at})' if seconds else '—'}"
            + f" | {_steps(cells)} |"
        )
    lines += ["", "Scores: dev, percent, mean ± std (number of seeds). words/s: `spacy-lm-suite evaluate`, "
              "one thread, on the named dataset's evaluation file; size: the pipeline folder on disk; training time: "
              "wall-clock per run, as each run recorded it (the benchmarks run two at a time on 2 cores); steps: "
              "training steps per run, per dataset where they differ."]
    recorded = sum(cell.recorded for cells in table.values() for cell in cells.values())
    if recorded:
        total = sum(len(cell.runs) for cells in table.values() for cell in cells.values() if cell.source == "runs")
        which = f"All {total} runs were" if recorded == total else f"{recorded} of the {total} runs were"
        lines += ["", f"{which} read from their run records (trained in an earlier checkout; scores, size, time, "
                      "curve and words/s as recorded then)."]
    commits: Dict[str, int] = {}
    for cells in table.values():
        for cell in cells.values():
            for commit in cell.commits:
                commits[commit[:7]] = commits.get(commit[:7], 0) + 1
    if commits:
        lines += ["", "Trained at commits (runs): " + ", ".join(f"`{c}` ({n})" for c, n in sorted(commits.items(), key=lambda kv: -kv[1])) + "."]
    notes = [f"{row['name']}: {row['note'].strip()}" for row in grid["rows"] if row.get("note")]
    if notes:
        lines += ["", "Notes. " + " ".join(note if note.endswith(".") else note + "." for note in notes)]
    if missing:
        lines += ["", "Not run yet: " + "; ".join(missing) + "."]
    if outside:
        lines += ["", "n/a: not in the grid (no run of it is trained or evaluated): " + "; ".join(outside) + "."]
    return "\n".join(lines) + "\n"


def _curve_records(table: Mapping[str, Mapping[str, Cell]]) -> List[Dict[str, Any]]:
    records = []
    for name, cells in table.items():
        for dataset, cell in cells.items():
            if not cell.curves:
                continue
            steps = sorted(set.intersection(*(set(step for step, _ in curve) for curve in cell.curves)))
            for step in steps:
                scores = [dict(curve)[step] for curve in cell.curves]
                records.append({"kind": f"{dataset}:{name}", "step": step, "score": statistics.fmean(scores)})
    return records


def plot_curves_png(grid: Mapping[str, Any], table: Mapping[str, Mapping[str, Cell]], path: Path) -> bool:
    from .runs.metrics import Curve, Panel, plot_curves

    records = _curve_records(table)
    if not records:
        return False
    panels = []
    for dataset, spec in grid["datasets"].items():
        curves = tuple(Curve("score", label=name, kind=f"{dataset}:{name}", markers=True)
                       for name in table if any(r["kind"] == f"{dataset}:{name}" for r in records))
        if curves:
            panels.append(Panel(curves, ylabel=f"{spec.get('label', dataset)} (dev, %)"))
    plot_curves(records, path, panels=panels, title="dev score during training (mean over seeds)")
    return path.exists()


def plot_speed_png(grid: Mapping[str, Any], table: Mapping[str, Mapping[str, Cell]]) -> Optional[bytes]:
    points = []
    for name, cells in table.items():
        for dataset, cell in cells.items():
            summary = cell.summary()
            if summary and summary["words_per_second"]:
                points.append((name, grid["datasets"][dataset].get("label", dataset), summary["words_per_second"], summary["mean"]))
    if not points:
        return None
    matplotlib = require("matplotlib", "plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for label in sorted({p[1] for p in points}):
        chosen = [p for p in points if p[1] == label]
        ax.scatter([p[2] for p in chosen], [p[3] for p in chosen], label=label)
        for name, _, x, y in chosen:
            ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("words/s at evaluation (1 thread, log scale)")
    ax.set_ylabel("dev score (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


def write_grid_report(
    grid_path: Path, output_dir: Path, *, evaluations: Sequence[Path] = (), root: Optional[Path] = None, header: str = "",
    records: Optional[Path] = None,
) -> Dict[str, Any]:
    """Read the grid and every run, then write :data:`GRID_FILES` to ``output_dir``
    (each atomically; a plot without a point is not written). With ``records`` (a
    folder of :mod:`~.runs.records`), runs whose folders are gone are read from their
    records, and every run read from disk writes or refreshes its record there.
    RETURNS the report."""
    grid = read_grid(grid_path)
    root = Path(root) if root is not None else Path.cwd()
    table = collect(grid, root=root, evaluations=evaluations, records=records)
    report = {
        "grid": str(grid_path),
        "datasets": grid["datasets"],
        "rows": {name: {dataset: cell.summary() for dataset, cell in cells.items()} for name, cells in table.items()},
        "not_in_grid": {name: [dataset for dataset, cell in cells.items() if not cell.planned]
                        for name, cells in table.items() if any(not cell.planned for cell in cells.values())},
        "curves": _curve_records(table),
    }
    markdown = format_markdown(grid, table, header=header)
    speed_png = plot_speed_png(grid, table)
    output_dir = check_output_dir(output_dir)
    _write_file(output_dir / "report.md", markdown.encode("utf-8"))
    _write_file(output_dir / "report.json", json.dumps(report, indent=2).encode("utf-8"))
    if not plot_curves_png(grid, table, output_dir / "curves.png"):
        (output_dir / "curves.png").unlink(missing_ok=True)  # not a stale plot of an earlier grid
    if speed_png is not None:
        _write_file(output_dir / "accuracy_vs_speed.png", speed_png)
    else:
        (output_dir / "accuracy_vs_speed.png").unlink(missing_ok=True)
    if records is not None:
        for cells in table.values():
            for cell in cells.values():
                for run, measured in cell.to_record:
                    save_run_record(run, records, root=root, evaluations=measured)
    report["markdown"] = markdown
    return report
