"""The report grid: rows x datasets from runs found by glob, seeds grouped, missing cells listed."""

import json

import pytest

from spacy_lm_suite.errors import InputFormatError, UserError
from spacy_lm_suite.grid import read_grid, write_grid_report

GRID = """
datasets:
  conll2003: {label: "CoNLL-2003 F1", task: ner}
  sst2: {label: "SST-2 accuracy", task: textcat}
rows:
  - name: static
    runs:
      conll2003: "training/ner-static-seed*"
      sst2: "training/textcat-static-seed*"
  - name: minilm
    runs:
      conll2003: "training/ner-minilm-seed*"
      sst2: "training/textcat-minilm-seed*"
  - name: external
    evaluations:
      conll2003: "metrics/external.json"
"""


def fake_run(root, name, scores, *, seconds=None, curve=None, finished=True):
    output = root / "training" / name
    model = output / "model-best"
    model.mkdir(parents=True)
    (model / "meta.json").write_text(json.dumps({"lang": "en", "name": "x", "performance": scores}))
    (model / "weights.bin").write_bytes(b"0" * 1000)
    # spaCy writes model-last at every evaluation: a run is finished when its log says so
    log = "E  #  SCORE\n" + ("\x1b[38;5;2m✔ Saved pipeline to output directory\x1b[0m\ntraining/x/model-last\n" if finished else "")
    output.with_suffix(".log").write_text(log)
    if seconds is not None:
        output.with_suffix(".seconds").write_text(f"{seconds}\n")
    if curve is not None:
        rows = ["epoch,step,loss ner,ents_f,score,seconds,words"]
        rows += [f"0,{step},1.0,{score},{score},{step},{step * 10}" for step, score in curve]
        (output / "log.csv").write_text("\n".join(rows) + "\n")
    return output


@pytest.fixture
def project(tmp_path):
    fake_run(tmp_path, "ner-static-seed0", {"ents_f": 0.90}, seconds=120, curve=[(0, 0.0), (200, 0.80), (400, 0.90)])
    fake_run(tmp_path, "ner-static-seed1", {"ents_f": 0.92}, seconds=180, curve=[(0, 0.0), (200, 0.82), (400, 0.92)])
    fake_run(tmp_path, "textcat-static-seed0", {"cats_micro_f": 0.83}, seconds=60)
    fake_run(tmp_path, "ner-minilm-seed0", {"ents_f": 0.85})
    fake_run(tmp_path, "ner-minilm-seed1", {"ents_f": 0.10}, finished=False)  # still training: left out
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "external.json").write_text(json.dumps({"pipelines": [
        {"folder": "en_core_web_sm", "scores": {"ents_f": 0.6}, "words_per_second": 9000.0, "size_bytes": 13_000_000}]}))
    minilm_model = tmp_path / "training" / "ner-minilm-seed0" / "model-best"
    (tmp_path / "metrics" / "speed.json").write_text(json.dumps({"pipelines": [
        {"folder": str(minilm_model), "scores": {"ents_f": 0.85}, "words_per_second": 3000.0}]}))
    (tmp_path / "grid.yml").write_text(GRID)
    return tmp_path


def test_rows_by_datasets_with_seeds_grouped_and_missing_cells_listed(project):
    report = write_grid_report(project / "grid.yml", project / "reports", root=project,
                               evaluations=[project / "metrics" / "speed.json"], header="made by: test")
    rows = report["rows"]
    assert rows["static"]["conll2003"]["values"] == pytest.approx([90.0, 92.0])
    assert rows["static"]["conll2003"]["mean"] == pytest.approx(91.0)
    assert rows["static"]["conll2003"]["train_seconds"] == pytest.approx(150.0)
    assert rows["static"]["conll2003"]["steps"] == 400
    assert rows["static"]["sst2"]["values"] == pytest.approx([83.0])
    assert rows["minilm"]["sst2"] is None
    assert rows["minilm"]["conll2003"]["words_per_second"] == pytest.approx(3000.0)
    assert rows["external"]["conll2003"]["values"] == pytest.approx([60.0])
    markdown = (project / "reports" / "report.md").read_text()
    assert markdown.startswith("made by: test")
    assert "| static | 91.00 ± 1.41 (2) | 83.00 (1) |" in markdown
    assert "| minilm | 85.00 (1) | — | 3,000 (conll2003) |" in markdown
    assert "| 2 min (conll2003) | 400 |" in markdown  # static: training time, steps (the last scored here)
    assert "| minilm | 85.00 (1) | — |" in markdown and "| external | 60.00 (1) | n/a |" in markdown
    assert "Not run yet: minilm × SST-2 accuracy." in markdown  # the grid names its runs: they are to come
    assert "n/a: not in the grid (no run of it is trained or evaluated): external × SST-2 accuracy." in markdown
    assert report["not_in_grid"] == {"external": ["sst2"]}
    # the curve is the mean over seeds at the steps they share
    curve = [(r["step"], r["score"]) for r in report["curves"] if r["kind"] == "conll2003:static"]
    assert curve == [(0, 0.0), (200, pytest.approx(81.0)), (400, pytest.approx(91.0))]
    for name in ("report.md", "report.json", "curves.png", "accuracy_vs_speed.png"):
        assert (project / "reports" / name).stat().st_size > 0


BAD_GRIDS = [  # (grid file text, the error it gives)
    ("datasets: [conll2003]\nrows: []\n", "expected a mapping with 'datasets'"),
    ("datasets:\n  conll2003: {task: parsing}\nrows: []\n", "task one of"),
    ("datasets:\n  conll2003: {task: ner}\nrows:\n  - name: x\n    runs: {wnut: 'a*'}\n", "runs names wnut, not a dataset"),
    ("datasets:\n  conll2003: {task: ner}\nrows:\n  - name: x\n    runs: {conll2003: ['a*', 'b*']}\n", "one glob pattern each"),
]


def test_a_missing_grid_file_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="no such grid file"):
        read_grid(tmp_path / "missing.yml")


@pytest.mark.parametrize("text,message", BAD_GRIDS)
def test_bad_grids_are_one_clear_error(tmp_path, text, message):
    bad = tmp_path / "bad.yml"
    bad.write_text(text)
    with pytest.raises(InputFormatError, match=message):
        read_grid(bad)


def test_an_evaluation_of_the_wrong_task_names_the_file(project):
    (project / "metrics" / "external.json").write_text(json.dumps({"pipelines": [{"folder": "x", "scores": {"cats_accuracy": 0.5}}]}))
    with pytest.raises(InputFormatError, match="external.json.*without a ents_f score .is it a ner evaluation"):
        write_grid_report(project / "grid.yml", project / "reports", root=project)


def test_a_run_given_as_its_model_best_is_left_out_while_training(project):
    grid = project / "best.yml"
    grid.write_text(GRID.replace("training/ner-minilm-seed*", "training/ner-minilm-seed*/model-best"))
    report = write_grid_report(grid, project / "reports", root=project)
    assert report["rows"]["minilm"]["conll2003"]["n"] == 1  # seed1 is still training


def test_a_run_without_the_datasets_score_names_the_file(project):
    grid = project / "swapped.yml"
    grid.write_text(GRID.replace("textcat-static-seed*", "ner-static-seed*"))
    with pytest.raises(InputFormatError, match="no cats_micro_f score .is it a textcat pipeline"):
        write_grid_report(grid, project / "reports", root=project)
    assert not (project / "reports").exists()  # nothing written before every input was read


def test_the_cli_prints_the_table_and_where_it_wrote(project, capsys, monkeypatch):
    from cli_support import run, run_output

    monkeypatch.chdir(project)
    code, output = run_output(["report-grid", "grid.yml", "-o", "out"], capsys, monkeypatch)
    assert code == 0, output
    assert "| static | 91.00 ± 1.41 (2) |" in output and str(project / "out" / "report.md") in output
    code, output = run(["report-grid", "nothing.yml"], capsys, monkeypatch)
    assert code == 1 and "nothing.yml: no such grid file" in output and "Traceback" not in output


def test_runs_whose_folders_are_gone_are_read_from_their_records(project):
    import shutil

    records = project / "reports" / "runs"
    speed = [project / "metrics" / "speed.json"]
    first = write_grid_report(project / "grid.yml", project / "reports", root=project, evaluations=speed, records=records)
    assert (records / "training" / "ner-static-seed0.json").is_file()
    assert not (records / "training" / "ner-minilm-seed1.json").exists()  # still training: no record
    shutil.rmtree(project / "training")  # a fresh checkout: the models are gone, the records committed
    (project / "metrics" / "speed.json").unlink()
    again = write_grid_report(project / "grid.yml", project / "reports", root=project, records=records)
    for row in ("static", "minilm"):
        for dataset, cell in first["rows"][row].items():
            if cell is None:
                assert again["rows"][row][dataset] is None
                continue
            for key in ("values", "mean", "size_bytes", "train_seconds", "steps", "words_per_second"):
                assert again["rows"][row][dataset][key] == cell[key], (row, dataset, key)
            assert again["rows"][row][dataset]["from_records"] == cell["n"]
    assert again["curves"] == first["curves"]
    assert "All 4 runs were read from their run records" in again["markdown"]
    assert "Trained at commits (runs): " in again["markdown"]
    # without --records the report shows only what is on disk
    bare = write_grid_report(project / "grid.yml", project / "reports", root=project)
    assert bare["rows"]["static"]["conll2003"] is None


def test_a_record_without_the_datasets_score_names_the_record(project):
    records = project / "reports" / "runs"
    write_grid_report(project / "grid.yml", project / "reports", root=project, records=records)
    import shutil

    shutil.rmtree(project / "training")
    grid = project / "swapped.yml"
    grid.write_text(GRID.replace("textcat-static-seed*", "ner-static-seed*"))
    with pytest.raises(InputFormatError, match="run record of training/ner-static-seed0: no cats_micro_f score"):
        write_grid_report(grid, project / "out", root=project, records=records)


def test_a_rows_note_is_printed_under_the_table(project):
    grid = (project / "grid.yml").read_text().replace(
        "  - name: external\n", "  - name: external\n    note: labels mapped as stated\n")
    (project / "grid.yml").write_text(grid)
    write_grid_report(project / "grid.yml", project / "reports", root=project)
    assert "Notes. external: labels mapped as stated." in (project / "reports" / "report.md").read_text()
    (project / "grid.yml").write_text(grid.replace("note: labels mapped as stated", "note: [a, b]"))
    with pytest.raises(InputFormatError, match="note must be one line of text"):
        write_grid_report(project / "grid.yml", project / "reports", root=project)
