"""GloVe training: loss goes down, exact resume, Hogwild threads, shuffles, outputs, bad input."""

import random

import numpy as np
import pytest
import spacy

from spacy_lm_suite.errors import UserError
from spacy_lm_suite.vectors.glove import GloVeSettings, train_glove
from spacy_lm_suite.vectors.glove.train import GloVeModel, TrainingData, train_model
from spacy_lm_suite.vectors.table import LMVectors


def topic_corpus(path, *, n_lines=400, seed=0):
    """Three topics of 20 words each; lines start capitalised (the lower step must find them)."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n_lines):
        topic = rng.randrange(3)
        words = [f"t{topic}w{i}" for i in range(20)]
        lines.append(" ".join(rng.choice(words) for _ in range(12)).capitalize())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


SETTINGS = dict(dim=16, window=4, min_count=1, epochs=6, x_max=10.0, threads=1, seed=3)


@pytest.fixture
def corpus(tmp_path):
    return topic_corpus(tmp_path / "in.txt")


def test_loss_goes_down_and_outputs_load(corpus, tmp_path):
    out = tmp_path / "run"
    result = train_glove(corpus, out, settings=GloVeSettings(**SETTINGS), fallback=["exact", "lower"], progress=False)
    losses = [e["loss"] for e in result.epochs]
    assert len(losses) == 6 and all(b < a for a, b in zip(losses, losses[1:]))
    for name in ("vectors", "pipeline", "vectors.txt", "vectors.bin", "metrics.jsonl", "metrics.csv", "curves.png"):
        assert (out / name).exists(), name
    assert not (out / "checkpoint" / "weights.safetensors").exists(), "checkpoint removed when done"
    table = LMVectors().from_disk(out / "vectors")
    # training tokens were lower-cased (last fallback step), so every key is lower case
    assert all(word == word.lower() for word in table.words)
    expected = result.model.vectors()[result.vocab.words.index("t0w1")]
    np.testing.assert_array_equal(table["T0w1"], expected)
    nlp = spacy.load(out / "pipeline")
    np.testing.assert_array_equal(nlp("T0W1")[0].vector, expected)
    # words of one topic end up closer to each other than to another topic's
    unit = table.data / np.linalg.norm(table.data, axis=1, keepdims=True)
    rows = {w: i for i, w in enumerate(table.words)}
    same = np.mean([unit[rows[f"t0w{i}"]] @ unit[rows[f"t0w{i + 1}"]] for i in range(10)])
    other = np.mean([unit[rows[f"t0w{i}"]] @ unit[rows[f"t1w{i}"]] for i in range(10)])
    assert same > other + 0.2


def test_resume_equals_uninterrupted(corpus, tmp_path):
    settings = GloVeSettings(**SETTINGS)
    whole = train_glove(corpus, tmp_path / "a", settings=settings, fallback=["exact", "lower"], progress=False)
    part = train_glove(corpus, tmp_path / "b", settings=settings, fallback=["exact", "lower"], progress=False, stop_after=2)
    assert (tmp_path / "b" / "checkpoint" / "weights.safetensors").exists()
    rest = train_glove(None, tmp_path / "b", resume=True, progress=False)
    assert [e["loss"] for e in part.epochs + rest.epochs] == [e["loss"] for e in whole.epochs]
    assert np.array_equal(rest.model.word, whole.model.word)
    assert np.array_equal(rest.model.context, whole.model.context)
    with pytest.raises(UserError, match="complete"):
        train_glove(None, tmp_path / "b", resume=True, progress=False)


def test_two_threads_train(corpus, tmp_path):
    result = train_glove(corpus, tmp_path / "run", settings=GloVeSettings(**{**SETTINGS, "threads": 2}),
                         fallback=["exact", "lower"], progress=False)
    losses = [e["loss"] for e in result.epochs]
    assert losses[-1] < 0.5 * losses[0]


def test_model_save_and_reload(tmp_path):
    model = GloVeModel.initialize(7, 5, seed=1)
    assert np.all(np.abs(model.word[:, 0]) <= 0.5 / 5) and np.all(model.word[:, 1] == 1.0)
    model.to_disk(tmp_path / "w.safetensors")
    loaded = GloVeModel.from_disk(tmp_path / "w.safetensors")
    assert np.array_equal(loaded.word, model.word) and np.array_equal(loaded.context, model.context)


def test_shuffle_is_a_seeded_permutation():
    n = 10_000
    rows = np.arange(n, dtype=np.int32)
    data = TrainingData(rows, rows[::-1].copy(), np.arange(1, n + 1, dtype=np.float64), x_max=100, alpha=0.75,
                        dtype="float64")
    first = [a.copy() for a in data.shuffled(5)]
    again = [a.copy() for a in data.shuffled(5)]
    other = data.shuffled(6)[0].copy()
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other)
    assert np.array_equal(np.sort(first[0]), rows)
    # the columns travel with their rows
    assert np.array_equal(first[1], n - 1 - first[0])
    np.testing.assert_allclose(np.exp(first[3]), first[0] + 1.0)


@pytest.mark.parametrize("dtype,rel", [("float64", 1e-12), ("float32", 1e-5)])
def test_cost_and_update_match_definition(dtype, rel):
    """The reported cost is the weighted squared error before the update; the update is Stanford's AdaGrad step."""
    model = GloVeModel.initialize(2, 3, seed=0, dtype=dtype)
    w, c = model.word[0, 0].astype(np.float64), model.context[1, 0].astype(np.float64)
    x, eta = 4.0, 0.05
    fx = min(1.0, (x / 10.0) ** 0.75)
    diff = w[:3] @ c[:3] + w[3] + c[3] - np.log(x)
    settings = GloVeSettings(dim=3, epochs=1, x_max=10.0, eta=eta, threads=1, dtype=dtype)
    records = []
    train_model(np.array([0]), np.array([1]), np.array([x]), settings=settings, model=model,
                on_epoch_end=lambda m, r: records.append(r), progress=False)
    assert records[0].cost == pytest.approx(0.5 * fx * diff**2, rel=rel)
    step = eta * fx * diff  # the squared-gradient sums start at 1, so the first step is not rescaled
    np.testing.assert_allclose(model.word[0, 0, :3], w[:3] - step * c[:3], rtol=rel)
    np.testing.assert_allclose(model.context[1, 0, :3], c[:3] - step * w[:3], rtol=rel)
    np.testing.assert_allclose(model.word[0, 1, :3], 1.0 + (step * c[:3]) ** 2, rtol=rel)
    assert model.word[0, 0, 3] == pytest.approx(w[3] - step, rel=rel)


def test_bad_input(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n", encoding="utf-8")
    with pytest.raises(UserError):
        train_glove(empty, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    few = tmp_path / "few.txt"
    few.write_text("a b c\n", encoding="utf-8")
    with pytest.raises(UserError, match="min_count"):
        train_glove(few, tmp_path / "out", settings=GloVeSettings(min_count=2), progress=False)
    single = tmp_path / "single.txt"
    single.write_text("a\na\na\n", encoding="utf-8")
    with pytest.raises(UserError, match="no two in-vocabulary words"):
        train_glove(single, tmp_path / "out", settings=GloVeSettings(min_count=1), progress=False)
    assert not (tmp_path / "out").exists()
    with pytest.raises(UserError, match="no such file"):
        train_glove(tmp_path / "missing.txt", tmp_path / "out", progress=False)
    with pytest.raises(UserError, match="at least 1"):
        train_glove(few, tmp_path / "out", settings=GloVeSettings(dim=0), progress=False)
    with pytest.raises(UserError, match="no training run"):
        train_glove(few, tmp_path / "nothing", resume=True, progress=False)


def test_refuses_to_overwrite(corpus, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(UserError, match="not empty"):
        train_glove(corpus, out, settings=GloVeSettings(**SETTINGS), progress=False)
    assert (out / "keep.txt").exists()


KILL_SCRIPT = (
    "import json, sys\n"
    "from spacy_lm_suite.vectors.glove import GloVeSettings, train_glove\n"
    "train_glove(sys.argv[1], sys.argv[2], settings=GloVeSettings(**json.loads(sys.argv[3])), fallback=['exact', 'lower'],"
    " progress=False)\n"
)


@pytest.mark.parametrize("point", [
    "written:checkpoint/weights.safetensors#3",  # epoch 2's weights written, its state not: rolled back
    "renamed:checkpoint/weights.safetensors#3",  # epoch 2's weights in place, state.json still epoch 1: rolled forward
])
def test_killed_while_saving_a_checkpoint_resumes_exactly(corpus, tmp_path, point):
    """SIGKILL between the weights and the state of a checkpoint (save #1 is the
    initial one), then resume: exactly the uninterrupted run (1 thread)."""
    import json
    import os
    import subprocess
    import sys

    from spacy_lm_suite.runs.checkpoints import FAULT_ENV

    settings = GloVeSettings(**SETTINGS)
    whole = train_glove(corpus, tmp_path / "whole", settings=settings, fallback=["exact", "lower"], progress=False)
    victim = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(corpus), str(tmp_path / "killed"), json.dumps(SETTINGS)],
        env={**os.environ, FAULT_ENV: point},
    )
    assert victim.returncode == -9
    assert list((tmp_path / "killed").rglob("*.tmp")), "killed in the middle of a save"
    rest = train_glove(None, tmp_path / "killed", resume=True, progress=False)
    assert np.array_equal(rest.model.word, whole.model.word) and np.array_equal(rest.model.context, whole.model.context)
    losses = [[json.loads(line)["loss"] for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
              for name in ("whole", "killed")]
    assert losses[0] == losses[1] and len(losses[0]) == SETTINGS["epochs"]
    assert (tmp_path / "killed" / "vectors.bin").read_bytes() == (tmp_path / "whole" / "vectors.bin").read_bytes()


def test_one_letter_words_do_not_overflow_the_id_buffer(tmp_path):
    """Each one-letter token takes two bytes and gives one id, and each line end one more:
    the compiled reader used to write past a buffer of half the block (heap corruption)."""
    from spacy_lm_suite.vectors.glove.cooccur import TokenIndex

    block = b"a b c d e f g h i j\n" * 500
    ids, n_tokens = TokenIndex(list("abcdefghij")).ids(block)
    assert n_tokens == 5000 and ids.shape == (5500,) and (ids == -2).sum() == 500
    path = tmp_path / "letters.txt"
    path.write_bytes(block)
    result = train_glove(path, tmp_path / "run", settings=GloVeSettings(**{**SETTINGS, "epochs": 1}), progress=False)
    assert len(result.vocab) == 10
