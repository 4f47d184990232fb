"""The ``pretrain-transformer`` command: a tiny run, a stop and --resume, one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "gutenberg" / "raw.txt"
TINY = ["--preset", "tiny", "--vocab-size", "300", "--max-length", "32", "--batch-size", "8", "--limit", "150",
        "--checkpoint-every", "3", "--log-every", "1", "--threads", "1"]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "spacy_lm_suite", "pretrain-transformer", *args],
                          capture_output=True, text=True, timeout=300, env={"TQDM_DISABLE": "1", "PATH": "/usr/bin:/bin"})


def test_cli_stop_resume_and_errors(tmp_path):
    out = tmp_path / "run"
    first = cli(str(SAMPLE), str(out), "--objective", "clm", "--steps", "6", "--max-steps-this-run", "3", *TINY)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "--resume" in first.stdout
    again = cli(str(SAMPLE), str(out), "--objective", "clm", "--steps", "6", *TINY)
    assert again.returncode == 1 and "pass --resume" in again.stdout and "Traceback" not in again.stderr
    done = cli(str(SAMPLE), str(out), "--objective", "clm", "--steps", "6", "--resume", *TINY)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((out / "state.json").read_text())["complete"]
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["command"].startswith("spacy-lm-suite pretrain-transformer")
    # both chunks are recorded: where each started and the command it ran
    assert [chunk["from_step"] for chunk in provenance["chunks"]] == [0, 3]
    assert "--resume" not in provenance["chunks"][0]["command"] and "--resume" in provenance["chunks"][1]["command"]
    assert provenance["training_seconds"] > 0
    wrong = cli(str(SAMPLE), str(tmp_path / "b"), "--objective", "mlm", "--model", str(out), "--steps", "2", "--max-length", "32")
    assert wrong.returncode == 1 and "causal LM" in wrong.stdout and not (tmp_path / "b").exists()
