"""Shared by the pipeline benchmarks: run ``spacy train`` on one core and summarise seeds."""

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence


def train(config: Path, output: Path, overrides: Sequence[str], log: Path) -> Dict:
    """Train ``config`` into ``output`` (skipped if ``model-best`` exists) and
    return the ``performance`` of ``model-best`` plus the training ``seconds``."""
    meta_path = output / "model-best" / "meta.json"
    seconds = None
    if not meta_path.exists():
        command = [sys.executable, "-m", "spacy", "train", str(config), "--output", str(output), *overrides]
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        started = time.time()
        with log.open("w") as log_file:
            subprocess.run(command, check=True, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        seconds = time.time() - started
    performance = json.loads(meta_path.read_text())["performance"]
    return {**performance, "seconds": seconds}


def summarize(values: List[float]) -> Dict:
    """Values with their mean and sample standard deviation (0 for one value)."""
    return {
        "values": values,
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
    }
