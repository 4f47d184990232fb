"""The static-vector configs validate and train with plain ``python -m spacy train``."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ASSETS = CONFIGS.parent / "assets"
CONLL = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\ncall NN I-NP O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n"
SST2 = "sentence\tlabel\n" + "".join(
    f"{text} \t{label}\n" for text, label in [("a great movie", 1), ("dull and slow", 0)] * 10
)


def _spacy(*args):
    return subprocess.run([sys.executable, "-m", "spacy", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    (root / "ner.txt").write_text(CONLL, encoding="utf8")
    (root / "sst2.tsv").write_text(SST2, encoding="utf8")
    (root / "tiny.vec").write_text("3 4\neu 1 0 0 0\ngerman 0 1 0 0\ncall 0 0 1 0\n", encoding="utf8")
    return root


def _overrides(config, data):
    if "wnut17" in config:
        paths = [ASSETS / "wnut17" / "train.conll", ASSETS / "wnut17" / "dev.conll"]
    elif "ner" in config:
        paths = [data / "ner.txt", data / "ner.txt"]
    elif "authors" in config:
        paths = [ASSETS / "gutenberg" / "train.jsonl", ASSETS / "gutenberg" / "dev.jsonl"]
    else:
        paths = [data / "sst2.tsv", data / "sst2.tsv"]
    args = ["--paths.train", str(paths[0]), "--paths.dev", str(paths[1])]
    text = (CONFIGS / config).read_text()
    if "vectors = null" in text.split("[system]")[0]:
        args += ["--paths.vectors", str(data / "tiny.vec")]
    return args


STATIC_CONFIGS = [
    "demo_ner_wnut17_static.cfg",
    "ner.cfg", "ner_static.cfg", "ner_spacy_vectors.cfg", "textcat_static.cfg", "textcat_spacy_vectors.cfg",
    "demo_ner_wnut17.cfg", "demo_textcat_authors.cfg"]


@pytest.mark.parametrize("config", STATIC_CONFIGS)
def test_config_passes_debug_config(config, data):
    result = _spacy("debug", "config", str(CONFIGS / config), *_overrides(config, data))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("config", ["ner_static.cfg", "textcat_static.cfg"])
def test_static_config_trains_and_reloads_with_our_table(config, data, tmp_path):
    """``SST-2`` here has 20 rows: sample 2,000 takes them all, with a warning."""
    args = _overrides(config, data)
    if "textcat" in config:
        args += ["--corpora.train.sample", "6", "--corpora.dev.sample", "6"]
    result = _spacy("train", str(CONFIGS / config), "--output", str(tmp_path), "--vars.max_steps", "4", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    code = (
        "import spacy, sys; nlp = spacy.load(sys.argv[1]);"
        "print(type(nlp.vocab.vectors).__name__, nlp('German')[0].vector.tolist())"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "model-last")], capture_output=True, text=True)
    assert out.stdout.split(" ", 1) == ["LMVectors", "[0.0, 1.0, 0.0, 0.0]\n"], out.stderr
    meta = json.loads((tmp_path / "model-last" / "meta.json").read_text())
    assert meta["vectors"]["width"] == 4
