"""Results tables and plots from trained pipelines' dev scores.

A result is one of:

- a trained pipeline directory (``model-best``): its ``meta.json`` holds the
  dev scores spaCy recorded for the best checkpoint;
- a ``spacy train --output`` directory: its ``model-best`` is read;
- a JSON file of scores: ``spacy evaluate --output`` metrics, a
  ``meta.json``, or any flat ``{"ents_f": ...}`` object.

Scales: spaCy writes scores as fractions in [0, 1] (``performance`` in
``meta.json``, ``spacy evaluate --output``), and only prints them as percent.
Other tools write percent. A scores file is read as percent when it says so
(``"scale": "percent"``, or ``"fraction"``) or, without that key, when one of
its headline scores is above 1; everything is shown in percent, so a score
already in percent is never multiplied by 100 again. (A percent file whose
headline scores are all <= 1 cannot be told from fractions: give it a
``scale``.)

Runs whose names differ only by a ``-seed<N>`` suffix are grouped and shown as
mean ± standard deviation.
"""

import io
import json
import os
import re
import statistics
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from .errors import InputFormatError, UserError
from .extras import require

# The headline score of each kind of pipeline, as spaCy names it, and how we show it.
HEADLINE_SCORES = {
    "ents_f": "NER F1",
    "cats_micro_f": "textcat accuracy",
    "cats_macro_f": "textcat macro F",
    "tag_acc": "tag accuracy",
}
SCALES = {"fraction": 100.0, "percent": 1.0}
"""Factor that turns a score of each scale into percent."""
REPORT_FILES = ("results.md", "results.json", "results.png")
"""What :func:`write_report` writes, and the only files it replaces."""
_SEED_SUFFIX = re.compile(r"[-_]seed\d+$")


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputFormatError(path, f"expected a JSON object of scores ({err})") from None


def resolve_run(path: Path) -> Path:
    """The file or pipeline directory a result path stands for: a
    ``spacy train --output`` directory stands for its ``model-best``."""
    path = Path(path)
    if path.is_dir() and not (path / "meta.json").exists() and (path / "model-best" / "meta.json").exists():
        return path / "model-best"
    return path


def read_scores(path: Path) -> Dict[str, float]:
    """Dev scores of a result (see the module docstring) in percent."""
    path = resolve_run(path)
    if path.is_dir():
        meta_path = path / "meta.json"
        if not meta_path.exists():
            raise UserError(
                f"{path}: not a trained pipeline (no meta.json) nor a `spacy train --output` folder "
                "(no model-best/meta.json)"
            )
        return _percent(meta_path, _performance(meta_path, _read_json(meta_path)), scale="fraction")
    if not path.is_file():
        raise UserError(f"{path}: no such pipeline directory or scores file")
    content = _read_json(path)
    if isinstance(content, dict) and "performance" in content:  # a meta.json
        return _percent(path, _performance(path, content), scale="fraction")
    if not isinstance(content, dict):
        raise InputFormatError(path, "expected a JSON object of scores", found=type(content).__name__)
    scale = content.get("scale")
    if scale is not None and scale not in SCALES:
        raise InputFormatError(path, f"expected \"scale\" to be one of {list(SCALES)}", found=str(scale))
    return _percent(path, content, scale=scale or _detect_scale(content))


def _performance(path: Path, meta: object) -> Dict:
    performance = meta.get("performance", {}) if isinstance(meta, dict) else None
    if not isinstance(performance, dict):
        raise InputFormatError(path, "expected a \"performance\" object of scores as spaCy writes it", found=str(performance))
    return performance


def _detect_scale(scores: Dict) -> str:
    """``percent`` if a headline score is above 1, else ``fraction`` (spaCy's convention)."""
    headline = [scores[key] for key in HEADLINE_SCORES if _is_number(scores.get(key))]
    return "percent" if any(value > 1.0 for value in headline) else "fraction"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _percent(path: Path, scores: Dict, *, scale: str) -> Dict[str, float]:
    """The headline scores in percent, each checked to lie on its scale."""
    factor = SCALES[scale]
    out: Dict[str, float] = {}
    for key in HEADLINE_SCORES:
        value = scores.get(key)
        if value is None:
            continue
        if not _is_number(value) or not 0.0 <= value * factor <= 100.0:
            bound = "[0, 1]" if scale == "fraction" else "[0, 100]"
            raise InputFormatError(path, f"expected {key} as a {scale} in {bound}", found=repr(value))
        out[key] = float(value) * factor
    return out


def run_name(path: Path) -> str:
    """A readable name: ``training/ner-static-seed1/model-best`` (or the
    ``training/ner-static-seed1`` output folder) -> ``ner-static-seed1``."""
    path = resolve_run(path)
    return path.parent.name if path.name in ("model-best", "model-last") else path.stem


def summarize(paths: Sequence[Path]) -> List[Dict]:
    """One row per experiment (seeds grouped): name, metric, mean, std, n, values (percent)."""
    if not paths:
        raise UserError("report: expected at least one pipeline directory, training output folder or scores file")
    groups: Dict[Tuple[str, str], List[float]] = {}
    for path in paths:
        scores = read_scores(path)
        experiment = _SEED_SUFFIX.sub("", run_name(path))
        found = [key for key in HEADLINE_SCORES if key in scores]
        if not found:
            raise UserError(f"{path}: none of the scores {sorted(HEADLINE_SCORES)} was recorded")
        key = found[0]
        groups.setdefault((experiment, key), []).append(scores[key])
    rows = []
    for (experiment, key), values in groups.items():
        rows.append(
            {
                "experiment": experiment,
                "metric": HEADLINE_SCORES[key],
                "mean": statistics.fmean(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                "n": len(values),
                "values": values,
            }
        )
    return rows


def format_markdown(rows: Sequence[Dict]) -> str:
    lines = ["| experiment | metric | dev score | runs |", "| --- | --- | --- | --- |"]
    for row in rows:
        score = f"{row['mean']:.2f} ± {row['std']:.2f}" if row["n"] > 1 else f"{row['mean']:.2f}"
        lines.append(f"| {row['experiment']} | {row['metric']} | {score} | {row['n']} |")
    return "\n".join(lines) + "\n"


def plot_png(rows: Sequence[Dict]) -> bytes:
    """A bar chart of the dev scores with standard-deviation error bars, as PNG bytes."""
    matplotlib = require("matplotlib", "plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 1.4 * len(rows)), 3.5))
    labels = [f"{row['experiment']}\n({row['metric']})" for row in rows]
    ax.bar(labels, [row["mean"] for row in rows], yerr=[row["std"] for row in rows], capsize=4, color="#4c72b0")
    for index, row in enumerate(rows):
        ax.text(index, row["mean"] + 1, f"{row['mean']:.1f}", ha="center", fontsize=8)
    ax.set_ylabel("dev score (%)")
    ax.set_ylim(0, 105)
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


def check_output_dir(output_dir: Path) -> Path:
    """``output_dir`` if it is (or can be made) a writable folder, else ``UserError``.
    Makes the folder (and its parents) when it is missing."""
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise UserError(f"--output {output_dir}: is a file, expected a folder for {', '.join(REPORT_FILES)}")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"--output {output_dir}: cannot create the folder ({err.strerror or err})") from None
    if not os.access(output_dir, os.W_OK | os.X_OK):
        raise UserError(f"--output {output_dir}: the folder is not writable")
    return output_dir


def _write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over
    ``path``: a reader never sees a half-written file, and the file gets the
    user's umask (``open`` honours it, unlike ``mkstemp``)."""
    temporary = path.with_name(f".{path.name}.partial")
    try:
        with temporary.open("wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except OSError as err:
        temporary.unlink(missing_ok=True)
        raise UserError(f"{path}: cannot write the file ({err.strerror or err})") from None


def write_report(paths: Sequence[Path], output_dir: Path) -> List[Dict]:
    """Write ``results.md``, ``results.json`` and ``results.png`` to ``output_dir``.

    Every input is read and the plot drawn before anything is written, so a
    bad input leaves the folder as it was; only those three files are replaced,
    each atomically. RETURNS the rows (see :func:`summarize`).
    """
    rows = summarize(paths)
    contents = {
        "results.md": format_markdown(rows).encode("utf8"),
        "results.json": json.dumps(rows, indent=2).encode("utf8"),
        "results.png": plot_png(rows),
    }
    output_dir = check_output_dir(output_dir)
    for name in REPORT_FILES:
        _write_file(output_dir / name, contents[name])
    return rows
