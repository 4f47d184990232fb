import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy
import pytest
import torch
from safetensors.torch import load_file

from spacy_lm_suite.elmo import ELMoConfig, batch_to_char_ids, load_elmo, save_elmo
from spacy_lm_suite.elmo.checkpoint import recover_checkpoint
from spacy_lm_suite.elmo.modules import ELMo
from spacy_lm_suite.elmo.pretrain import encode_texts, epoch_batches, learning_rate, pretrain_elmo
from spacy_lm_suite.errors import UserError

@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and are not slowed by a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


CHECKPOINT_FILES = ("weights.safetensors", "head.safetensors", "optimizer.safetensors")


def synthetic_texts(n=240, seed=0):
    rng = numpy.random.default_rng(seed)
    subjects = ["the cat", "a dog", "my friend", "the old man", "Anna", "the children"]
    verbs = ["sees", "likes", "follows", "paints", "finds"]
    objects = ["the ball", "a red house", "the river", "music", "two birds"]
    texts = []
    for _ in range(n):
        s = [f"{subjects[rng.integers(6)]} {verbs[rng.integers(5)]} {objects[rng.integers(5)]} ." for _ in range(2)]
        texts.append(" ".join(s))
    return texts


ARGS = dict(config="tiny", vocab_size=40, batch_size=8, seq_len=12, seed=3, log_every=2, progress=False)


def tensors(directory):
    return {name: load_file(str(Path(directory) / name)) for name in CHECKPOINT_FILES}


def assert_same_tensors(a, b):
    for name in CHECKPOINT_FILES:
        assert a[name].keys() == b[name].keys()
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), f"{name}:{key}"


def train_records(directory):
    lines = (Path(directory) / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return [(r["step"], r["kind"], r.get("train_loss"), r.get("dev_perplexity")) for r in records]


def test_tiny_run_writes_everything_and_learns(tmp_path):
    out = tmp_path / "run"
    result = pretrain_elmo(texts=synthetic_texts(), output_dir=out, steps=40, lr=0.01, checkpoint_every=20, **ARGS)
    assert result.finished and result.step == 40
    for name in ("config.json", "weights.safetensors", "vocab.json", "state.json", "metrics.jsonl", "curves.png"):
        assert (out / name).is_file(), name
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    dev = [r for r in records if r["kind"] == "dev"]
    assert train[-1]["train_perplexity"] < train[0]["train_perplexity"] / 2
    assert dev and dev[-1]["dev_perplexity"] < 30  # 40-word vocabulary, a simple grammar
    assert all(r["tokens_per_second"] > 0 for r in train)
    state = json.loads((out / "state.json").read_text())
    assert state["step"] == 40 and len(state["rng"]) == 1
    model = load_elmo(out)
    with torch.no_grad():
        layers = model(*batch_to_char_ids([["the", "cat", "sees", "music", "."]]))
    assert layers.shape == (3, 1, 5, 32)


def test_resume_equals_uninterrupted(tmp_path):
    texts = synthetic_texts()
    full = pretrain_elmo(texts=texts, output_dir=tmp_path / "full", steps=24, checkpoint_every=5, **ARGS)
    part = pretrain_elmo(
        texts=texts, output_dir=tmp_path / "part", steps=24, checkpoint_every=5, max_steps_this_run=7, **ARGS
    )
    assert not part.finished and part.step == 7
    # more steps than one epoch: the resumed run crosses an epoch boundary
    rest = pretrain_elmo(texts=texts, output_dir=tmp_path / "part", steps=24, checkpoint_every=5, resume=True, **ARGS)
    assert rest.finished and full.finished
    assert_same_tensors(tensors(tmp_path / "full"), tensors(tmp_path / "part"))
    assert train_records(tmp_path / "full") == train_records(tmp_path / "part")


def test_resume_refusals(tmp_path):
    texts = synthetic_texts()
    out = tmp_path / "run"
    pretrain_elmo(texts=texts, output_dir=out, steps=4, checkpoint_every=2, max_steps_this_run=2, **ARGS)
    with pytest.raises(UserError, match="resume"):
        pretrain_elmo(texts=texts, output_dir=out, steps=4, **ARGS)
    with pytest.raises(UserError, match="batch_size"):
        pretrain_elmo(texts=texts, output_dir=out, steps=4, resume=True, **{**ARGS, "batch_size": 4})
    with pytest.raises(UserError, match="data differ"):
        pretrain_elmo(texts=texts[:-1], output_dir=out, steps=4, resume=True, **ARGS)


def test_interrupted_save_is_rolled_back_or_forward(tmp_path):
    texts = synthetic_texts()
    out = tmp_path / "run"
    pretrain_elmo(texts=texts, output_dir=out, steps=4, checkpoint_every=2, max_steps_this_run=2, **ARGS)
    before = tensors(out)
    # a save killed before state.json.tmp was complete: partial files are discarded
    (out / "weights.safetensors.tmp").write_bytes(b"partial")
    (out / "state.json.tmp").write_text('{"step": 4, "trunc')
    recover_checkpoint(out)
    assert not list(out.glob("*.tmp"))
    assert_same_tensors(before, tensors(out))
    # a save killed after state.json.tmp was written: the new files are renamed into place
    state = json.loads((out / "state.json").read_text())
    (out / "head.safetensors").rename(out / "head.safetensors.tmp")
    (out / "state.json.tmp").write_text(json.dumps({**state, "note": "new"}))
    recover_checkpoint(out)
    assert json.loads((out / "state.json").read_text())["note"] == "new"
    assert (out / "head.safetensors").exists()


STEPS = 200


@pytest.mark.slow
def test_killed_run_resumes_exactly(tmp_path):
    """SIGKILL a pretraining process at an arbitrary moment after its first
    checkpoint, resume, and compare with an uninterrupted run."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(synthetic_texts()) + "\n")
    # enough steps that the victim is still running well after its first checkpoint
    script = (
        f"STEPS = {STEPS}\n"
        "import sys\n"
        "from spacy_lm_suite.elmo.pretrain import pretrain_elmo\n"
        "pretrain_elmo(texts=sys.argv[1], output_dir=sys.argv[2], steps=STEPS, checkpoint_every=4, "
        "resume=True, config='tiny', vocab_size=40, batch_size=8, seq_len=12, seed=3, log_every=2, progress=False)\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run(out):
        return subprocess.Popen([sys.executable, "-c", script, str(corpus), str(out)], env=env)

    assert run(tmp_path / "full").wait(timeout=300) == 0
    victim = run(tmp_path / "killed")
    state = tmp_path / "killed" / "state.json"
    deadline = time.time() + 120
    while time.time() < deadline and victim.poll() is None:
        if state.exists() and json.loads(state.read_text() or "{}").get("step", 0) >= 8:
            break
        time.sleep(0.02)
    time.sleep(0.3)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = json.loads(state.read_text())["step"]
    assert run(tmp_path / "killed").wait(timeout=300) == 0
    assert_same_tensors(tensors(tmp_path / "full"), tensors(tmp_path / "killed"))
    assert train_records(tmp_path / "full") == train_records(tmp_path / "killed")
    assert killed_at < STEPS


def test_encode_texts_splits_sentences_and_long_sequences():
    types = {}
    corpus = encode_texts(["a b . c d e f g ! h", "i"], types, tokenize=str.split, seq_len=3, progress=False)
    lengths = corpus.lengths.tolist()
    assert lengths == [3, 3, 3, 1, 1]  # "a b .", "c d e", "f g !", "h", "i"
    assert corpus.n_tokens == 11 and types["a"] == 0


def test_epoch_batches_are_deterministic_and_complete():
    lengths = numpy.random.default_rng(0).integers(1, 30, size=103)
    first = epoch_batches(lengths, batch_size=8, seed=1, epoch=0)
    assert [b.tolist() for b in first] == [b.tolist() for b in epoch_batches(lengths, batch_size=8, seed=1, epoch=0)]
    assert sorted(numpy.concatenate(first).tolist()) == list(range(103))
    other = epoch_batches(lengths, batch_size=8, seed=1, epoch=1)
    assert [b.tolist() for b in first] != [b.tolist() for b in other]


def test_learning_rate_schedule():
    rates = [learning_rate(s, lr=1.0, total_steps=100, warmup_steps=10) for s in range(100)]
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))
    assert rates[-1] == pytest.approx(0.1, abs=0.01)


def test_save_load_and_bad_checkpoints(tmp_path):
    torch.manual_seed(0)
    model = ELMo(ELMoConfig.preset("tiny")).eval()
    save_elmo(model, tmp_path / "m")
    loaded = load_elmo(tmp_path / "m")
    char_ids, mask = batch_to_char_ids([["Hello", "world"]])
    with torch.no_grad():
        assert torch.equal(model(char_ids, mask), loaded(char_ids, mask))
    # weights of another size
    other = ELMoConfig.preset("tiny")
    other.hidden_dim = 48
    other.to_json(tmp_path / "m" / "config.json")
    with pytest.raises(UserError, match="another size"):
        load_elmo(tmp_path / "m")
    # corrupt weights
    model.config.to_json(tmp_path / "m" / "config.json")
    (tmp_path / "m" / "weights.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(UserError, match="safetensors"):
        load_elmo(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="config"):
        load_elmo(tmp_path / "m")
    with pytest.raises(UserError, match="no such directory"):
        load_elmo(tmp_path / "missing")


def test_config_json_round_trip_and_presets(tmp_path):
    for name in ("tiny", "small", "medium"):
        config = ELMoConfig.preset(name)
        assert ELMoConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    small = ELMoConfig.preset("small")
    assert small.n_filters == 2048 and small.hidden_dim == 1024 and small.proj_dim == 128 and small.n_highway == 1
    medium = ELMo(ELMoConfig.preset("medium"))
    assert sum(p.numel() for p in medium.parameters()) * 4 <= 25_000_000
    with pytest.raises(UserError, match="unknown ELMo preset"):
        ELMoConfig.preset("huge")
    with pytest.raises(UserError, match="unknown ELMo config key"):
        ELMoConfig.from_dict({"hidden": 3})


KILL_SCRIPT = (
    "import sys, torch\n"
    "torch.set_num_threads(1)\n"
    "from spacy_lm_suite.elmo.pretrain import pretrain_elmo\n"
    "pretrain_elmo(texts=sys.argv[1], output_dir=sys.argv[2], steps=12, checkpoint_every=4, config='tiny',"
    " vocab_size=40, batch_size=8, seq_len=12, seed=3, log_every=2, progress=False)\n"
)


@pytest.mark.parametrize("point", [
    "written:head.safetensors#2",  # step 8's weights and head written, its state not: rolled back to step 4
    "renamed:weights.safetensors#2",  # step 8's weights in place, state.json still step 4: rolled forward
])
def test_killed_while_saving_a_checkpoint_resumes_exactly(tmp_path, point):
    """SIGKILL between two writes of the second checkpoint (fault injection), then
    resume: the same tensors and metrics as an uninterrupted run."""
    from spacy_lm_suite.runs.checkpoints import FAULT_ENV

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(synthetic_texts()) + "\n")
    args = {**ARGS, "steps": 12, "checkpoint_every": 4}
    pretrain_elmo(texts=str(corpus), output_dir=tmp_path / "full", **args)
    victim = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(corpus), str(tmp_path / "killed")],
        env={**os.environ, "OMP_NUM_THREADS": "1", FAULT_ENV: point},
    )
    assert victim.returncode == -signal.SIGKILL
    assert list((tmp_path / "killed").glob("*.tmp")), "killed in the middle of a save"
    pretrain_elmo(texts=str(corpus), output_dir=tmp_path / "killed", resume=True, **args)
    assert_same_tensors(tensors(tmp_path / "full"), tensors(tmp_path / "killed"))
    assert train_records(tmp_path / "full") == train_records(tmp_path / "killed")


def test_checkpoint_files_from_another_step_are_detected(tmp_path):
    """A file replaced behind the state's back is not silently mixed into a resume."""
    texts = synthetic_texts()
    out = tmp_path / "run"
    pretrain_elmo(texts=texts, output_dir=out, steps=4, checkpoint_every=2, max_steps_this_run=2, **ARGS)
    other = tmp_path / "other"
    pretrain_elmo(texts=texts, output_dir=other, steps=4, checkpoint_every=2, max_steps_this_run=2,
                  **{**ARGS, "seed": 4})
    (out / "head.safetensors").write_bytes((other / "head.safetensors").read_bytes())
    with pytest.raises(UserError, match="head.safetensors: does not match"):
        pretrain_elmo(texts=texts, output_dir=out, steps=4, resume=True, **ARGS)


def test_run_killed_before_its_first_checkpoint_starts_again_with_resume(tmp_path):
    texts = synthetic_texts()
    out = tmp_path / "run"
    pretrain_elmo(texts=texts, output_dir=out, steps=4, checkpoint_every=2, max_steps_this_run=2, **ARGS)
    for name in ("state.json", "weights.safetensors", "head.safetensors"):
        (out / name).unlink()
    (out / "metrics.jsonl").write_text('{"kind": "train", "step": 1}\n')
    with pytest.raises(UserError, match="stopped before its first checkpoint; pass --resume"):
        pretrain_elmo(texts=texts, output_dir=out, steps=4, **ARGS)
    result = pretrain_elmo(texts=texts, output_dir=out, steps=4, checkpoint_every=2, resume=True, **ARGS)
    assert result.finished and json.loads((out / "state.json").read_text())["step"] == 4


def test_progress_bars_have_totals_and_no_perplexity_before_it_is_known(tmp_path, capsys):
    """Reading shows N/N texts; a dev evaluation before the first log step shows no ``ppl=nan``."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(synthetic_texts(40)) + "\n", encoding="utf-8")
    args = {**ARGS, "log_every": 3, "dev_fraction": 0.1, "progress": True}
    pretrain_elmo(texts=str(corpus), output_dir=tmp_path / "file", steps=4, checkpoint_every=4, eval_every=1, **args)
    err = capsys.readouterr().err
    assert "reading train: 100%" in err and "40/40" in err, err
    assert "nan" not in err and "dev_ppl=" in err and re.search(r"[ ,]ppl=\d", err), err
    pretrain_elmo(texts=synthetic_texts(40), output_dir=tmp_path / "list", steps=1, **args)
    assert "reading train: 100%" in capsys.readouterr().err


def test_default_preset_is_medium():
    """The shape docs/elmo.md pretrains and ships; tiny is for tests."""
    import inspect

    assert inspect.signature(pretrain_elmo).parameters["config"].default == "medium"
