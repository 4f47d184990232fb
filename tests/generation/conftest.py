"""Tiny random GPT-2 and Llama folders (byte-level BPE trained in-process), one torch thread."""

import pytest

from spacy_lm_suite.generation.tiny import build_tiny_causal_lm


@pytest.fixture(autouse=True, scope="module")
def _torch_on_one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-causal-lms")
    return {kind: build_tiny_causal_lm(root / kind, kind=kind) for kind in ("gpt2", "llama")}


@pytest.fixture(scope="session")
def tiny_generators(tiny_folders):
    from spacy_lm_suite.generation import Generator

    return {kind: Generator.load(folder) for kind, folder in tiny_folders.items()}
