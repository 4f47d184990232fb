"""Run records: a finished run's scores, size, time and curve, keyed by the command that trained it."""

import json

from spacy_lm_suite.runs.records import FORMAT, command_key, read_record, record_path, write_record


def test_the_key_is_the_command_with_its_paths_made_portable(tmp_path):
    keys = []
    for checkout in ("a", "b"):  # two checkouts, each with the data beside it
        root = tmp_path / checkout / "main"
        (root / "configs").mkdir(parents=True)
        (root.parent / "shared").mkdir()
        (root / "configs" / "ner.cfg").write_text("[training]\nmax_steps = 10\n")
        train = root.parent / "shared" / "train.txt"
        train.write_text("x")
        keys.append(command_key(root / "configs" / "ner.cfg", ["--paths.train", str(train), "--system.seed", "0"],
                                root=root, python=str(root / ".venv" / "bin" / "python")))
    assert keys[0] == keys[1]
    config = tmp_path / "a" / "main" / "configs" / "ner.cfg"
    other_seed = command_key(config, ["--paths.train", str(tmp_path / "a" / "shared" / "train.txt"), "--system.seed", "1"],
                             root=tmp_path / "a" / "main", python=str(tmp_path / "a" / "main" / ".venv" / "bin" / "python"))
    assert other_seed != keys[0]
    config.write_text("[training]\nmax_steps = 20\n")
    changed = command_key(config, ["--paths.train", str(tmp_path / "a" / "shared" / "train.txt"), "--system.seed", "0"],
                          root=tmp_path / "a" / "main", python=str(tmp_path / "a" / "main" / ".venv" / "bin" / "python"))
    assert changed != keys[0]


def test_records_mirror_the_run_paths_and_runs_outside_the_root_have_none(tmp_path):
    root = tmp_path / "project"
    assert record_path(root / "reports" / "runs", root / "training" / "stacked" / "ner-static-seed0", root=root) == \
        root / "reports" / "runs" / "training" / "stacked" / "ner-static-seed0.json"
    assert record_path(root / "reports" / "runs", tmp_path / "elsewhere" / "run", root=root) is None


def test_a_refresh_keeps_what_the_earlier_record_knew_of_the_same_run(tmp_path):
    path = tmp_path / "runs" / "training" / "ner-seed0.json"
    common = dict(run="training/ner-seed0", size_bytes=10, curve=[{"step": 0, "seconds": 1.0, "score": 0.5}])
    write_record(path, performance={"ents_f": 0.9}, train_seconds=60.0, key="k1", command=["spacy", "train"],
                 evaluations={"conll2003": {"words_per_second": 1000.0}}, **common)
    refreshed = write_record(path, performance={"ents_f": 0.9}, train_seconds=None,
                             evaluations={"wnut17": {"words_per_second": 5.0}}, **common)
    assert refreshed["key"] == "k1" and refreshed["command"] == ["spacy", "train"] and refreshed["train_seconds"] == 60.0
    assert set(refreshed["evaluations"]) == {"conll2003", "wnut17"}
    retrained = write_record(path, performance={"ents_f": 0.8}, train_seconds=70.0, **common)
    assert retrained["key"] is None and retrained["evaluations"] == {} and read_record(path)["performance"] == {"ents_f": 0.8}


def test_a_file_that_is_not_a_run_record_is_never_taken_for_one(tmp_path):
    assert read_record(tmp_path / "absent.json") is None
    (tmp_path / "half.json").write_text('{"format": "')
    assert read_record(tmp_path / "half.json") is None
    (tmp_path / "other.json").write_text(json.dumps({"format": "something else", "performance": {}}))
    assert read_record(tmp_path / "other.json") is None
    (tmp_path / "ok.json").write_text(json.dumps({"format": FORMAT, "performance": {"ents_f": 0.5}}))
    assert read_record(tmp_path / "ok.json")["performance"] == {"ents_f": 0.5}


def test_a_model_path_keys_the_same_whether_or_not_it_is_still_there(tmp_path):
    root = tmp_path / "main"
    (root / "configs").mkdir(parents=True)
    config = root / "configs" / "ner.cfg"
    config.write_text("[training]\n")
    model = root / "training" / "pretrain" / "minilm-mlm"
    model.mkdir(parents=True)
    present = command_key(config, ["--paths.transformer", str(model)], root=root)
    model.rmdir()  # a fresh checkout: the pretraining's model is gone, its runs' records are not
    assert command_key(config, ["--paths.transformer", str(model)], root=root) == present
