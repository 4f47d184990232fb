"""A working copy of the repo for tests that run commands as a user would (docs blocks, the demo).

``ROOT/repo`` holds copies of the inputs (assets/, configs/, scripts/, benchmarks/, docs/,
project.yml, ...), symlinks to the code (spacy_lm_suite/, tests/) and .venv, and none of what
commands write (a fresh clone has none of them); ``ROOT/shared/datasets`` points to the shared
data, so ``../shared/datasets`` resolves as beside the repo. Nothing is written into the repo.
"""

import os
import shutil
import sys
from pathlib import Path
from typing import Dict, Tuple

from datasets_path import find_datasets_dir

REPO = Path(__file__).resolve().parents[1]
# Not in the working copy: what commands write (a fresh clone has none of them), and git's.
PRODUCED = {"training", "corpus", "metrics", "packages", "vectors", "runs", "dist", "build", "logs",
            "project.lock", "pipeline", "eval.json", "prompts.txt"}
NOT_COPIED = PRODUCED | {".git", ".pytest_cache", ".venv-peer"}
LINKED = {".venv", "spacy_lm_suite", "spacy_lm_suite.egg-info", "tests"}  # the code: symlinks


def make_working_copy(root: Path) -> Tuple[Path, Dict[str, str]]:
    """``(ROOT/repo, env)``: the copy and an environment for commands run in it
    (this interpreter's bin first on PATH, no network for pip and Hugging Face)."""
    work = root / "repo"
    work.mkdir()
    for entry in REPO.iterdir():
        if entry.name in LINKED:
            (work / entry.name).symlink_to(entry)
        elif entry.name not in NOT_COPIED and entry.is_dir():
            shutil.copytree(entry, work / entry.name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "out"))
        elif entry.name not in NOT_COPIED:
            shutil.copy2(entry, work / entry.name)
    (root / "shared").mkdir()
    datasets = find_datasets_dir()
    if datasets.is_dir():
        (root / "shared" / "datasets").symlink_to(datasets.resolve())
    env = dict(os.environ)
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        SPACY_LM_SUITE_DATASETS=str(root / "shared" / "datasets"),
        PIP_NO_INDEX="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1",
    )
    return work, env
