"""pretrain-transformer under torchrun (gloo, CPU): 2 processes stay in sync and resume exactly; 1 process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "gutenberg" / "raw.txt"


def torchrun(out, model, *, nproc, steps=6, extra=()):
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
        "-m", "spacy_lm_suite", "pretrain-transformer", str(SAMPLE), str(out), "--objective", "mlm",
        "--model", str(model), "--max-length", "32", "--batch-size", "4", "--limit", "120", "--steps", str(steps),
        "--checkpoint-every", "2", "--log-every", "1", "--threads", "1", "--seed", "3", *extra,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


def weights(out):
    return load_file(str(Path(out) / "model.safetensors"))


@pytest.mark.slow
def test_two_processes_resume_exactly(tmp_path, tiny_bert_dir):
    full, part = tmp_path / "full", tmp_path / "part"
    torchrun(full, tiny_bert_dir, nproc=2)
    state = json.loads((full / "state.json").read_text())
    assert state["step"] == 6 and state["complete"] and len(state["collator_rng"]) == 2  # one masking stream per rank
    torchrun(part, tiny_bert_dir, nproc=2, extra=("--max-steps-this-run", "3"))
    assert json.loads((part / "state.json").read_text())["step"] < 6
    torchrun(part, tiny_bert_dir, nproc=2, extra=("--resume",))
    a, b = weights(full), weights(part)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_one_process_under_torchrun(tmp_path, tiny_bert_dir):
    out = tmp_path / "one"
    torchrun(out, tiny_bert_dir, nproc=1, steps=3)
    state = json.loads((out / "state.json").read_text())
    assert state["complete"] and len(state["collator_rng"]) == 1
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
