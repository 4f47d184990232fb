import json

import pytest

from spacy_lm_suite.errors import UserError
from spacy_lm_suite.report import summarize, write_report


def _pipeline(tmp_path, name, scores):
    path = tmp_path / name / "model-best"
    path.mkdir(parents=True)
    (path / "meta.json").write_text(json.dumps({"performance": scores}))
    return path


def test_seeds_are_grouped_as_mean_and_std(tmp_path):
    runs = [
        _pipeline(tmp_path, "ner-ours-seed0", {"ents_f": 0.90, "ents_p": 0.5}),
        _pipeline(tmp_path, "ner-ours-seed1", {"ents_f": 0.92}),
        _pipeline(tmp_path, "textcat-demo", {"cats_micro_f": 0.8, "cats_macro_f": 0.7}),
    ]
    rows = {row["experiment"]: row for row in summarize(runs)}
    assert rows["ner-ours"]["n"] == 2
    assert rows["ner-ours"]["mean"] == pytest.approx(91.0)
    assert rows["ner-ours"]["std"] == pytest.approx(1.41421356, rel=1e-6)
    assert rows["textcat-demo"]["metric"] == "textcat accuracy"


def test_report_writes_table_json_and_plot(tmp_path):
    run = _pipeline(tmp_path, "ner", {"ents_f": 0.5})
    write_report([run], tmp_path / "out")
    assert "| ner | NER F1 | 50.00 | 1 |" in (tmp_path / "out" / "results.md").read_text()
    assert json.loads((tmp_path / "out" / "results.json").read_text())[0]["mean"] == 50.0
    assert (tmp_path / "out" / "results.png").stat().st_size > 1000


def test_bad_inputs_name_the_path(tmp_path):
    with pytest.raises(UserError, match="no such pipeline"):
        summarize([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no meta.json"):
        summarize([tmp_path / "empty"])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="expected a JSON object"):
        summarize([bad])
    with pytest.raises(UserError, match="none of the scores"):
        summarize([_pipeline(tmp_path, "x", {"speed": 1.0})])


# -- scales: scores already in percent are not multiplied again (issue 9 §4) ---------------


def _scores_file(tmp_path, name, scores):
    path = tmp_path / name
    path.write_text(json.dumps(scores))
    return path


def test_percent_scores_are_not_multiplied_again(tmp_path):
    rows = summarize([_scores_file(tmp_path, "ner-percent.json", {"ents_f": 91.5, "ents_p": 90.0})])
    assert rows[0]["mean"] == pytest.approx(91.5)


def test_fraction_scores_as_spacy_evaluate_writes_them(tmp_path):
    # `spacy evaluate --output metrics.json` writes fractions, with other keys beside them
    metrics = {"token_acc": 1.0, "ents_p": 0.9, "ents_r": 0.8, "ents_f": 0.847, "speed": 12345.6}
    rows = summarize([_scores_file(tmp_path, "ner-eval.json", metrics)])
    assert rows[0]["mean"] == pytest.approx(84.7)


def test_an_explicit_scale_wins_over_detection(tmp_path):
    tiny_percent = _scores_file(tmp_path, "broken.json", {"ents_f": 0.5, "scale": "percent"})
    assert summarize([tiny_percent])[0]["mean"] == pytest.approx(0.5)
    whole_fraction = _scores_file(tmp_path, "perfect.json", {"cats_micro_f": 1, "scale": "fraction"})
    assert summarize([whole_fraction])[0]["mean"] == pytest.approx(100.0)


def test_seeds_in_either_scale_are_grouped_on_one_scale(tmp_path):
    runs = [
        _pipeline(tmp_path, "ner-seed0", {"ents_f": 0.90}),  # meta.json: fractions, always
        _scores_file(tmp_path, "ner-seed1.json", {"ents_f": 92.0}),
    ]
    row = summarize(runs)[0]
    assert row["experiment"] == "ner" and row["values"] == pytest.approx([90.0, 92.0])


def test_a_meta_json_file_is_read_as_fractions(tmp_path):
    meta = _pipeline(tmp_path, "textcat", {"cats_micro_f": 0.75}) / "meta.json"
    assert summarize([meta])[0]["mean"] == pytest.approx(75.0)


def test_a_spacy_train_output_folder_is_read_through_model_best(tmp_path):
    _pipeline(tmp_path, "ner-glove-seed3", {"ents_f": 0.8})
    (tmp_path / "ner-glove-seed3" / "model-last").mkdir()
    (tmp_path / "ner-glove-seed3" / "model-last" / "meta.json").write_text(json.dumps({"performance": {"ents_f": 0.1}}))
    row = summarize([tmp_path / "ner-glove-seed3"])[0]
    assert row["experiment"] == "ner-glove" and row["mean"] == pytest.approx(80.0)


@pytest.mark.parametrize(
    "content, fragment",
    [
        ({"ents_f": 0.5, "scale": "per-mille"}, r"broken.json: expected \"scale\" to be one of \['fraction', 'percent'\] \(found 'per-mille'\)"),
        ({"ents_f": 120.0}, r"broken.json: expected ents_f as a percent in \[0, 100\] \(found '120.0'\)"),
        ({"ents_f": -0.2}, r"broken.json: expected ents_f as a fraction in \[0, 1\] \(found '-0.2'\)"),
        ({"ents_f": "high"}, r"broken.json: expected ents_f as a fraction in \[0, 1\] \(found \"'high'\"\)"),
        ([0.9], r"broken.json: expected a JSON object of scores \(found 'list'\)"),
        ({"performance": [0.9]}, r"broken.json: expected a \"performance\" object of scores as spaCy writes it"),
    ],
)
def test_bad_scores_files_are_one_clear_error_and_nothing_is_written(tmp_path, content, fragment):
    path = _scores_file(tmp_path, "broken.json", content)
    with pytest.raises(UserError, match=fragment):
        write_report([path], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_corrupt_meta_json_is_one_clear_error(tmp_path):
    run = _pipeline(tmp_path, "ner", {"ents_f": 0.5})
    (run / "meta.json").write_text('{"performance": {"ents_f": 0.')
    with pytest.raises(UserError, match=r"model-best/meta.json: expected a JSON object of scores \(Expecting"):
        write_report([run], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_folder_without_meta_names_both_kinds_of_folder(tmp_path):
    (tmp_path / "train-out").mkdir()
    with pytest.raises(UserError, match=r"not a trained pipeline \(no meta.json\) nor a `spacy train --output` folder \(no model-best/meta.json\)"):
        summarize([tmp_path / "train-out"])


def test_output_that_is_a_file_or_under_a_file(tmp_path):
    run = _pipeline(tmp_path, "ner", {"ents_f": 0.5})
    blocker = tmp_path / "blocker"
    blocker.write_text("keep me")
    with pytest.raises(UserError, match=rf"--output {blocker}: is a file, expected a folder for results.md, results.json, results.png"):
        write_report([run], blocker)
    with pytest.raises(UserError, match=rf"--output {blocker / 'sub'}: cannot create the folder"):
        write_report([run], blocker / "sub")
    assert blocker.read_text() == "keep me"


def test_only_the_report_files_are_replaced_with_the_users_umask(tmp_path):
    import os
    import stat

    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "results.md").write_text("old")
    write_report([_pipeline(tmp_path, "ner", {"ents_f": 0.5})], out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "results.json", "results.md", "results.png"]
    assert (out / "notes.txt").read_text() == "mine" and "| ner | NER F1 | 50.00 | 1 |" in (out / "results.md").read_text()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((out / "results.png").stat().st_mode) == 0o666 & ~umask


def test_cli_accepts_a_training_output_folder_and_says_where_it_writes(tmp_path):
    import subprocess
    import sys

    _pipeline(tmp_path, "ner-seed0", {"ents_f": 0.9})
    out = subprocess.run(
        [sys.executable, "-m", "spacy_lm_suite", "report", str(tmp_path / "ner-seed0"), "--output", "metrics/x"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    where = (tmp_path / "metrics" / "x").resolve()
    assert "Wrote the report to metrics/x:" in out.stdout
    assert [line for line in out.stdout.splitlines() if line.startswith("/")] == [str(where / name) for name in ["results.md", "results.json", "results.png"]]
    assert "90.00" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "spacy_lm_suite", "report", str(tmp_path / "missing")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    printed = " ".join((bad.stdout + bad.stderr).split())  # wasabi wraps long lines
    assert bad.returncode == 1 and "missing: no such pipeline directory or scores file" in printed
    assert "Traceback" not in bad.stdout + bad.stderr and not (tmp_path / "metrics" / "results.md").exists()
