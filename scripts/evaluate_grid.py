"""Words/s (and scores) of one run per cell of the report grid, through ``spacy-lm-suite evaluate``.

For every dataset column of the grid (``reports/grid.yml``) with a ``dev`` file and a
``format``, evaluates the first run (seed 0 when there is one) of every row's cell on
that file (or its fixed ``sample``, for a column that names one), one process and one
thread, and writes ``OUTPUT/<dataset>.json``: the
``--evaluations`` input of ``spacy-lm-suite report-grid``. Columns without a run are
skipped; a missing dev file is one line naming it and the --datasets option.

    python scripts/evaluate_grid.py reports/grid.yml --datasets ../shared/datasets --output metrics/evaluate
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

from spacy_lm_suite.grid import _expand, read_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("grid", type=Path)
    parser.add_argument("--datasets", type=Path, required=True, help="the data root the grid's dev paths are under")
    parser.add_argument("--output", type=Path, default=Path("metrics/evaluate"))
    parser.add_argument("--limit", type=int, default=0, help="read only the first N dev docs (0: all)")
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
                runs.append(str(found[0]))
        if not runs:
            print(f"{dataset}: no run yet, skipped", flush=True)
            continue
        dev = args.datasets / spec["dev"]
        if not dev.is_file():
            sys.exit(f"{dev}: no such dev file for {dataset} (the grid's dev path under --datasets {args.datasets})")
        target = args.output / f"{dataset}.json"
        command = [sys.executable, "-m", "spacy_lm_suite", "evaluate", *runs, str(dev), "--format", spec["format"],
                   "--limit", str(args.limit), "-o", str(target)]
        if spec.get("sample"):  # a fixed held-out slice of the file (TREC has no dev file)
            command += ["--sample", str(spec["sample"]), "--sample-seed", str(spec.get("sample_seed", 0))]
        print(" ".join(command[1:]), flush=True)
        done = subprocess.run(command, env=env)
        if done.returncode != 0:  # evaluate printed its one-line error
            sys.exit(done.returncode)


if __name__ == "__main__":
    main()
