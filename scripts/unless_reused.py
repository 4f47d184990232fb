"""Run a command that makes something only the trainings of later project steps use,
unless none of those trainings would train: every one is finished on disk or held by a
current run record (reports/runs), so a fresh checkout's `all` does not pretrain again for
runs it will reuse. The project's `pretrain-minilm-mlm` step runs through it.

    python scripts/unless_reused.py --step transformer-adapted --var transformer_seeds="0 1 2" \\
        -- python -m spacy_lm_suite pretrain-transformer ...

The steps' runs are read from project.yml with the vars given, as `grid_budget.py` reads
them. Exit status: the command's, or 0 when it was not needed (one line says so).
"""

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grid_budget import parse_vars, planned_trainings, runs_to_train  # noqa: E402


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print("✘ unless_reused.py: give the command after `--`, e.g. "
              "--step transformer-adapted -- python -m spacy_lm_suite pretrain-transformer ...", file=sys.stderr)
        return 2
    split = argv.index("--")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--step", action="append", required=True,
                        help="a project.yml command whose trainings use what the command makes (repeatable)")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="a project var as the project runs with it")
    args = parser.parse_args(argv[:split])
    command = argv[split + 1:]
    variables = parse_vars(parser, args.var)
    try:
        plan = planned_trainings(variables=variables, commands_run=args.step)
    except KeyError as error:
        parser.error(f"--step: {error.args[0]}")
    if plan and not runs_to_train(plan):
        runs = sum(len(entry["seeds"]) for entry in plan)
        print(f"Not running `{' '.join(command[:4])} ...`: all {runs} runs of {', '.join(args.step)} that use "
              f"its output are finished or held by run records (reports/runs); delete a record to train it again")
        return 0
    if command[0] in ("python", "python3"):  # as weasel runs a script line: this interpreter
        command[0] = sys.executable
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
