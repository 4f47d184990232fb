"""Word2Vec through gensim: correct loss, exact resume, extend, outputs, bad input."""

import json
import random

import numpy as np
import pytest
import spacy

from spacy_lm_suite.errors import UserError
from spacy_lm_suite.vectors.table import LMVectors
from spacy_lm_suite.vectors.word2vec import (
    ObjectiveSample,
    Word2VecSettings,
    epoch_alphas,
    train_word2vec,
)


def word(topic, i):
    """Letters only: the default fallback's last step (shape) would merge words with digits."""
    return f"t{'abcd'[topic]}w{'abcdefghijklmnopqrst'[i]}"


def topic_corpus(path, *, topics=range(3), n_lines=300, seed=0):
    rng = random.Random(seed)
    lines = []
    for _ in range(n_lines):
        topic = rng.choice(list(topics))
        words = [word(topic, i) for i in range(20)]
        lines.append(" ".join(rng.choice(words) for _ in range(12)).capitalize())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def settings(**overrides):
    base = dict(vector_size=16, window=3, min_count=1, epochs=4, workers=1, seed=3, loss_sample_size=1000)
    return Word2VecSettings(**{**base, **overrides})


@pytest.fixture
def corpus(tmp_path):
    return topic_corpus(tmp_path / "in.txt")


@pytest.mark.parametrize("overrides", [{"architecture": "cbow"}, {"architecture": "skipgram", "hs": True},
                                       {"architecture": "cbow", "hs": True, "negative": 0}])
def test_loss_goes_down(corpus, tmp_path, overrides):
    result = train_word2vec(corpus, tmp_path / "run", settings=settings(**overrides), progress=False)
    losses = [e["loss"] for e in result.epochs]
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    if overrides.get("hs"):
        assert all("loss_hs" in e for e in result.epochs)


def test_outputs_and_normaliser(corpus, tmp_path):
    out = tmp_path / "run"
    result = train_word2vec(corpus, out, settings=settings(), fallback=["exact", "lower"], progress=False)
    for name in ("vectors", "pipeline", "vectors.txt", "vectors.bin", "metrics.jsonl", "metrics.csv", "curves.png",
                 "checkpoint/word2vec.model"):
        assert (out / name).exists(), name
    state = json.loads((out / "state.json").read_text())
    assert state["complete"] and state["epochs_done"] == 4
    table = LMVectors().from_disk(out / "vectors")
    assert all(word == word.lower() for word in table.words), "trained on lower-cased tokens"
    expected = result.model.wv["tawb"]
    np.testing.assert_array_equal(table["Tawb"], expected)
    np.testing.assert_array_equal(spacy.load(out / "pipeline")("TAWB")[0].vector, expected)


def test_resume_equals_uninterrupted(corpus, tmp_path):
    whole = train_word2vec(corpus, tmp_path / "a", settings=settings(), progress=False)
    part = train_word2vec(corpus, tmp_path / "b", settings=settings(), progress=False, stop_after=2)
    assert not json.loads((tmp_path / "b" / "state.json").read_text())["complete"]
    assert not (tmp_path / "b" / "vectors").exists()
    rest = train_word2vec(corpus, tmp_path / "b", resume=True, progress=False)
    assert [e["loss"] for e in part.epochs + rest.epochs] == [e["loss"] for e in whole.epochs]
    assert np.array_equal(rest.model.wv.vectors, whole.model.wv.vectors)
    assert len((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()) == 4


def test_learning_rate_schedule_is_gensims():
    s = settings(alpha=0.05, min_alpha=0.001, epochs=5)
    starts = [epoch_alphas(s, e)[0] for e in range(5)]
    ends = [epoch_alphas(s, e)[1] for e in range(5)]
    assert starts[0] == 0.05 and ends[-1] == pytest.approx(0.001)
    assert starts[1:] == ends[:-1]
    np.testing.assert_allclose(np.diff(starts), -(0.05 - 0.001) / 5)


def test_extend_adds_words(corpus, tmp_path):
    out = tmp_path / "run"
    train_word2vec(corpus, out, settings=settings(), progress=False)
    more = topic_corpus(tmp_path / "more.txt", topics=[3], n_lines=100)
    result = train_word2vec(more, out, extend=True, progress=False)
    assert [e["epoch"] for e in result.epochs] == [5, 6, 7, 8]
    assert all(e["phase_kind"] == "extend" for e in result.epochs)
    table = LMVectors().from_disk(out / "vectors")
    assert word(3, 0) in table.words and word(0, 0) in table.words
    state = json.loads((out / "state.json").read_text())
    assert state["complete"] and state["new_words"] == 20


def test_objective_matches_definition(corpus, tmp_path):
    """The negative-sampling objective of one example, written out by hand."""
    result = train_word2vec(corpus, tmp_path / "run", settings=settings(architecture="skipgram"), progress=False)
    model = result.model
    sample = ObjectiveSample.load(tmp_path / "run" / "checkpoint" / "loss_sample.npz")
    one = ObjectiveSample("skipgram", sample.targets[:1], sample.inputs[:1], sample.negatives[:1])
    h = model.wv.vectors[one.inputs[0, 0]].astype(np.float64)
    sigmoid = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    expected = -np.log(sigmoid(h @ model.syn1neg[one.targets[0]]))
    for negative in one.negatives[0]:
        if negative != one.targets[0]:
            expected -= np.log(sigmoid(-h @ model.syn1neg[negative]))
    assert one.evaluate(model)["loss"] == pytest.approx(expected, rel=1e-10)
    assert len(sample) > 700 and sample.negatives.shape[1] == 5


def test_bad_input(corpus, tmp_path):
    out = tmp_path / "out"
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(UserError):
        train_word2vec(empty, out, progress=False)
    few = tmp_path / "few.txt"
    few.write_text("a b c\nd e\n", encoding="utf-8")
    with pytest.raises(UserError, match="min_count=5"):
        train_word2vec(few, out, settings=settings(min_count=5), progress=False)
    single = tmp_path / "single.txt"
    single.write_text("a\na\nb\n", encoding="utf-8")
    with pytest.raises(UserError, match="nothing to train on"):
        train_word2vec(single, out, settings=settings(), progress=False)
    with pytest.raises(UserError, match="no such file"):
        train_word2vec(tmp_path / "missing.txt", out, progress=False)
    with pytest.raises(UserError, match="architecture"):
        train_word2vec(few, out, settings=settings(architecture="glove"), progress=False)
    assert not out.exists()
    train_word2vec(corpus, out, settings=settings(min_count=2), progress=False, stop_after=1)
    with pytest.raises(UserError, match="not finished"):
        train_word2vec(corpus, out, extend=True, progress=False)
    with pytest.raises(UserError, match="input differs"):
        train_word2vec(few, out, resume=True, progress=False)
    train_word2vec(corpus, out, resume=True, progress=False)
    with pytest.raises(UserError, match="complete"):
        train_word2vec(corpus, out, resume=True, progress=False)
    oov = tmp_path / "oov.txt"
    oov.write_text("zz yy\n", encoding="utf-8")  # unknown words, each below min_count=2
    with pytest.raises(UserError, match="nothing to train on"):
        train_word2vec(oov, out, extend=True, progress=False)


def test_given_corpus_file_is_used_as_is(corpus, tmp_path):
    """A pre-made corpus file (as the benchmark shares between tools) skips tokenisation and normalisation."""
    result = train_word2vec(None, tmp_path / "run", settings=settings(epochs=1), corpus_file=corpus, progress=False)
    assert "Tawb" in result.model.wv.key_to_index  # not lower-cased: the file is taken as it is
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["corpus"]["tokenization"] == "given pre-tokenised corpus file"
    with pytest.raises(UserError, match="no such corpus file"):
        train_word2vec(None, tmp_path / "other", corpus_file=tmp_path / "missing.txt", progress=False)


def test_hierarchical_softmax_objective_matches_definition(corpus, tmp_path):
    """The HS objective of one CBOW example: -sum_d log s((1 - 2 code_d) h.syn1[point_d])."""
    result = train_word2vec(corpus, tmp_path / "run", settings=settings(hs=True, negative=0), progress=False)
    model = result.model
    sample = ObjectiveSample.load(tmp_path / "run" / "checkpoint" / "loss_sample.npz")
    one = ObjectiveSample("cbow", sample.targets[:1], sample.inputs[:1], sample.negatives[:1])
    inputs = [i for i in one.inputs[0] if i >= 0]
    h = model.wv.vectors[inputs].astype(np.float64).mean(axis=0)
    word = model.wv.index_to_key[one.targets[0]]
    codes, points = model.wv.get_vecattr(word, "code"), model.wv.get_vecattr(word, "point")
    expected = sum(np.log1p(np.exp(-(1.0 - 2.0 * c) * (h @ model.syn1[p]))) for c, p in zip(codes, points))
    assert one.evaluate(model)["loss"] == pytest.approx(expected, rel=1e-10)


KILL_SCRIPT = (
    "import json, sys\n"
    "from spacy_lm_suite.vectors.word2vec import Word2VecSettings, train_word2vec\n"
    "train_word2vec(sys.argv[1], sys.argv[2], settings=Word2VecSettings(**json.loads(sys.argv[3])), progress=False)\n"
)


def epoch_losses(run_dir):
    return [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("point", [
    "written:checkpoint/word2vec.model#3",  # epoch 2's model written, its state not: rolled back to epoch 1
    "renamed:checkpoint/word2vec.model#3",  # epoch 2's model in place, state.json still epoch 1: rolled forward
])
def test_killed_while_saving_a_checkpoint_resumes_exactly(corpus, tmp_path, point):
    """SIGKILL between two writes of a checkpoint (save #1 is the initial one), then
    --resume: the same vectors, bit for bit, and the same per-epoch losses (1 worker)."""
    import os
    import subprocess
    import sys
    from dataclasses import asdict

    from spacy_lm_suite.runs.checkpoints import FAULT_ENV

    whole = train_word2vec(corpus, tmp_path / "whole", settings=settings(), progress=False)
    victim = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(corpus), str(tmp_path / "killed"), json.dumps(asdict(settings()))],
        env={**os.environ, FAULT_ENV: point},
    )
    assert victim.returncode == -9
    assert list((tmp_path / "killed").rglob("*.tmp")), "killed in the middle of a save"
    rest = train_word2vec(corpus, tmp_path / "killed", resume=True, progress=False)
    assert np.array_equal(rest.model.wv.vectors, whole.model.wv.vectors)
    assert epoch_losses(tmp_path / "killed") == epoch_losses(tmp_path / "whole")
    assert json.loads((tmp_path / "killed" / "state.json").read_text())["complete"]
