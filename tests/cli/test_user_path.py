"""Issue 11: what the CLI tells a spaCy user must work (hints, stock configs, resume, choices)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli_support import run

ROOT = Path(__file__).resolve().parents[2]
RAW = ROOT / "assets" / "gutenberg" / "raw.txt"
WNUT = ROOT / "assets" / "wnut17" / "dev.conll"


GLOVE = ["--dim", "8", "--epochs", "3", "--threads", "1", "--min-count", "2", "--limit", "300"]


@pytest.fixture(scope="module")
def glove_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "glove"
    subprocess.run([sys.executable, "-m", "spacy_lm_suite", "train-vectors", "glove", str(RAW), str(out), *GLOVE],
                   check=True, capture_output=True)
    return out


def test_version(capsys, monkeypatch):
    code, out = run(["--version"], capsys, monkeypatch)
    assert code == 0 and out.startswith("spacy-lm-suite ")


@pytest.mark.parametrize("args, option", [
    (["coverage", "x", "y", "-d", "hdf5"], "--data-format"),
    (["convert-vectors", "x", "y", "-F", "hdf5"], "--output-format"),
    (["train-vectors", "word2vec", "x", "y", "-a", "sg"], "--architecture"),
    (["pretrain-elmo", "x", "y", "--preset", "huge"], "--preset"),
    (["pretrain-elmo", "x", "y", "--tokenizer", "bpe"], "--tokenizer"),
    (["pretrain-elmo", "x", "y", "--format", "txt"], "--format"),
    (["pretrain-transformer", "x", "y", "--objective", "xlm"], "--objective"),
    (["pretrain-transformer", "x", "y", "--format", "txt"], "--format"),
    (["pretrain-transformer", "x", "y", "--preset", "base"], "--preset"),
    (["generate", "m", "hi", "--dtype", "fp8"], "--dtype"),
    (["generate", "m", "hi", "--quantize", "int4"], "--quantize"),
    (["annotate", "p", "x", "y", "--format", "txt"], "--format"),
    (["train-vectors", "glove", "x", "y", "--format", "txt"], "--format"),
])
def test_choices_are_one_line_errors(args, option, capsys, monkeypatch):
    code, out = run(args, capsys, monkeypatch)
    assert code == 1 and out.count("\u2718") == 1 and f"{option}: expected one of" in out and "Traceback" not in out


@pytest.mark.parametrize("command, listed", [
    (["convert-vectors"], ["[table|pipeline|w"]),
    (["pretrain-elmo"], ["[tiny|small|medium]", "[spacy|whitespace]", "[auto|lines|paragraphs|jsonl|spacy]"]),
    (["pretrain-transformer"], ["[mlm|clm]", "[tiny|small]", "[auto|lines|paragraphs|jsonl|spacy]"]),
    (["generate"], ["[float32|bfloat16|float16]", "[int8]"]),
])
def test_choices_listed_in_help(command, listed, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code, out = run([*command, "--help"], capsys, monkeypatch)
    assert code == 0 and all(choices in out for choices in listed), out


def test_cli_choices_are_the_librarys():
    """The CLI keeps some lists itself (--help imports no torch): they must be the library's."""
    import inspect

    from spacy_lm_suite.cli import TEXT_FORMATS, elmo, pretrain_transformer
    from spacy_lm_suite.data.rawtext import FORMATS
    from spacy_lm_suite.elmo import config as elmo_config
    from spacy_lm_suite.elmo.pretrain import pretrain_elmo

    assert TEXT_FORMATS == FORMATS
    assert elmo.PRESETS == elmo_config.PRESETS and elmo.DEFAULT_PRESET == elmo_config.DEFAULT_PRESET
    assert inspect.signature(pretrain_elmo).parameters["config"].default == elmo_config.DEFAULT_PRESET
    transformers_pretrain = pytest.importorskip("spacy_lm_suite.transformers.pretrain")
    assert pretrain_transformer.OBJECTIVES == transformers_pretrain.OBJECTIVES
    assert pretrain_transformer.PRESETS == transformers_pretrain.PRESETS


def test_pretrain_elmo_defaults_to_the_recommended_preset(capsys, monkeypatch):
    """medium: the shape docs/elmo.md pretrains and ships (tiny is for tests)."""
    monkeypatch.setenv("COLUMNS", "200")
    code, out = run(["pretrain-elmo", "--help"], capsys, monkeypatch)
    assert code == 0 and "default: medium" in out


def test_hint_and_run_folder(glove_run, capsys, monkeypatch, tmp_path):
    assert not (glove_run / "checkpoint").exists()
    code, out = run(["evaluate-vectors", glove_run, "-o", tmp_path / "e.json"], capsys, monkeypatch)
    assert code == 0, out
    code, out = run(["convert-vectors", glove_run, tmp_path / "p", "-F", "pipeline"], capsys, monkeypatch)
    assert code == 0 and '@vectors = "spacy-lm-suite.Vectors.v1"' in out and "spacy-lm-suite.load_vectors.v1" in out


def test_resume_options(tmp_path, capsys, monkeypatch):
    out = tmp_path / "g"
    code, text = run(["train-vectors", "glove", RAW, out, *GLOVE, "--stop-after", "1"], capsys, monkeypatch)
    assert code == 0, text
    code, text = run(["train-vectors", "glove", RAW, out, "--resume", "--dim", "16"], capsys, monkeypatch)
    assert code == 1 and "--dim: this run" in text and "8" in text
    code, text = run(["train-vectors", "glove", WNUT, out, "--resume"], capsys, monkeypatch)
    assert code == 1 and "INPUT: this run" in text
    code, text = run(["train-vectors", "glove", RAW, out, "--resume", "--epochs", "4"], capsys, monkeypatch)
    assert code == 0, text
    assert json.loads((out / "config.json").read_text())["settings"]["epochs"] == 4
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]


def test_word2vec_resume_refuses_window(tmp_path, capsys, monkeypatch):
    out = tmp_path / "w"
    args = ["--dim", "8", "--epochs", "2", "--workers", "1", "--min-count", "2", "--limit", "300", "--loss-sample", "100"]
    code, text = run(["train-vectors", "word2vec", RAW, out, *args, "--stop-after", "1"], capsys, monkeypatch)
    assert code == 0, text
    code, text = run(["train-vectors", "word2vec", RAW, out, "--resume", "--window", "2", "--limit", "300"], capsys, monkeypatch)
    assert code == 1 and "--window: this run" in text
    code, text = run(["train-vectors", "word2vec", RAW, out, "--resume", "--epochs", "3", "--limit", "300"], capsys, monkeypatch)
    assert code == 0, text
    assert json.loads((out / "state.json").read_text())["epochs_done"] == 3


def test_coverage_detects_format(glove_run, tmp_path, capsys, monkeypatch):
    code, out = run(["coverage", glove_run, WNUT, "-o", tmp_path / "c.json"], capsys, monkeypatch)
    assert code == 0 and json.loads((tmp_path / "c.json").read_text())["data_format"] == "wnut17"
    (tmp_path / "odd.tsv").write_text("a\tb\tc\nd\te\tf\n")
    code, out = run(["coverage", glove_run, tmp_path / "odd.tsv"], capsys, monkeypatch)
    assert code == 1 and "--data-format" in out


def test_stock_config_fails_naming_our_class(glove_run, tmp_path):
    """`spacy init config` + our pipeline folder: a clear error, not IndexError."""
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    docs = [nlp("Paris is nice ."), nlp("London is big .")]
    DocBin(docs=docs).to_disk(tmp_path / "d.spacy")
    cfg = tmp_path / "c.cfg"
    subprocess.run([sys.executable, "-m", "spacy", "init", "config", str(cfg), "-p", "tagger", "-o", "efficiency", "-F"],
                   check=True, capture_output=True)
    result = subprocess.run(
        [sys.executable, "-m", "spacy", "train", str(cfg), "--paths.train", str(tmp_path / "d.spacy"),
         "--paths.dev", str(tmp_path / "d.spacy"), "--paths.vectors", str(glove_run / "pipeline"),
         "--components.tok2vec.model.embed.include_static_vectors", "true", "--training.max_steps", "1"],
        capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "IndexError" not in result.stderr and "spacy-lm-suite.Vectors.v1" in result.stderr, result.stderr[-2000:]
