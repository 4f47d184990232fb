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


@app.command("report-grid")
def report_grid_command(
    grid: Path = typer.Argument(..., help="The grid file (YAML): datasets (columns) and rows with their runs by glob"),
    output: Path = typer.Option(Path("reports"), "--output", "-o", help="Folder for report.md, report.json and the plots"),
    evaluations: List[Path] = typer.Option(
        [], "--evaluations", "-e",
        help="`spacy-lm-suite evaluate` JSON reports (or folders of them): words/s of the pipelines they scored",
    ),
    header: Optional[str] = typer.Option(None, "--header", help="A line above the table (default: this command and the git commit)"),
    records: Optional[Path] = typer.Option(
        None, "--records", "-r",
        help="A folder of run records: runs whose folders are gone are read from it, and every run found on disk "
             "writes or refreshes its record there (the project keeps them in reports/runs)",
    ),
) -> None:
    """The project's report: every embedding type (rows) x every dataset (columns), with
    words/s, size and training time, training curves and accuracy vs speed plots."""
    import sys

    from ..grid import GRID_FILES, evaluation_files, write_grid_report
    from ..runs.provenance import git_commit

    if header is None:
        commit = git_commit()
        header = f"Made by `spacy-lm-suite {' '.join(sys.argv[1:])}`" + (f" at commit `{commit[:7]}`" if commit else "") + "."
    report = write_grid_report(grid, output, evaluations=evaluation_files(evaluations), header=header, records=records)
    typer.echo(report["markdown"])
    msg.good(f"Wrote the report to {output}:")
    for name in GRID_FILES:
        if (output / name).exists():
            typer.echo(str(output.resolve() / name))
