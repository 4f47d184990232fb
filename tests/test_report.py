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
