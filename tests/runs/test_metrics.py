"""The training log's plots: one ``plot_curves`` for every trainer, integer x ticks, visible single points."""

import json

import pytest

pytest.importorskip("matplotlib")

import matplotlib.pyplot as plt

from spacy_lm_suite.runs import metrics
from spacy_lm_suite.runs.metrics import Curve, Panel, perplexity_panels, plot_curves, read_metrics
from spacy_lm_suite.vectors import training_run


@pytest.fixture
def figures(monkeypatch):
    """The figures ``plot_curves`` closes, kept for inspection."""
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    yield kept
    for figure in kept:
        plt.figure(figure.number)
        plt.clf()
    plt.close("all")


def _lines(axes):
    return {line.get_label(): line for line in axes.get_lines()}


def test_epochs_have_integer_ticks_and_one_epoch_shows(tmp_path, figures):
    records = [{"epoch": 1, "loss": 0.9}, {"epoch": 2, "loss": 0.7}]
    panel = Panel((Curve("loss", label="loss"),), ylabel="loss")
    plot_curves(records, tmp_path / "two.png", panels=(panel,), x="epoch", title="GloVe")
    plot_curves(records[:1], tmp_path / "one.png", panels=(panel,), x="epoch")
    assert (tmp_path / "two.png").stat().st_size > 0 and (tmp_path / "one.png").stat().st_size > 0
    for figure in figures:
        (axes,) = figure.axes
        assert axes.get_xticks().size and all(float(tick).is_integer() for tick in axes.get_xticks())
    assert _lines(figures[0].axes[0])["loss"].get_marker() in (None, "None", "")  # a line of two points
    assert _lines(figures[1].axes[0])["loss"].get_marker() == "o"  # one point: a marker, or nothing would show
    assert figures[0]._suptitle.get_text() == "GloVe"


def test_pretraining_panels(tmp_path, figures):
    path = tmp_path / "metrics.jsonl"
    records = [
        {"kind": "train", "step": 3, "epoch": 0.5, "train_perplexity": 80.0, "tokens_per_second": 900.0},
        {"kind": "dev", "step": 3, "epoch": 0.5, "dev_perplexity": 70.0},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    plot_curves(read_metrics(path), tmp_path / "curves.png", panels=perplexity_panels())
    ppl, rate = figures[0].axes
    assert set(_lines(ppl)) == {"train", "dev"} and ppl.get_yscale() == "log"
    assert all(line.get_marker() == "o" for line in ppl.get_lines() + rate.get_lines())  # one point each
    assert rate.get_ylabel() == "tokens / s"
    for axes in (ppl, rate):
        assert all(float(tick).is_integer() for tick in axes.get_xticks())


def test_nothing_to_draw_writes_nothing(tmp_path):
    plot_curves([{"kind": "dev", "step": 1, "dev_perplexity": None}], tmp_path / "c.png", panels=perplexity_panels())
    assert not (tmp_path / "c.png").exists()


def test_the_vector_trainers_use_the_same_function(tmp_path, figures):
    assert training_run.plot_curves is metrics.plot_curves
    run = training_run.RunDirectory(tmp_path / "run")
    run.path.mkdir()
    run.log_epoch({"epoch": 1, "loss": 0.5, "seconds": 1.0, "loss_name": "cost per non-zero", "title": "GloVe 8d"})
    run.plot()
    (axes,) = figures[0].axes
    assert run.curves_png.is_file() and axes.get_xlabel() == "epoch" and axes.get_ylabel() == "cost per non-zero"
    assert axes.get_lines()[0].get_marker() == "o"
