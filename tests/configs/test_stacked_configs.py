"""The stacked-embedding configs: ``spacy debug config`` passes and ``spacy train`` runs a few
steps (tiny ELMo, tiny random BERT); the trained pipeline reloads and reports its mix weights."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spacy_lm_suite.elmo import ELMo, ELMoConfig
from spacy_lm_suite.elmo.checkpoint import save_elmo

REPO = Path(__file__).resolve().parents[2]
CONFIGS = [f"{task}_stacked_{kind}.cfg" for task in ("ner", "textcat") for kind in ("elmo", "minilm", "all")]
CONLL = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\ncall NN I-NP O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n"
SST2 = "sentence\tlabel\n" + "".join(f"{text} \t{label}\n" for text, label in [("a great movie", 1), ("dull and slow", 0)] * 5)
VECTORS = "eu 0.1 0.2 0.3 0.4\ngerman 0.5 0.1 0.0 0.2\nmovie 0.3 0.3 0.1 0.0\n"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("stacked-config-data")
    (root / "conll.txt").write_text(CONLL)
    (root / "sst2.tsv").write_text(SST2)
    (root / "vectors.txt").write_text(VECTORS)
    save_elmo(ELMo(ELMoConfig.preset("tiny")), root / "elmo")
    return root


def _args(config, data, tiny_bert_dir):
    corpus = data / ("sst2.tsv" if config.startswith("textcat") else "conll.txt")
    args = ["--paths.train", str(corpus), "--paths.dev", str(corpus), "--paths.vectors", str(data / "vectors.txt")]
    if "elmo" in config or "all" in config:
        args += ["--paths.elmo", str(data / "elmo")]
    if "minilm" in config or "all" in config:
        args += ["--paths.transformer", str(tiny_bert_dir), "--vars.window", "48", "--vars.stride", "32"]
    return args


def run_spacy(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "spacy", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("config", CONFIGS)
def test_debug_config_passes(config, data, tiny_bert_dir):
    result = run_spacy("debug", "config", f"configs/{config}", *_args(config, data, tiny_bert_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Config is valid" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS)
def test_train_a_few_steps_and_reload(config, data, tiny_bert_dir, tmp_path):
    result = run_spacy("train", f"configs/{config}", "--output", str(tmp_path / "out"), "--training.max_steps", "4",
                       "--training.eval_frequency", "2", *_args(config, data, tiny_bert_dir))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    code = ("import spacy, sys; from spacy_lm_suite.layers.stacked_embeddings import mix_weights; "
            "nlp = spacy.load(sys.argv[1]); task = nlp.pipe_names[-1]; nlp('EU rejects German call'); "
            "node = next(n for n in nlp.get_pipe(task).model.walk() if n.name == 'lm_stacked_embeddings'); "
            "print(sorted(mix_weights(node)))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out" / "model-best")], capture_output=True, text=True)
    kinds = {"elmo": ["elmo", "static"], "minilm": ["static", "transformer"], "all": ["elmo", "static", "transformer"]}
    assert out.stdout.strip() == str(kinds[config.split("_")[-1][:-4]]), out.stderr[-3000:]


def test_the_demo_elmo_config_passes_debug_config(data):
    wnut = REPO / "assets" / "wnut17"
    result = run_spacy("debug", "config", "configs/demo_ner_wnut17_elmo.cfg", "--paths.train", str(wnut / "train.conll"),
                       "--paths.dev", str(wnut / "dev.conll"), "--paths.vectors", str(data / "vectors.txt"),
                       "--paths.elmo", str(data / "elmo"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Config is valid" in result.stdout
