"""The core install: our wheel alone in a fresh venv (no extras) runs spaCy and our vector table.

Builds the wheel (checking the build shows no deprecation warning), installs it
with its core dependencies from the package index into a venv in a tmp folder
(1-2 minutes; skipped when the index is unreachable) and checks, there: every
entry-point module imports, ``spacy.blank`` and a plain spaCy pipeline load, a
static-vectors pipeline with our table (saved here) loads and gives vectors,
``lm_elmo`` and ``train-vectors`` name their extra, and torch is absent.
"""

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import List

import numpy
import pytest
import spacy

from spacy_lm_suite.vectors.loading import save_vectors_pipeline
from spacy_lm_suite.vectors.table import LMVectors

from test_lazy_imports import ROOT, entry_point_modules

pytestmark = pytest.mark.slow


def run(args: List[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=900, **kwargs)


@pytest.fixture(scope="module")
def wheel_build(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess:
    """``pip wheel`` of the repo (verbose, so setuptools' warnings are in the output)."""
    out = tmp_path_factory.mktemp("wheel")
    result = run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation", "-w", str(out), "."], cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    result.wheel = next(out.glob("spacy_lm_suite-*.whl"))  # type: ignore[attr-defined]
    return result


def test_wheel_builds_without_deprecation_warnings(wheel_build: subprocess.CompletedProcess) -> None:
    output = wheel_build.stdout + wheel_build.stderr
    assert "deprecat" not in output.lower(), [line for line in output.splitlines() if "deprecat" in line.lower()]


@pytest.fixture(scope="module")
def core_python(wheel_build: subprocess.CompletedProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv holding our wheel and its core dependencies only."""
    venv = tmp_path_factory.mktemp("core") / "venv"
    assert run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    python = venv / "bin" / "python"
    probe = run([str(python), "-m", "pip", "download", "-q", "--no-deps", "-d", str(venv / "probe"), "wasabi>=1.1"])
    if probe.returncode != 0:
        pytest.skip(f"the package index is unreachable (pip download wasabi: {probe.stderr.strip()[-300:]})")
    install = run([str(python), "-m", "pip", "install", "-q", str(wheel_build.wheel)])  # type: ignore[attr-defined]
    assert install.returncode == 0, install.stderr[-3000:]
    return python


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static-vectors pipeline with our table (``vectors/``) and a plain spaCy one (``plain/``)."""
    root = tmp_path_factory.mktemp("pipelines")
    words = ["apple", "banana", "Paris"]
    data = numpy.arange(len(words) * 4, dtype="float32").reshape(len(words), 4) + 1
    save_vectors_pipeline(LMVectors(words=words, data=data), root / "vectors")
    plain = spacy.blank("en")
    plain.add_pipe("sentencizer")
    plain.to_disk(root / "plain")
    return root


CHECK = textwrap.dedent(
    """
    import importlib, sys
    import numpy, spacy

    for module in sys.argv[2:]:
        importlib.import_module(module)
    root = sys.argv[1]
    assert spacy.blank("en").pipe_names == []
    plain = spacy.load(root + "/plain")
    assert len(list(plain("One. Two.").sents)) == 2
    nlp = spacy.load(root + "/vectors")
    assert type(nlp.vocab.vectors).__name__ == "LMVectors"
    doc = nlp("APPLE and Paris")
    assert numpy.allclose(doc[0].vector, [1, 2, 3, 4]) and doc[0].has_vector and not doc[1].has_vector
    from spacy_lm_suite.errors import MissingExtraError
    try:
        spacy.blank("en").add_pipe("lm_elmo")
    except MissingExtraError as err:
        print("ELMO:", err)
    try:
        import torch
    except ImportError:
        print("NO TORCH")
    """
)


def test_core_install_runs_spacy_and_our_table(core_python: Path, pipelines: Path) -> None:
    result = run([str(core_python), "-c", CHECK, str(pipelines), *entry_point_modules()], cwd=pipelines)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'ELMO: this needs torch' in result.stdout and 'pip install "spacy-lm-suite[elmo]"' in result.stdout
    assert "NO TORCH" in result.stdout


def test_core_install_train_vectors_names_its_extra(core_python: Path, tmp_path: Path) -> None:
    (tmp_path / "text.txt").write_text("a b c\n", encoding="utf-8")
    cli = core_python.parent / "spacy-lm-suite"
    result = run([str(cli), "train-vectors", "word2vec", str(tmp_path / "text.txt"), str(tmp_path / "out")])
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'pip install "spacy-lm-suite[train]"' in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
