"""``report``: dev-score tables and plots of trained pipelines."""

from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from . import app
from ..report import REPORT_FILES, write_report

DEFAULT_OUTPUT = Path("metrics")


@app.command("report")
def report_command(
    runs: List[Path] = typer.Argument(
        ...,
        help="Trained pipeline directories (model-best), `spacy train --output` folders (their model-best is read) "
        "or scores JSON files (fractions as spaCy writes them, or percent)",
    ),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help=f"Folder for {', '.join(REPORT_FILES)} (default: ./{DEFAULT_OUTPUT}); other files in it are left alone"
    ),
) -> None:
    """Print a table of dev scores in percent (seeds grouped as mean ± std) and plot it."""
    output_dir = output or DEFAULT_OUTPUT
    rows = write_report(runs, output_dir)
    table = [
        (row["experiment"], row["metric"], f"{row['mean']:.2f}", f"{row['std']:.2f}", row["n"]) for row in rows
    ]
    msg.table(table, header=("experiment", "metric", "mean %", "std", "runs"), divider=True)
    msg.good(f"Wrote the report to {output_dir}:")
    for name in REPORT_FILES:  # one full path per line, never wrapped
        typer.echo(str(output_dir.resolve() / name))
