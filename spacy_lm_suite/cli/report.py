"""``report``: dev-score tables and plots of trained pipelines."""

from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from . import app
from ..report import write_report


@app.command("report")
def report_command(
    runs: List[Path] = typer.Argument(..., help="Trained pipeline directories (model-best) or scores JSON files"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Folder for results.md/.json/.png"),
) -> None:
    """Print a table of dev scores (seeds grouped as mean ± std) and plot it."""
    output_dir = output or Path("metrics")
    rows = write_report(runs, output_dir)
    table = [
        (row["experiment"], row["metric"], f"{row['mean']:.2f}", f"{row['std']:.2f}", row["n"]) for row in rows
    ]
    msg.table(table, header=("experiment", "metric", "mean", "std", "runs"), divider=True)
    msg.good(f"Wrote {output_dir}/results.md, results.json and results.png")
