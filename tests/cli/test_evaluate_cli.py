import json

import pytest
import spacy
from spacy.tokens import DocBin

from cli_support import run_output as run

PATTERNS = [
    {"label": "person", "pattern": [{"IS_TITLE": True}, {"IS_TITLE": True}]},
    {"label": "location", "pattern": [{"LOWER": {"IN": ["london", "paris", "nyc"]}}]},
]




@pytest.fixture(scope="module")
def ruler(tmp_path_factory):
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(PATTERNS)
    path = tmp_path_factory.mktemp("pipelines") / "ruler"
    nlp.to_disk(path)
    return path


@pytest.fixture
def wnut(assets_dir):
    return assets_dir / "wnut17" / "dev.conll"


@pytest.mark.parametrize("command", ["evaluate", "convert"])
def test_help(command, capsys, monkeypatch):
    code, out = run([command, "--help"], capsys, monkeypatch)
    assert code == 0 and "Usage" in out and "--format" in out


def test_evaluate_writes_metrics(ruler, wnut, tmp_path, capsys, monkeypatch):
    output = tmp_path / "metrics.json"
    code, out = run(["evaluate", ruler, ruler, wnut, "--format", "wnut17", "--limit", "50", "--no-isolate", "-o", output], capsys, monkeypatch)
    assert code == 0, out
    report = json.loads(output.read_text())
    assert [result["docs"] for result in report["pipelines"]] == [50, 50]
    assert report["groups"][0]["n"] == 2 and "± 0.00 over 2 seeds" in out
    assert "ruler" in out and "words/s" in out


def test_evaluate_keeps_current_results(ruler, wnut, tmp_path, capsys, monkeypatch):
    output = tmp_path / "metrics.json"
    args = ["evaluate", ruler, wnut, "--format", "wnut17", "--limit", "20", "--no-isolate", "-o", output]
    assert run(args, capsys, monkeypatch)[0] == 0
    first = json.loads(output.read_text())["pipelines"][0]
    code, out = run([*args, "--keep-current"], capsys, monkeypatch)
    assert code == 0 and "Kept 1 result(s)" in out, out
    assert json.loads(output.read_text())["pipelines"][0] == first
    code, out = run(args, capsys, monkeypatch)  # without it, measured again
    assert code == 0 and "Kept" not in out
    assert json.loads(output.read_text())["pipelines"][0]["measured_at"] >= first["measured_at"]


def test_evaluate_prints_json_without_output(ruler, wnut, capsys, monkeypatch):
    code, out = run(["evaluate", ruler, wnut, "--format", "wnut17", "--limit", "5", "--no-isolate"], capsys, monkeypatch)
    assert code == 0, out
    assert '"format": "spacy-lm-suite.evaluation"' in out


@pytest.mark.slow
def test_evaluate_isolated_measures_each_pipeline(ruler, wnut, tmp_path, capsys, monkeypatch):
    output = tmp_path / "metrics.json"
    code, out = run(["evaluate", ruler, wnut, "--format", "wnut17", "--limit", "20", "-o", output], capsys, monkeypatch)
    assert code == 0, out
    result = json.loads(output.read_text())["pipelines"][0]
    assert result["peak_rss_scope"] == "pipeline" and result["peak_rss_bytes"] > 0


def test_convert(wnut, tmp_path, capsys, monkeypatch):
    output = tmp_path / "dev.spacy"
    code, out = run(["convert", wnut, output, "--format", "wnut17", "--limit", "7"], capsys, monkeypatch)
    assert code == 0, out
    assert "Wrote 7 docs" in out
    assert len(list(DocBin().from_disk(output).get_docs(spacy.blank("en").vocab))) == 7
    code, out = run(["convert", wnut, output, "--format", "wnut17"], capsys, monkeypatch)
    assert code == 1 and "--overwrite" in " ".join(out.split())
    code, out = run(["convert", wnut, output, "--format", "wnut17", "--overwrite"], capsys, monkeypatch)
    assert code == 0, out


@pytest.mark.parametrize(
    "args, expected",
    [
        (["evaluate", "{ruler}", "{missing}", "--format", "wnut17"], "no such file"),
        (["evaluate", "{ruler}", "{wnut}", "--format", "iob"], "--format: expected one of"),
        (["evaluate", "{ruler}", "{wnut}"], "--format: give the format"),
        (["evaluate", "{wnut}", "--format", "wnut17"], "give at least one pipeline"),
        (["evaluate", "{tmp}", "{wnut}", "--format", "wnut17"], "not a spaCy pipeline folder"),
        (["evaluate", "{ruler}", "{wnut}", "--format", "conll2003"], "expected 4 whitespace-separated columns"),
        (["evaluate", "{ruler}", "{wnut}", "--format", "wnut17", "--label-map", "nope"], "--label-map"),
        (["evaluate", "{ruler}", "{wnut}", "--format", "wnut17", "--limit", "-1"], "--limit"),
        (["evaluate", "{ruler}", "{wnut}", "--format", "wnut17", "--keep-current"], "--keep-current: give --output"),
        (["convert", "{missing}", "{tmp}/x.spacy", "--format", "wnut17"], "no such file"),
        (["convert", "{wnut}", "{tmp}/x.spacy", "--format", "wnut17", "--lang", "zz"], "--lang"),
    ],
)
def test_bad_input_is_one_line(args, expected, ruler, wnut, tmp_path, capsys, monkeypatch):
    (tmp_path / "stray.txt").write_text("not a pipeline")
    values = {"ruler": ruler, "wnut": wnut, "missing": tmp_path / "missing.conll", "tmp": tmp_path}
    code, out = run([arg.format(**values) for arg in args], capsys, monkeypatch)
    flat = " ".join(out.split())  # wasabi wraps long lines
    assert code == 1 and expected in flat, out
    assert "Traceback" not in out and flat.count("✘") == 1
