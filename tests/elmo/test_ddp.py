"""Data-parallel pretraining launched by torchrun: gloo, CPU, 2 processes and 1."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

CHECKPOINT_FILES = ("weights.safetensors", "head.safetensors", "optimizer.safetensors")


def synthetic_texts(n):
    subjects = ["the cat", "a dog", "my friend", "Anna"]
    verbs = ["sees", "likes", "follows"]
    objects = ["the ball", "a red house", "music"]
    return [f"{subjects[i % 4]} {verbs[i % 3]} {objects[(i * 7) % 3]} ." for i in range(n)]


def tensors(directory):
    return {name: load_file(str(Path(directory) / name)) for name in CHECKPOINT_FILES}


def assert_same_tensors(a, b):
    for name in CHECKPOINT_FILES:
        assert a[name].keys() == b[name].keys()
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), f"{name}:{key}"


def train_records(directory):
    records = [json.loads(line) for line in (Path(directory) / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["kind"], r.get("train_loss"), r.get("dev_perplexity")) for r in records]

WORKER = """
import os
import sys
import torch
from safetensors.torch import save_file
from spacy_lm_suite.elmo.pretrain import pretrain_elmo

corpus, output_dir, max_steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
result = pretrain_elmo(
    texts=corpus, output_dir=output_dir, steps=8, checkpoint_every=3, resume=True,
    max_steps_this_run=max_steps or None, config="tiny", vocab_size=40, batch_size=8, seq_len=12,
    seed=5, log_every=1, lr=0.01, progress=False,
)
rank = int(os.environ.get("RANK", 0))
save_file({k: v.contiguous() for k, v in result.model.state_dict().items()}, f"{output_dir}/rank{rank}.safetensors")
"""


def torchrun(tmp_path, corpus, output_dir, *, nproc, max_steps=0):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
        str(script), str(corpus), str(output_dir), str(max_steps),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(synthetic_texts(n=300)) + "\n")
    return path


@pytest.mark.slow
def test_two_processes_stay_in_sync_and_resume_exactly(tmp_path, corpus):
    full = tmp_path / "full"
    torchrun(tmp_path, corpus, full, nproc=2)
    state = json.loads((full / "state.json").read_text())
    assert state["step"] == 8 and state["training"]["world_size"] == 2 and len(state["rng"]) == 2
    rank0, rank1 = load_file(str(full / "rank0.safetensors")), load_file(str(full / "rank1.safetensors"))
    saved = load_file(str(full / "weights.safetensors"))
    for name in saved:
        assert torch.equal(rank0[name], rank1[name]), name  # gradients were averaged across processes
        assert torch.equal(rank0[name], saved[name]), name
    records = [json.loads(line) for line in (full / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert len(train) == 8 and train[-1]["train_loss"] < train[0]["train_loss"]
    # stopped after 4 steps, resumed by a second torchrun: identical to the uninterrupted run
    part = tmp_path / "part"
    torchrun(tmp_path, corpus, part, nproc=2, max_steps=4)
    assert json.loads((part / "state.json").read_text())["step"] == 4
    torchrun(tmp_path, corpus, part, nproc=2)
    assert_same_tensors(tensors(full), tensors(part))
    assert train_records(full) == train_records(part)


@pytest.mark.slow
def test_one_process_under_torchrun(tmp_path, corpus):
    out = tmp_path / "one"
    torchrun(tmp_path, corpus, out, nproc=1)
    state = json.loads((out / "state.json").read_text())
    assert state["step"] == 8 and state["training"]["world_size"] == 1
    assert (out / "curves.png").is_file()
