"""Shared fixtures: where the real benchmark data lives, and the embedded samples."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSETS_DIR = REPO_ROOT / "assets"


def find_datasets_dir() -> Path:
    """``$SPACY_LM_SUITE_DATASETS`` or ``../shared/datasets`` beside the repo root."""
    configured = os.environ.get("SPACY_LM_SUITE_DATASETS")
    if configured:
        return Path(configured)
    return REPO_ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The shared benchmark data folder; skips the test when it is absent."""
    path = find_datasets_dir()
    if not path.is_dir():
        pytest.skip(f"benchmark data not found at {path}")
    return path


@pytest.fixture(scope="session")
def assets_dir() -> Path:
    """The committed samples (WNUT-17, Gutenberg) that every test can rely on."""
    return ASSETS_DIR
