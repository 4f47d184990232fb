"""Words/s (and scores) of one run per cell of the report grid, through ``spacy-lm-suite evaluate``.

For every dataset column of the grid (``reports/grid.yml``) with a ``dev`` file and a
``format``, evaluates the first run (seed 0 when there is one) of every row's cell on
that file (or its fixed ``sample``, for a column that names one), one process and one
thread, and writes ``OUTPUT/<dataset>.json``: the
``--evaluations`` input of ``spacy-lm-suite report-grid``. A run trained with another
Python of the project (its run record's command names it: the spacy-transformers peer's
``.venv-peer``, whose pipelines load only there) is evaluated with that Python, into
``OUTPUT/<dataset>.<venv>.json``. Columns without a run are skipped; a missing dev file
or interpreter is one line naming it.

A result already in the output that still holds (``evaluate --keep-current``: the same dev
file and options, the run's model-best unchanged since) is kept, so a sitting measures only
the runs it trained; ``--remeasure`` measures every run again, in one pass under the same
conditions (words/s vary by about 20% between quiet passes here).

    python scripts/evaluate_grid.py reports/grid.yml --datasets ../shared/datasets --output metrics/evaluate
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

from spacy_lm_suite.grid import _expand, read_grid
from spacy_lm_suite.runs.records import find_record


MAIN_VENV = ".venv"  # the project's own (make install); any Python with the suite stands for it


def interpreter_of(run: Path, records: Path, root: Path) -> str:
    """The Python ``run`` was trained with when its run record names another venv of the
    project than the main one (``.venv-peer/bin/python``), else this one."""
    record = find_record(records, run, root=root) or {}
    python = Path(((record.get("command") or [None])[0]) or MAIN_VENV)
    parts = python.parts
    in_other_venv = not python.is_absolute() and len(parts) == 3 and parts[1] == "bin" \
        and parts[0].startswith(".venv") and parts[0] != MAIN_VENV  # .venv-peer/bin/python, inside the project
    if in_other_venv and os.path.abspath(root / python) != os.path.abspath(sys.executable):
        return str(root / python)
    return sys.executable


def by_interpreter(runs: List[Path], records: Path, root: Path) -> Dict[str, List[Path]]:
    """The runs grouped by the Python each loads in (this one first)."""
    groups: Dict[str, List[Path]] = {sys.executable: []}
    for run in runs:
        groups.setdefault(interpreter_of(run, records, root), []).append(run)
    return {python: found for python, found in groups.items() if found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("grid", type=Path)
    parser.add_argument("--datasets", type=Path, required=True, help="the data root the grid's dev paths are under")
    parser.add_argument("--output", type=Path, default=Path("metrics/evaluate"))
    parser.add_argument("--limit", type=int, default=0, help="read only the first N dev docs (0: all)")
    parser.add_argument("--records", type=Path, default=Path("reports/runs"),
                        help="the run records, which name the Python each run trained with")
    parser.add_argument("--remeasure", action="store_true",
                        help="measure every run again, also those whose result in --output still holds")
    args = parser.parse_args()
    grid = read_grid(args.grid)
    root = Path.cwd()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    args.output.mkdir(parents=True, exist_ok=True)
    for dataset, spec in grid["datasets"].items():
        if not spec.get("dev") or not spec.get("format"):
            continue
        runs = []
        for row in grid["rows"]:
            pattern = (row.get("runs") or {}).get(dataset)
            found = _expand(pattern, root) if pattern else []
            if found:
                runs.append(found[0])
        if not runs:
            print(f"{dataset}: no run yet, skipped", flush=True)
            continue
        dev = args.datasets / spec["dev"]
        if not dev.is_file():
            sys.exit(f"{dev}: no such dev file for {dataset} (the grid's dev path under --datasets {args.datasets})")
        groups = by_interpreter(runs, args.records, root)
        for python, group in groups.items():  # all there before any evaluation starts
            if not Path(python).is_file():
                sys.exit(f"{python}: no such interpreter, which {group[0]} was trained with (its run record "
                         f"in {args.records}); make it (`make peer-venv` for .venv-peer)")
        for python, group in groups.items():
            venv = "" if python == sys.executable else "." + Path(python).parent.parent.name.lstrip(".")
            target = args.output / f"{dataset}{venv}.json"
            command = [python, "-m", "spacy_lm_suite", "evaluate", *map(str, group), str(dev), "--format", spec["format"],
                       "--limit", str(args.limit), "-o", str(target), *([] if args.remeasure else ["--keep-current"])]
            if spec.get("sample"):  # a fixed held-out slice of the file (TREC has no dev file)
                command += ["--sample", str(spec["sample"]), "--sample-seed", str(spec.get("sample_seed", 0))]
            shown = "python" if python == sys.executable else os.path.relpath(python, root)
            print(" ".join([shown, *command[1:]]), flush=True)
            done = subprocess.run(command, env=env)
            if done.returncode != 0:  # evaluate printed its one-line error
                sys.exit(done.returncode)


if __name__ == "__main__":
    main()
