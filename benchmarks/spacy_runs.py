"""Shared by the pipeline benchmarks: run ``spacy train`` on one core and summarise seeds."""

import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Sequence, Tuple


def train(config: Path, output: Path, overrides: Sequence[str], log: Path, python: str = sys.executable) -> Dict:
    """Train ``config`` into ``output`` with ``python -m spacy train`` (skipped if the
    run finished, see ``training_finished``: a killed run is trained again) and return
    the ``performance`` of ``model-best`` plus the training ``seconds`` (None when skipped)."""
    meta_path = output / "model-best" / "meta.json"
    seconds = None
    if not finished(output):
        output.with_suffix(".seconds").unlink(missing_ok=True)  # a stale stamp would mark this run finished
        command = [python, "-m", "spacy", "train", str(config), "--output", str(output), *overrides]
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        started = time.time()
        with log.open("w") as log_file:
            subprocess.run(command, check=True, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        seconds = time.time() - started
        output.with_suffix(".seconds").write_text(f"{seconds:.1f}\n")
    elif output.with_suffix(".seconds").exists():
        seconds = float(output.with_suffix(".seconds").read_text())
    performance = json.loads(meta_path.read_text())["performance"]
    return {**performance, "seconds": seconds}


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
METRIC = {"ner": "ents_f", "textcat": "cats_micro_f"}


def task_data(datasets: Path, tasks: Sequence[str]) -> Dict[str, Tuple[Path, Path]]:
    """(train, dev) of each task under the shared datasets folder (CoNLL-2003 for ner,
    SST-2 with GLUE's dev.tsv for textcat); exits in one line when a file is missing."""
    conll, sst2 = datasets / "conll2003", datasets / "sst2"
    data = {"ner": (conll / "train.txt", conll / "dev.txt"), "textcat": (sst2 / "train.tsv", sst2 / "dev.tsv")}
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


def train_jobs(jobs: List[Tuple], *, parallel: int) -> List[Tuple[str, str, int, Dict]]:
    """Run ``(task, system, seed, config, output, overrides[, python])`` jobs,
    ``parallel`` at a time (one core each); return ``(task, system, seed, performance)``."""

    def run(job):
        task, system, seed, config, output, overrides, *python = job
        performance = train(config, output, overrides, output.with_suffix(".log"), *python)
        print(f"{output.name}: {METRIC[task]} {performance[METRIC[task]]:.4f}", flush=True)
        return task, system, seed, performance

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(run, jobs))


def write_results(output: Path, lines: List[str], report: Dict) -> None:
    """Print the results table and write it as ``results.md`` beside ``results.json``."""
    text = "\n".join(lines) + "\n"
    print(text)
    (output / "results.md").write_text(text)
    (output / "results.json").write_text(json.dumps(report, indent=2))
