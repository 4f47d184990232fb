"""The README's main job, reduced: ``spacy project run demo`` end to end in a working copy of
the repo (a few training steps instead of 600), then again: every finished step is skipped."""

import re
import subprocess
import sys

import pytest

from working_copy import make_working_copy

STEPS = ["demo-ner", "demo-glove", "demo-ner-glove", "demo-ner-elmo", "demo-textcat", "demo-evaluate", "demo-report"]


def run_demo(work, env):
    command = [sys.executable, "-m", "spacy", "project", "run", "demo", ".", "--vars.demo_max_steps", "4",
               "--vars.demo_eval_frequency", "2"]
    env = {**env, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)


@pytest.mark.slow
def test_the_demo_runs_to_its_report_then_skips_what_is_done(tmp_path):
    work, env = make_working_copy(tmp_path)
    first = run_demo(work, env)
    for step in STEPS:
        assert "Running command: " in first and step in first
    report = (work / "metrics" / "demo" / "report.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in report.splitlines() if line.startswith("| ") and "---" not in line}
    assert set(rows) == {"embeddings", "no vectors", "our GloVe (trained in the demo)", "our GloVe + ELMo, stacked"}
    assert "n/a: not in the grid (no run of it is trained or evaluated): our GloVe (trained in the demo) × Gutenberg authors accuracy" in report
    assert "| embeddings |" in first  # the table is printed, too
    assert "—" not in rows["no vectors"]  # both datasets, words/s, size and training steps all measured
    assert "| --- |" in report and "report-grid" in first
    for plot in ("curves.png", "accuracy_vs_speed.png"):
        assert (work / "metrics" / "demo" / plot).stat().st_size > 0
    second = run_demo(work, env)
    for step in STEPS:
        assert f"Skipping '{step}': nothing changed" in second, second[-2000:]
