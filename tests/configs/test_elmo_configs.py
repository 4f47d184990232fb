"""The ELMo configs: ``spacy debug config`` passes and ``spacy train`` runs a few steps."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spacy_lm_suite.elmo import ELMo, ELMoConfig
from spacy_lm_suite.elmo.checkpoint import save_elmo

REPO = Path(__file__).resolve().parents[2]
CONFIGS = ["ner_elmo.cfg", "textcat_elmo.cfg", "ner_elmo_static.cfg", "textcat_elmo_static.cfg"]
CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
visited VBD B-VP O
London NNP B-NP B-LOC
. . O O
"""
SST2_ROWS = ["a gorgeous , witty film\t1", "the plot is a mess\t0", "warm and funny\t1", "dull , dull , dull\t0"]
VECTORS = "eu 0.1 0.2 0.3 0.4\nlondon 0.5 0.1 0.0 0.2\nfilm 0.3 0.3 0.1 0.0\n. 0.0 0.1 0.0 0.1\n"


def run_spacy(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "spacy", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize("config", CONFIGS)
def test_debug_config_passes(config):
    sample = "assets/gutenberg/train.jsonl" if config.startswith("textcat") else "assets/wnut17/train.conll"
    result = run_spacy(
        "debug", "config", f"configs/{config}", "--paths.train", sample, "--paths.dev", sample,
        "--paths.elmo", "assets", *(["--paths.vectors", "assets"] if "static" in config else []),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Config is valid" in result.stdout


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("elmo-config-data")
    (root / "conll.txt").write_text(CONLL)
    (root / "sst2.tsv").write_text("sentence\tlabel\n" + "\n".join(SST2_ROWS * 5) + "\n")
    (root / "vectors.txt").write_text(VECTORS)
    save_elmo(ELMo(ELMoConfig.preset("tiny")), root / "elmo")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS)
def test_train_a_few_steps(config, data, tmp_path):
    corpus = data / ("sst2.tsv" if config.startswith("textcat") else "conll.txt")
    extra = ["--paths.vectors", str(data / "vectors.txt")] if "static" in config else []
    if config.startswith("textcat"):
        extra += ["--corpora.train.sample", "8", "--corpora.dev.sample", "8"]
    result = run_spacy(
        "train", f"configs/{config}", "--output", str(tmp_path / "out"),
        "--paths.train", str(corpus), "--paths.dev", str(corpus), "--paths.elmo", str(data / "elmo"),
        "--training.max_steps", "4", "--training.eval_frequency", "2", *extra,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "out" / "model-last" / "lm_elmo" / "model").is_file()
