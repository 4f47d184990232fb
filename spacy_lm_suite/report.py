"""Results tables and plots from trained pipelines' dev scores.

A result is one trained pipeline directory (its ``meta.json`` holds the dev
scores spaCy recorded for the best checkpoint) or a JSON file of scores.
Runs whose names differ only by a ``-seed<N>`` suffix are grouped and shown as
mean ± standard deviation.
"""

import json
import re
import statistics
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from .errors import UserError

# The headline score of each kind of pipeline, as spaCy names it, and how we show it.
HEADLINE_SCORES = {
    "ents_f": "NER F1",
    "cats_micro_f": "textcat accuracy",
    "cats_macro_f": "textcat macro F",
    "tag_acc": "tag accuracy",
}
_SEED_SUFFIX = re.compile(r"[-_]seed\d+$")


def read_scores(path: Path) -> Dict[str, float]:
    """Dev scores of a pipeline directory (``meta.json``) or a scores JSON file."""
    path = Path(path)
    if path.is_dir():
        meta_path = path / "meta.json"
        if not meta_path.exists():
            raise UserError(f"{path}: not a trained pipeline (no meta.json)")
        scores = json.loads(meta_path.read_text(encoding="utf8")).get("performance", {})
    elif path.is_file():
        try:
            scores = json.loads(path.read_text(encoding="utf8"))
        except json.JSONDecodeError as err:
            raise UserError(f"{path}: expected a JSON object of scores ({err})") from None
    else:
        raise UserError(f"{path}: no such pipeline directory or scores file")
    return {key: float(value) for key, value in scores.items() if isinstance(value, (int, float))}


def run_name(path: Path) -> str:
    """A readable name: ``training/ner-static-seed1/model-best`` -> ``ner-static-seed1``."""
    path = Path(path)
    return path.parent.name if path.name in ("model-best", "model-last") else path.stem


def summarize(paths: Sequence[Path]) -> List[Dict]:
    """One row per experiment (seeds grouped): name, metric, mean, std, n, values."""
    groups: Dict[Tuple[str, str], List[float]] = {}
    for path in paths:
        scores = read_scores(path)
        experiment = _SEED_SUFFIX.sub("", run_name(path))
        found = [key for key in HEADLINE_SCORES if key in scores]
        if not found:
            raise UserError(f"{path}: none of the scores {sorted(HEADLINE_SCORES)} was recorded")
        key = found[0]
        groups.setdefault((experiment, key), []).append(scores[key] * 100)
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


def plot(rows: Sequence[Dict], path: Path) -> None:
    """A bar chart of the dev scores with standard-deviation error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 1.4 * len(rows)), 3.5))
    labels = [f"{row['experiment']}\n({row['metric']})" for row in rows]
    ax.bar(labels, [row["mean"] for row in rows], yerr=[row["std"] for row in rows], capsize=4, color="#4c72b0")
    for index, row in enumerate(rows):
        ax.text(index, row["mean"] + 1, f"{row['mean']:.1f}", ha="center", fontsize=8)
    ax.set_ylabel("dev score")
    ax.set_ylim(0, 105)
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(paths: Sequence[Path], output_dir: Path) -> List[Dict]:
    """Write ``results.md``, ``results.json`` and ``results.png`` to ``output_dir``."""
    rows = summarize(paths)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "results.md").write_text(format_markdown(rows), encoding="utf8")
    (output_dir / "results.json").write_text(json.dumps(rows, indent=2), encoding="utf8")
    plot(rows, output_dir / "results.png")
    return rows
