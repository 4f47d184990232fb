"""Shared by the pipeline benchmarks: run ``spacy train`` on one core and summarise seeds."""

import json
import os
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple


def train(config: Path, output: Path, overrides: Sequence[str], log: Path, python: str = sys.executable) -> Dict:
    """Train ``config`` into ``output`` with ``python -m spacy train`` and return the
    ``performance`` of ``model-best`` plus the training ``seconds``. Skipped when the run
    finished (see ``training_finished``: a killed run is trained again), or when its run
    record (``reports/runs``, see :mod:`spacy_lm_suite.runs.records`) holds the same command:
    then its recorded scores are returned with ``"reused": "record"`` (the folder is gone,
    e.g. trained in an earlier checkout). A run whose record holds another command (an
    edited config, other overrides) is trained again, finished folder or not. A finished
    run writes or refreshes its record."""
    from spacy_lm_suite.evaluation import stamp_seconds
    from spacy_lm_suite.grid import save_run_record
    from spacy_lm_suite.runs.provenance import git_commit
    from spacy_lm_suite.runs.records import portable

    meta_path = output / "model-best" / "meta.json"
    decision, record, key = reuse_decision(config, output, overrides, python)
    # as another checkout would write it (portable paths): the record says what made the run
    command = [os.path.relpath(os.path.abspath(python), REPO), "-m", "spacy", "train", os.path.relpath(config, REPO),
               "--output", os.path.relpath(output, REPO), *[portable(str(o), root=REPO) for o in overrides]]
    seconds = commit = None
    if decision == "record":
        print(f"{output.name}: reused from its run record {os.path.relpath(record_path_of(output), REPO)}", flush=True)
        return {**record["performance"], "seconds": record.get("train_seconds"), "reused": "record"}
    if decision == "train" and finished(output):
        print(f"{output.name}: trained again: its run record is of another command "
              f"(config or overrides changed since)", flush=True)
    if decision == "train":
        output.with_suffix(".seconds").unlink(missing_ok=True)  # a stale stamp would mark this run finished
        (output / "log.csv").unlink(missing_ok=True)  # our logger keeps an existing curve: not an earlier run's
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        commit = git_commit()  # the code the run trains with (the record is written after it)
        started = time.time()
        with log.open("w") as log_file:
            subprocess.run([python, *command[1:4], str(config), "--output", str(output), *overrides],
                           check=True, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        seconds = time.time() - started
        output.with_suffix(".seconds").write_text(f"{seconds:.1f}\n")
    else:
        seconds = stamp_seconds(output)
    # a finished folder stands for this command here, so its record says so (none outside the repository)
    save_run_record(output, RECORDS, root=REPO, key=key, command=command, commit=commit)
    performance = json.loads(meta_path.read_text())["performance"]
    return {**performance, "seconds": seconds}


def record_path_of(output: Path) -> Optional[Path]:
    """Where the run record of ``output`` lies in :data:`RECORDS` (None: outside the repository)."""
    from spacy_lm_suite.runs.records import record_path

    return record_path(RECORDS, output, root=REPO)


def run_record(output: Path) -> Optional[Dict]:
    """The run record of ``output`` (None: none, or the run is outside the repository)."""
    from spacy_lm_suite.runs.records import find_record

    return find_record(RECORDS, output, root=REPO)


def run_curve_rows(output: Path) -> List[Dict]:
    """The ``log.csv`` rows of a run (step, seconds, score), from its run record when the
    folder is gone."""
    from spacy_lm_suite.evaluation import log_rows

    rows = log_rows(output)
    if rows:
        return rows
    record = run_record(output)
    return list(record.get("curve") or []) if record else []


def finished(output: Path) -> bool:
    """Whether the ``spacy train --output`` folder holds a finished run."""
    from spacy_lm_suite.evaluation import training_finished

    return training_finished(output)


def summarize(values: List[float]) -> Dict:
    """Values with their mean and sample standard deviation (0 for one value)."""
    return {
        "values": values,
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
    }


REPO = Path(__file__).resolve().parents[1]
# run records of every benchmark run (scores, size, time, curve, command key): committed, so
# a grid run can go on in a fresh checkout without retraining what an earlier one finished
RECORDS = Path(os.environ.get("SPACY_LM_SUITE_RECORDS") or REPO / "reports" / "runs")
TREC_DEV_SAMPLE = 500  # TREC has no dev file: a fixed slice of train_5500.label (seed 0) is dev, the rest trains


@dataclass(frozen=True)
class Task:
    """A benchmark task: ``kind`` (``ner``/``textcat``: the ``{kind}_*.cfg`` configs and the
    metric), its train and dev files under the data root, evaluate's ``--format``, the fixed
    dev sample of a file without a dev split (0: the whole dev file), and the registered
    reader the configs' ``[corpora]`` are switched to (None: the configs' own)."""

    kind: str
    train: str
    dev: str
    format: str
    label: str
    dev_sample: int = 0
    reader: Optional[str] = None


TASKS = {
    "ner": Task("ner", "conll2003/train.txt", "conll2003/dev.txt", "conll2003", "CoNLL-2003 dev F1"),
    "textcat": Task("textcat", "sst2/train.tsv", "sst2/dev.tsv", "sst2", "SST-2 GLUE dev accuracy"),
    "wnut17": Task("ner", "wnut17/train.conll", "wnut17/dev.conll", "wnut17", "WNUT-17 dev F1",
                   reader="spacy-lm-suite.WNUT17Reader.v1"),
    "trec": Task("textcat", "trec/train_5500.label", "trec/train_5500.label", "trec",
                 f"TREC accuracy on a fixed {TREC_DEV_SAMPLE}-question train slice", dev_sample=TREC_DEV_SAMPLE,
                 reader="spacy-lm-suite.TRECReader.v1"),
}
METRIC = {name: {"ner": "ents_f", "textcat": "cats_micro_f"}[task.kind] for name, task in TASKS.items()}
DEV_LABEL = {name: task.label for name, task in TASKS.items()}


def kind(task: str) -> str:
    """``ner`` or ``textcat``: which configs and metric a benchmark task uses."""
    return TASKS[task].kind


def reader_overrides(task: str) -> List[str]:
    """The spaCy overrides that point a ``{kind}_*.cfg`` config's readers at the task's data
    (with a dev sample: dev reads that slice, train everything else)."""
    spec = TASKS[task]
    if spec.reader is None:
        return []
    overrides = ["--corpora.train.@readers", spec.reader, "--corpora.dev.@readers", spec.reader]
    if spec.dev_sample:
        overrides += ["--corpora.train.sample", str(spec.dev_sample), "--corpora.train.complement", "true",
                      "--corpora.dev.sample", str(spec.dev_sample)]
    return overrides


def evaluate_options(task: str) -> List[str]:
    """``--format`` and the options ``spacy-lm-suite evaluate`` reads the task's dev data with."""
    spec = TASKS[task]
    return ["--format", spec.format, *(["--sample", str(spec.dev_sample), "--sample-seed", "0"] if spec.dev_sample else [])]


def task_paths(datasets: Path, tasks: Sequence[str]) -> Dict[str, Tuple[Path, Path]]:
    """(train, dev) of each task under the shared datasets folder (ner: CoNLL-2003,
    textcat: SST-2 with GLUE's dev.tsv, wnut17, trec: TREC-6 with a fixed held-out slice)."""
    return {task: (datasets / TASKS[task].train, datasets / TASKS[task].dev) for task in tasks}


def task_data(datasets: Path, tasks: Sequence[str]) -> Dict[str, Tuple[Path, Path]]:
    """:func:`task_paths`, exiting in one line when a file is missing."""
    data = task_paths(datasets, tasks)
    for task in tasks:
        for needed in data[task]:
            if not needed.exists():
                sys.exit(f"missing {needed}: pass --datasets pointing at the shared datasets folder")
    return data


def minilm_folder() -> str:
    """The shipped MiniLM's HF folder (scripts/minilm_path.py)."""
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "minilm_path.py")], check=True, capture_output=True, text=True
    ).stdout.strip()


# minutes a run takes here (2 cores, two trainings at a time): per 1,000 steps for the static
# and ELMo systems (measured on 2026-12-02, seed 0 of each), per 500 steps for the MiniLM ones
# (the auxiliary loss doubles a step); a system's other seeds, once run, replace these
MINUTES_PER_1000 = {
    ("ner", "no-vectors"): 3.0, ("ner", "static"): 3.0, ("ner", "static-256x2"): 3.0, ("ner", "elmo"): 10.5,
    ("ner", "elmo-static"): 10.5, ("textcat", "no-vectors"): 2.2, ("textcat", "static"): 2.1, ("textcat", "elmo"): 7.6,
    ("textcat", "elmo-static"): 7.6,
    # our corpus tables (vectors-word2vec / vectors-glove), measured at 3,000 / 2,000 steps
    ("ner", "word2vec"): 3.9, ("ner", "glove"): 3.9, ("textcat", "word2vec"): 2.6, ("textcat", "glove"): 2.6,
}
MINUTES_PER_500_TRANSFORMER = {"ner": 25.0, "textcat": 15.0}


def estimated_minutes(task: str, system: str, steps: int, transformer: bool) -> float:
    """The minutes one training of ``system`` on ``task`` (a benchmark task) takes here."""
    if transformer:
        return MINUTES_PER_500_TRANSFORMER[kind(task)] * (2.0 if system.endswith("-aux") else 1.0) * steps / 500
    per_thousand = MINUTES_PER_1000.get((kind(task), system), MINUTES_PER_1000.get((kind(task), "elmo-static"), 10.5))
    return per_thousand * steps / 1000


def measured_seconds(output: Path) -> Optional[float]:
    """The seconds a finished run took (its ``.seconds`` stamp, else its run record), None if unknown."""
    from spacy_lm_suite.evaluation import stamp_seconds

    seconds = stamp_seconds(output)
    if seconds is None:
        record = run_record(output)
        seconds = record.get("train_seconds") if record else None
    return seconds


def expected_minutes(output: Path, task: str, system: str, steps: int, transformer: bool) -> float:
    """Minutes a run of ``output`` (``<task>-<system>-seed<N>``) will take: the mean of what
    its other seeds took here, else :func:`estimated_minutes`."""
    prefix = output.name.rsplit("-seed", 1)[0]
    where = record_path_of(output)
    found = [*output.parent.glob(f"{prefix}-seed*"), *(where.parent.glob(f"{prefix}-seed*.json") if where else [])]
    names = {path.name.split(".")[0] for path in found}  # the folder, its .seconds, .log and record
    siblings = sorted(output.parent / name for name in names if re.fullmatch(rf"{re.escape(prefix)}-seed\d+", name))
    measured = [seconds for seconds in map(measured_seconds, siblings) if seconds]
    if measured:
        return statistics.fmean(measured) / 60
    return estimated_minutes(task, system, steps, transformer)


@dataclass(frozen=True)
class Job:
    """One ``spacy train`` run of a benchmark: ``config`` into ``output`` with ``overrides``
    (the spaCy options, ``--paths.train`` and the rest) in the interpreter ``python``."""

    task: str
    system: str
    seed: int
    config: Path
    output: Path
    overrides: Tuple[str, ...]
    python: str = sys.executable

    @property
    def steps(self) -> int:
        """The ``--vars.max_steps`` it trains (the configs' 1,000 without one)."""
        words = list(self.overrides)
        return int(words[words.index("--vars.max_steps") + 1]) if "--vars.max_steps" in words else 1000

    @property
    def transformer(self) -> bool:
        """Whether it fine-tunes a transformer (timed per 500 steps)."""
        return "--paths.transformer" in self.overrides

    def command(self) -> str:
        """The command line, as the benchmarks print it before training."""
        return " ".join([Path(self.python).name, "-m spacy train", os.path.relpath(self.config, REPO),
                         "--output", str(self.output), *self.overrides])


def reuse_decision(config: Path, output: Path, overrides: Sequence[str], python: str) -> Tuple[str, Optional[Dict], str]:
    """How :func:`train` treats a run, with its run record and the key of the command it is
    asked for: ``"record"`` (the record holds this command and the folder is gone or
    unfinished: the recorded scores), ``"folder"`` (the folder finished and its record holds
    this command, or none of a known command: kept) or ``"train"`` (anything else: nothing
    finished of this command, or a record of another one, a changed config, seed, step
    budget or interpreter being another experiment)."""
    from spacy_lm_suite.runs.records import command_key

    record, key, done = run_record(output), command_key(config, overrides, root=REPO, python=python), finished(output)
    recorded = (record or {}).get("key") or None  # None: no record, or one of an unknown command
    if recorded == key:
        return ("folder" if done else "record"), record, key
    return ("folder" if done and recorded is None else "train"), record, key


def reusable(job: Job) -> bool:
    """Whether :func:`train` would not train ``job`` (:func:`reuse_decision`)."""
    return reuse_decision(job.config, job.output, job.overrides, job.python)[0] != "train"


def train_jobs(jobs: List[Job], *, parallel: int, max_minutes: float = 0) -> List[Tuple[str, str, int, Dict]]:
    """Run the jobs, ``parallel`` at a time (one core each); return ``(task, system, seed,
    performance)`` of each.

    With ``max_minutes``, a run that would not end within that many minutes of the start
    (by :func:`expected_minutes`) is not started; reused runs always are. When any was
    left, this exits with status 3 after the started ones end, saying how to continue:
    the same command again, which reuses every finished run (and its run record)."""
    started = time.time()
    left = []

    def run(job: Job):
        if max_minutes and not reusable(job):
            elapsed = (time.time() - started) / 60
            minutes = expected_minutes(job.output, job.task, job.system, job.steps, job.transformer)
            if elapsed + minutes > max_minutes:
                left.append(job.output.name)
                return None
        performance = train(job.config, job.output, job.overrides, job.output.with_suffix(".log"), job.python)
        print(f"{job.output.name}: {METRIC[job.task]} {performance[METRIC[job.task]]:.4f}", flush=True)
        return job.task, job.system, job.seed, performance

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        results = list(pool.map(run, jobs))
    if left:
        done = sum(result is not None for result in results)
        print(f"stopped by --max-minutes {max_minutes:g}: {done} of {len(jobs)} runs done, {len(left)} not started "
              f"({', '.join(left[:4])}{', ...' if len(left) > 4 else ''}); run the same command again to continue "
              f"(finished runs and their records in {os.path.relpath(RECORDS, REPO)} are reused)", file=sys.stderr, flush=True)
        sys.exit(3)
    return results


def write_results(output: Path, lines: List[str], report: Dict) -> None:
    """Print the results table and write it as ``results.md`` beside ``results.json``."""
    text = "\n".join(lines) + "\n"
    print(text)
    (output / "results.md").write_text(text)
    (output / "results.json").write_text(json.dumps(report, indent=2))
