"""The transformer configs validate and train a few steps with plain ``spacy train`` (tiny random BERT)."""

import subprocess
import sys
from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
CONLL = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\ncall NN I-NP O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n"
SST2 = "sentence\tlabel\n" + "".join(f"{text} \t{label}\n" for text, label in [("a great movie", 1), ("dull and slow", 0)] * 5)
CONFIG_NAMES = ["ner_minilm.cfg", "ner_minilm_static.cfg", "textcat_minilm.cfg", "textcat_minilm_static.cfg"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    (root / "ner.txt").write_text(CONLL, encoding="utf8")
    (root / "sst2.tsv").write_text(SST2, encoding="utf8")
    (root / "tiny.vec").write_text("3 4\neu 1 0 0 0\ngerman 0 1 0 0\ncall 0 0 1 0\n", encoding="utf8")
    return root


def _args(config, data, tiny_bert_dir):
    path = data / ("sst2.tsv" if "textcat" in config else "ner.txt")
    args = ["--paths.train", str(path), "--paths.dev", str(path), "--paths.transformer", str(tiny_bert_dir),
            "--vars.window", "48", "--vars.stride", "32"]
    if "static" in config:
        args += ["--paths.vectors", str(data / "tiny.vec")]
    return args


def _spacy(*args):
    return subprocess.run([sys.executable, "-m", "spacy", *args], capture_output=True, text=True)


@pytest.mark.parametrize("config", CONFIG_NAMES)
def test_config_passes_debug_config(config, data, tiny_bert_dir):
    result = _spacy("debug", "config", str(CONFIGS / config), *_args(config, data, tiny_bert_dir))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIG_NAMES)
def test_config_trains_a_few_steps_and_reloads(config, data, tiny_bert_dir, tmp_path):
    result = _spacy("train", str(CONFIGS / config), "--output", str(tmp_path), "--vars.max_steps", "4",
                    "--vars.warmup_steps", "1", "--training.eval_frequency", "2", *_args(config, data, tiny_bert_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    code = "import spacy, sys; nlp = spacy.load(sys.argv[1]); doc = nlp('EU rejects German call'); print(doc.tensor.shape)"
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "model-best")], capture_output=True, text=True)
    assert out.stdout.strip() == ("(4, 96)" if "static" in config else "(4, 32)"), out.stderr


@pytest.mark.slow
def test_the_auxiliary_loss_trains_logs_its_column_and_is_not_saved(data, tiny_bert_dir, tmp_path):
    config = "ner_minilm.cfg"
    result = _spacy("train", str(CONFIGS / config), "--output", str(tmp_path), "--vars.max_steps", "4",
                    "--vars.warmup_steps", "1", "--training.eval_frequency", "2", "--vars.aux_weight", "0.1",
                    *_args(config, data, tiny_bert_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    header = next(line for line in result.stdout.splitlines() if line.lstrip().startswith("E "))
    assert "LOSS MLM" in header
    saved = (tmp_path / "model-best" / "lm_transformer" / "cfg").read_text()
    assert '"weight":0.1' in saved.replace(" ", "")
    code = ("import spacy, sys; from spacy_lm_suite.layers.transformer import hf_encoder; nlp = spacy.load(sys.argv[1]); "
            "print(hf_encoder(nlp.get_pipe('lm_transformer').encoder).lm_head)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "model-best")], capture_output=True, text=True)
    assert out.stdout.strip() == "None", out.stderr
