"""Where the shared benchmark datasets are (importable by tests; conftest modules are not,
since pytest loads several files of that name)."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def find_datasets_dir() -> Path:
    """``$SPACY_LM_SUITE_DATASETS`` or ``../shared/datasets`` beside the repo root."""
    configured = os.environ.get("SPACY_LM_SUITE_DATASETS")
    if configured:
        return Path(configured)
    return REPO_ROOT.parent / "shared" / "datasets"
