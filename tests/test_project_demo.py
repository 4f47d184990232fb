"""The README's main job, reduced: ``spacy project run demo`` end to end in a working copy of
the repo (a few training steps instead of 600), then again: every finished step is skipped."""

import re
import subprocess
import sys

import pytest

from working_copy import make_working_copy

STEPS = ["demo-ner", "demo-glove", "demo-ner-glove", "demo-ner-elmo", "demo-textcat", "demo-report"]


def run_demo(work, env):
    command = [sys.executable, "-m", "spacy", "project", "run", "demo", ".", "--vars.demo_max_steps", "4"]
    env = {**env, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)


@pytest.mark.slow
def test_the_demo_runs_to_its_report_then_skips_what_is_done(tmp_path):
    work, env = make_working_copy(tmp_path)
    first = run_demo(work, env)
    for step in STEPS:
        assert f"Running command: " in first and step in first
    report = (work / "metrics" / "demo" / "results.md").read_text()
    for experiment in ("demo-ner", "demo-ner-glove", "demo-ner-elmo", "demo-textcat"):
        assert f"| {experiment} |" in report
    assert (work / "metrics" / "demo" / "results.png").stat().st_size > 0
    second = run_demo(work, env)
    for step in STEPS:
        assert f"Skipping '{step}': nothing changed" in second, second[-2000:]
