"""project.yml: valid for spaCy projects, and every file or script it names exists."""

import shlex
import sys
from pathlib import Path

import pytest
from datasets_path import find_datasets_dir
from weasel.util import load_project_config

REPO = Path(__file__).resolve().parents[1]
PRODUCED = ("training/", "metrics/", "packages/", "vectors/", "corpus/")
DATASETS = find_datasets_dir()


@pytest.fixture(scope="module")
def project():
    return load_project_config(REPO)  # validates the schema and the workflow names


@pytest.fixture(scope="module")
def full_size_project():
    """The project as the full-size workflows run it: ``--vars.data_dir`` the shared datasets."""
    if not DATASETS.is_dir():
        pytest.skip(f"no shared datasets at {DATASETS}")
    return load_project_config(REPO, overrides={"vars.data_dir": str(DATASETS)})


def test_workflows_name_existing_commands(project):
    commands = {command["name"] for command in project["commands"]}
    for workflow, steps in project["workflows"].items():
        assert set(steps) <= commands, workflow


def test_the_data_root_defaults_to_the_embedded_sample(project):
    assert project["vars"]["data_dir"] == "assets"
    committed = {"assets/wnut17", "assets/gutenberg", "assets/elmo-medium"}
    full_size = [asset for asset in project["assets"] if asset["dest"] not in committed]
    # the benchmark data's entries are checked with --extra only (the sample has no CoNLL, SST-2, ...)
    assert full_size and all(asset.get("extra") for asset in full_size)


def test_named_configs_scripts_and_assets_exist(full_size_project):
    for command in full_size_project["commands"]:
        for dep in command.get("deps", []):
            if not dep.startswith(PRODUCED):
                assert (REPO / dep).exists(), f"{command['name']}: {dep}"
        for line in command["script"]:
            for word in shlex.split(line):
                if word.endswith((".cfg", ".py")) or word.startswith("assets/"):
                    assert (REPO / word).exists(), f"{command['name']}: {word}"


PRINT_ONLY = {"check-vars", "check-data", "grid-budget"}  # checks that print and write nothing: always run


def test_every_command_has_deps_and_outputs_so_reruns_skip_finished_steps(project):
    for command in project["commands"]:
        assert command.get("deps"), command["name"]
        assert bool(command.get("outputs")) != (command["name"] in PRINT_ONLY), command["name"]


def test_check_data_names_the_missing_or_changed_file_and_the_var(tmp_path):
    import subprocess
    import sys

    script = [sys.executable, str(REPO / "scripts" / "check_data.py")]
    done = subprocess.run([*script, str(tmp_path / "nope")], capture_output=True, text=True)
    assert done.returncode == 1 and "no such data folder" in done.stderr and "--vars.data_dir" in done.stderr
    # the var's default, the committed sample: one line pointing at the shared datasets
    done = subprocess.run([*script, str(REPO / "assets"), "--only", "conll2003", "sst2"], capture_output=True, text=True)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and "embedded sample" in lines[0]
    assert "--vars.data_dir ../shared/datasets" in lines[0]
    (tmp_path / "conll2003").mkdir()
    (tmp_path / "conll2003" / "train.txt").write_text("EU B-ORG\n")
    done = subprocess.run([*script, str(tmp_path), "--only", "conll2003"], capture_output=True, text=True)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and "train.txt: md5" in lines[0] and "expected aefa93f0" in lines[0]
    assert "dev.txt: missing (conll2003)" in lines[1]


def test_check_vars_names_each_var_of_the_wrong_type():
    import subprocess
    import sys

    script = [sys.executable, str(REPO / "scripts" / "check_vars.py")]
    ok = subprocess.run([*script, "seed=0:int0", "max_steps=3000:int", "seeds=0 1 2:ints"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([*script, "max_steps=abc:int", "seed=-1:int0", "seeds=0,1:ints", "jobs=2:int"],
                         capture_output=True, text=True)
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 1 and len(lines) == 3
    assert "vars.max_steps = 'abc': expected a positive integer" in lines[0] and "--vars.max_steps" in lines[0]
    assert "vars.seed" in lines[1] and "vars.seeds" in lines[2]


def test_every_workflow_first_checks_every_numeric_var(project):
    """weasel substitutes vars as text: a var of the wrong type would fail hours into a
    workflow, so check-vars types every numeric one, first thing in every workflow."""
    (command,) = [c for c in project["commands"] if c["name"] == "check-vars"]
    checked = {word.split("=")[0] for word in shlex.split(command["script"][0])[2:]}
    numeric = {name for name, value in project["vars"].items()
               if isinstance(value, int) or (isinstance(value, str) and value.split() and
                                             all(part.isdigit() for part in value.split()))}
    assert numeric and numeric <= checked, numeric - checked
    for workflow, steps in project["workflows"].items():
        assert steps[0] == "check-vars", workflow


PACKAGE_STEPS = {"package-ner": "lm_suite_ner", "package-textcat": "lm_suite_textcat", "package-generator": "lm_suite_generator"}


def commands_by_name(project):
    return {command["name"]: command for command in project["commands"]}


def test_package_workflow_builds_the_wheels_package_check_installs(project):
    """package-suite, a wheel per pipeline var, the tiny generator, then the fresh-venv check of exactly those."""
    commands = commands_by_name(project)
    assert project["workflows"]["package"][:2] == ["check-vars", "package-suite"] and project["workflows"]["package"][-1] == "package-check"
    assert set(PACKAGE_STEPS) | {"generator-tiny"} <= set(project["workflows"]["package"])
    check = shlex.split(commands["package-check"]["script"][0])
    assert check[:2] == ["python", "scripts/check_wheels.py"]
    assert check[check.index("--suite") + 1] == "packages/dist" == commands["package-suite"]["outputs"][0]
    assert "python -m pip wheel --no-deps -w packages/dist ." in commands["package-suite"]["script"]
    version = project["vars"]["package_version"]
    for step, name in PACKAGE_STEPS.items():
        words = shlex.split(commands[step]["script"][0])
        assert words[:3] == ["python", "-m", "spacy"] and words[words.index("--name") + 1] == name
        assert words[words.index("--build") + 1] == "wheel" and words[3] == "package"
        assert words[4] == commands[step]["deps"][0]  # the pipeline is the step's dependency (a var)
        (output,) = commands[step]["outputs"]
        assert output == f"packages/en_{name}-{version}" and output in check and output in commands["package-check"]["deps"]
    assert project["vars"]["package_generator_pipeline"] in commands["generator-tiny"]["outputs"]


def load_module(path: Path):
    """A script or benchmark of the repository (not a package) imported from its file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_pipeline_wheel(folder: Path, name: str, config: str) -> Path:
    import zipfile

    wheel = folder / f"{name}-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{name}/__init__.py", "")
        archive.writestr(f"{name}/{name}-0.1.0/config.cfg", config)
    return wheel


def test_check_wheels_reads_the_extras_a_pipeline_needs(tmp_path):
    check_wheels = load_module(REPO / "scripts" / "check_wheels.py")
    cases = {
        "en_core": ('[components.ner]\nfactory = "ner"\n', []),
        "en_minilm": ('[components.lm_transformer]\nfactory = "lm_transformer"\n', ["transformers"]),
        "en_stacked": ('[x]\n@architectures = "spacy-lm-suite.ELMoListener.v1"\n', ["elmo"]),
        "en_gen": ('[components.lm_generator]\nfactory = "lm_generator"\n', ["generator"]),
    }
    for name, (config, extras) in cases.items():
        assert check_wheels.pipeline_needs(fake_pipeline_wheel(tmp_path, name, config)) == (name, extras)
    folder = tmp_path / "pkg"
    (folder / "dist").mkdir(parents=True)
    wheel = fake_pipeline_wheel(folder / "dist", "en_core", "")
    assert check_wheels.find_wheel(folder, "*.whl", "pipeline wheel") == wheel.resolve()


def run_check_wheels(*args, cwd):
    import subprocess
    import sys

    return subprocess.run([sys.executable, str(REPO / "scripts" / "check_wheels.py"), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_check_wheels_fails_in_one_line_before_making_a_venv(tmp_path):
    import zipfile

    work = tmp_path / "work"
    work.mkdir()
    empty = tmp_path / "empty"
    empty.mkdir()
    pipeline = fake_pipeline_wheel(tmp_path, "en_core", '[components.ner]\nfactory = "ner"\n')
    not_a_pipeline = tmp_path / "en_empty-0.1.0-py3-none-any.whl"
    stale_suite = tmp_path / "spacy_lm_suite-0.1.0-py3-none-any.whl"
    for wheel, files in [(not_a_pipeline, ["en_empty/__init__.py"]), (stale_suite, ["spacy_lm_suite/__init__.py", "spacy_lm_suite/gone.py"])]:
        with zipfile.ZipFile(wheel, "w") as archive:
            for name in files:
                archive.writestr(name, "")
    cases = [
        ([tmp_path / "missing"], "missing: no such pipeline wheel"),
        ([empty], "empty: holds no pipeline wheel"),
        ([not_a_pipeline], "not a spaCy pipeline wheel (no en_empty/en_empty-0.1.0/config.cfg)"),
        ([pipeline, "--suite", empty], "empty: holds no spacy-lm-suite wheel"),
        ([pipeline, "--suite", tmp_path / "nowhere"], "nowhere: no such spacy-lm-suite wheel"),
        ([pipeline, "--suite", stale_suite], "does not match spacy_lm_suite/ (modules not in the source: spacy_lm_suite/gone.py"),
    ]
    for args, message in cases:
        done = run_check_wheels(*args, "--work-dir", work, cwd=tmp_path)
        assert done.returncode == 1 and done.stdout == "", done.stderr
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("check_wheels: error: ") and message in done.stderr
    assert list(work.iterdir()) == []  # no venv was made


def test_the_annotate_step_runs_as_written(project, tmp_path, monkeypatch, capsys):
    """The step's own command line, on a tiny rule-based pipeline and the first texts of the sample."""
    import spacy
    import sys

    from spacy_lm_suite.cli import main

    (command,) = [c for c in project["commands"] if c["name"] == "annotate"]
    words = shlex.split(command["script"][0])
    assert words[:4] == ["python", "-m", "spacy_lm_suite", "annotate"] and words[4] == project["vars"]["annotate_pipeline"]
    assert words[6] == "metrics/annotate-gutenberg" and command["outputs"] == ["metrics/annotate-gutenberg/annotate.json"]
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "PERSON", "pattern": "Emma"}])
    nlp.to_disk(tmp_path / "ruler")
    words[4], words[6] = str(tmp_path / "ruler"), str(tmp_path / "out")
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "argv", ["spacy-lm-suite", *words[3:], "--limit", "30", "-q"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code in (0, None), capsys.readouterr()
    assert (tmp_path / "out" / "annotate.json").is_file() and (tmp_path / "out" / "shard-00000.jsonl").is_file()


def test_the_budget_of_all_is_read_from_its_benchmark_steps():
    grid_budget = load_module(REPO / "scripts" / "grid_budget.py")
    plan = grid_budget.planned_trainings("all", {"grid_other_seeds": "0 1", "transformer_steps": "100"})
    found = {(entry["benchmark"], entry["task"], entry["system"]): entry for entry in plan}
    assert ("stacked", "ner", "stacked-all") in found and ("stacked", "textcat", "no-vectors") in found
    assert ("transformer", "ner", "minilm-adapted") in found and ("transformer", "ner", "spacy-transformers") in found
    assert ("stacked", "trec", "static") in found and ("transformer", "wnut17", "minilm") in found
    # systems a task lacks are left out, as the benchmarks skip them
    assert ("transformer", "wnut17", "spacy-transformers") not in found and ("transformer", "trec", "spacy-transformers") not in found
    assert ("transformer", "trec", "minilm-static") in found and ("stacked", "wnut17", "word2vec") in found
    # the vars given are the ones the steps run with
    assert found[("stacked", "trec", "static")]["seeds"] == [0, 1] and found[("stacked", "ner", "static")]["seeds"] == [0, 1, 2]
    assert found[("transformer", "ner", "minilm")]["steps"] == 100 and found[("stacked", "ner", "stacked-all")]["steps"] == 100
    assert found[("stacked", "ner", "static")]["steps"] == 2000


def test_the_budget_is_planned_by_the_benchmarks_with_every_var_their_steps_use():
    """grid-budget and unless_reused plan with the benchmarks' own parsers (a run is reused
    only for the same command), so they must get every var the benchmark steps use."""
    import re

    import srsly

    commands = {c["name"]: c for c in srsly.read_yaml(REPO / "project.yml")["commands"]}
    workflow = srsly.read_yaml(REPO / "project.yml")["workflows"]["all"]
    for name, script, planned in (("grid-budget", "grid_budget.py", workflow),
                                  ("pretrain-minilm-mlm", "unless_reused.py", ["transformer-adapted"])):
        used = {var for step in planned for line in commands[step].get("script", [])
                if "benchmarks/stacked_downstream.py" in line or "benchmarks/transformer_downstream.py" in line
                for var in re.findall(r"\$\{vars\.(\w+)\}", line)} - {"grid_max_minutes"}  # no part of a run's command
        assert used
        (line,) = [line for line in commands[name]["script"] if script in line]
        passed = set(re.findall(r"--var '(\w+)=\$\{vars\.\1\}'", line))
        assert used <= passed, f"{name} does not pass {sorted(used - passed)}"

    grid_budget = load_module(REPO / "scripts" / "grid_budget.py")
    plan = grid_budget.planned_trainings(commands_run=["transformer-ner"], variables={"data_dir": "/data"})
    (minilm,) = [entry for entry in plan if entry["system"] == "minilm"]
    job = minilm["runs"][0]
    assert job.overrides[job.overrides.index("--paths.train") + 1] == "/data/conll2003/train.txt"
    project = load_project_config(REPO)
    assert minilm["steps"] == job.steps == int(project["vars"]["transformer_steps"]) and job.transformer


def test_the_grid_scores_trec_on_the_slice_the_benchmarks_hold_out():
    import srsly

    spacy_runs = load_module(REPO / "benchmarks" / "spacy_runs.py")
    TASKS, evaluate_options, reader_overrides = spacy_runs.TASKS, spacy_runs.evaluate_options, spacy_runs.reader_overrides

    trec = srsly.read_yaml(REPO / "reports" / "grid.yml")["datasets"]["trec"]
    assert trec["sample"] == TASKS["trec"].dev_sample > 0 and trec.get("sample_seed", 0) == 0
    assert evaluate_options("trec") == ["--format", "trec", "--sample", str(trec["sample"]), "--sample-seed", "0"]
    overrides = reader_overrides("trec")
    assert overrides[overrides.index("--corpora.train.complement") + 1] == "true"
    assert reader_overrides("ner") == [] and evaluate_options("ner") == ["--format", "conll2003"]


def test_a_benchmark_run_with_a_record_of_the_same_command_is_not_trained_again(tmp_path, monkeypatch):
    import json
    import subprocess

    spacy_runs = load_module(REPO / "benchmarks" / "spacy_runs.py")
    monkeypatch.setattr(spacy_runs, "REPO", tmp_path)
    monkeypatch.setattr(spacy_runs, "RECORDS", tmp_path / "reports" / "runs")
    config = tmp_path / "configs" / "ner.cfg"
    config.parent.mkdir()
    config.write_text("[training]\nmax_steps = 4\n")
    trained = []
    real_run = subprocess.run

    def fake_train(command, **kwargs):  # what `spacy train` leaves: model-best with its scores
        if "--output" not in command:
            return real_run(command, **kwargs)
        output = Path(command[command.index("--output") + 1])
        (output / "model-best").mkdir(parents=True, exist_ok=True)
        (output / "model-best" / "meta.json").write_text(json.dumps({"performance": {"ents_f": 0.5 + len(trained) / 10}}))
        trained.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(spacy_runs.subprocess, "run", fake_train)
    output = tmp_path / "training" / "stacked" / "ner-static-seed0"
    output.parent.mkdir(parents=True)
    first = spacy_runs.train(config, output, ["--system.seed", "0"], output.with_suffix(".log"))
    record = json.loads((tmp_path / "reports" / "runs" / "training" / "stacked" / "ner-static-seed0.json").read_text())
    assert first["ents_f"] == 0.5 and record["performance"] == {"ents_f": 0.5} and record["key"]
    assert record["command"][-2:] == ["--system.seed", "0"] and record["train_seconds"] == pytest.approx(first["seconds"], abs=0.1)
    assert spacy_runs.reuse_decision(config, output, ["--system.seed", "0"], sys.executable)[0] == "folder"
    import shutil

    shutil.rmtree(output)  # a fresh checkout: the folder is gone, the record committed
    output.with_suffix(".seconds").unlink()
    again = spacy_runs.train(config, output, ["--system.seed", "0"], output.with_suffix(".log"))
    assert len(trained) == 1 and again["ents_f"] == 0.5 and again["reused"] == "record"
    assert spacy_runs.reuse_decision(config, output, ["--system.seed", "0"], sys.executable)[0] == "record"
    def job(*overrides):
        return spacy_runs.Job("ner", "static", 0, config, output, ("--system.seed", "0", *overrides))

    assert spacy_runs.reusable(job())  # the budget counts it as reused, too
    assert not spacy_runs.reusable(job("--vars.max_steps", "8"))  # but not for another step budget
    # another command (here the config) is another experiment: trained, and its record replaced
    config.write_text("[training]\nmax_steps = 8\n")
    assert not spacy_runs.reusable(job())  # the record's command now means another experiment
    third = spacy_runs.train(config, output, ["--system.seed", "0"], output.with_suffix(".log"))
    assert len(trained) == 2 and third["ents_f"] == 0.6 and "reused" not in third
    assert spacy_runs.run_curve_rows(output) == []
    # a finished folder of another command is no reuse either (a changed step budget)
    assert spacy_runs.finished(output) and spacy_runs.reusable(job())
    assert not spacy_runs.reusable(job("--training.max_steps", "16"))
    fourth = spacy_runs.train(config, output, ["--system.seed", "0", "--training.max_steps", "16"], output.with_suffix(".log"))
    assert len(trained) == 3 and fourth["ents_f"] == pytest.approx(0.7) and "reused" not in fourth
    config.write_text("[training]\nmax_steps = 32\n")
    assert spacy_runs.finished(output) and not spacy_runs.reusable(job("--training.max_steps", "16"))


def test_max_minutes_starts_no_run_that_would_end_later_and_says_how_to_continue(tmp_path, monkeypatch, capsys):
    spacy_runs = load_module(REPO / "benchmarks" / "spacy_runs.py")
    monkeypatch.setattr(spacy_runs, "REPO", tmp_path)
    monkeypatch.setattr(spacy_runs, "RECORDS", tmp_path / "reports" / "runs")
    started = []
    monkeypatch.setattr(spacy_runs, "train", lambda config, output, *a: started.append(output.name) or {"ents_f": 0.5, "seconds": 1})
    done = tmp_path / "ner-static-seed0"  # finished earlier: reused whatever the budget
    (done / "model-best").mkdir(parents=True)
    (done / "model-best" / "meta.json").write_text("{}")
    done.with_suffix(".seconds").write_text("60\n")
    config = tmp_path / "ner.cfg"
    config.write_text("[training]\n")
    jobs = [spacy_runs.Job("ner", "static", 0, config, done, ("--vars.max_steps", "2000")),
            spacy_runs.Job("ner", "static", 1, config, tmp_path / "ner-static-seed1", ("--vars.max_steps", "2000")),  # ~3 min
            spacy_runs.Job("ner", "minilm", 0, config, tmp_path / "ner-minilm-seed0",
                           ("--vars.max_steps", "500", "--paths.transformer", "x"))]  # ~25 min
    with pytest.raises(SystemExit) as exit_info:
        spacy_runs.train_jobs(jobs, parallel=1, max_minutes=10)
    assert started == ["ner-static-seed0", "ner-static-seed1"] and exit_info.value.code == 3
    message = capsys.readouterr().err
    assert "stopped by --max-minutes 10: 2 of 3 runs done, 1 not started (ner-minilm-seed0)" in message
    assert "run the same command again to continue" in message
    assert len(spacy_runs.train_jobs(jobs, parallel=2)) == 3  # no limit: everything runs


def test_a_runs_expected_minutes_are_what_its_other_seeds_took(tmp_path, monkeypatch):
    spacy_runs = load_module(REPO / "benchmarks" / "spacy_runs.py")
    monkeypatch.setattr(spacy_runs, "REPO", tmp_path)
    monkeypatch.setattr(spacy_runs, "RECORDS", tmp_path / "reports" / "runs")
    folder = tmp_path / "training" / "stacked"
    folder.mkdir(parents=True)
    first = folder / "ner-elmo-seed0"
    assert spacy_runs.expected_minutes(first, "ner", "elmo", 2000, False) == 21.0  # the table: 10.5 per 1,000 steps
    first.mkdir()
    first.with_suffix(".seconds").write_text("1200\n")
    (folder / "ner-elmo-seed0.log").write_text("")
    (folder / "ner-elmo-static-seed0.seconds").write_text("60\n")  # another system
    record = tmp_path / "reports" / "runs" / "training" / "stacked" / "ner-elmo-seed1.json"
    record.parent.mkdir(parents=True)
    record.write_text('{"format": "spacy-lm-suite.run-record.v1", "performance": {}, "train_seconds": 1800}')
    assert spacy_runs.expected_minutes(folder / "ner-elmo-seed2", "ner", "elmo", 2000, False) == 25.0


def test_the_continued_mlm_runs_only_for_domain_adapted_runs_that_would_train(monkeypatch, capsys):
    import sys

    (command,) = [c for c in load_project_config(REPO)["commands"] if c["name"] == "pretrain-minilm-mlm"]
    words = shlex.split(command["script"][0])
    assert words[:2] == ["python", "scripts/unless_reused.py"] and words[words.index("--step") + 1] == "transformer-adapted"
    assert words[words.index("--") + 1:][:4] == ["python", "-m", "spacy_lm_suite", "pretrain-transformer"]
    (adapted,) = [c for c in load_project_config(REPO)["commands"] if c["name"] == "transformer-adapted"]
    assert not any("minilm-mlm" in dep for dep in adapted["deps"])  # a fresh checkout's records need no model

    grid_budget = load_module(REPO / "scripts" / "grid_budget.py")
    plan = grid_budget.planned_trainings(commands_run=["transformer-adapted"])
    assert plan and {entry["system"] for entry in plan} == {"minilm-adapted"}
    assert {entry["task"] for entry in plan} == {"ner", "textcat", "wnut17", "trec"}

    sys.path.insert(0, str(REPO / "scripts"))
    try:
        unless_reused = load_module(REPO / "scripts" / "unless_reused.py")
    finally:
        sys.path.remove(str(REPO / "scripts"))
    exits_7 = ["--step", "transformer-adapted", "--", sys.executable, "-c", "raise SystemExit(7)"]
    monkeypatch.setattr(unless_reused, "runs_to_train", lambda plan: [])
    assert unless_reused.main(exits_7) == 0
    assert "Not running" in capsys.readouterr().out
    monkeypatch.setattr(unless_reused, "runs_to_train", lambda plan: [REPO / "training" / "x"])
    assert unless_reused.main(exits_7) == 7  # the command ran; its status is the script's
    assert unless_reused.main(["--step", "transformer-adapted"]) == 2
    assert "give the command after `--`" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        unless_reused.main(["--step", "no-such-step", "--", "true"])
    assert exit_info.value.code == 2 and "project.yml has no command 'no-such-step'" in capsys.readouterr().err

    # the budget counts the pretraining only while a domain-adapted run would train
    monkeypatch.setattr(grid_budget, "ADAPTED_MODEL", REPO / "training" / "no-such-model.safetensors")
    monkeypatch.setattr(grid_budget, "reusable", lambda job: True)
    assert not grid_budget.pretraining_needed(plan)
    monkeypatch.setattr(grid_budget, "reusable", lambda job: job.task != "ner")
    assert grid_budget.pretraining_needed(plan) and not grid_budget.pretraining_needed(
        [entry for entry in plan if entry["task"] != "ner"])


@pytest.mark.slow
def test_evaluate_grid_runs_each_pipeline_in_the_python_it_trained_with(tmp_path):
    """The spacy-transformers peer's pipelines load only in .venv-peer: its runs (their run
    records name that Python) are evaluated there, into a file of their own."""
    import json
    import os
    import subprocess
    import sys

    import spacy

    root = tmp_path / "project"
    for name in ("ner-ours-seed0", "ner-peer-seed0"):
        nlp = spacy.blank("en")
        nlp.add_pipe("entity_ruler").add_patterns([{"label": "person", "pattern": "Emma"}])
        run = root / "training" / "x" / name
        run.mkdir(parents=True)
        nlp.to_disk(run / "model-best")
        run.with_suffix(".seconds").write_text("1.0\n")
    peer = root / ".venv-peer" / "bin" / "python"
    peer.parent.mkdir(parents=True)
    peer.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # stands for the peer venv
    peer.chmod(0o755)
    record = root / "reports" / "runs" / "training" / "x" / "ner-peer-seed0.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"format": "spacy-lm-suite.run-record.v1", "performance": {},
                                  "command": [".venv-peer/bin/python", "-m", "spacy", "train", "c.cfg"]}))
    grid = root / "grid.yml"
    grid.write_text('datasets:\n  wnut17: {label: "WNUT-17", task: ner, dev: "wnut17/dev.conll", format: wnut17}\n'
                    'rows:\n  - name: ours\n    runs: {wnut17: "training/x/ner-ours-seed*"}\n'
                    '  - name: peer\n    runs: {wnut17: "training/x/ner-peer-seed*"}\n')
    command = [sys.executable, str(REPO / "scripts" / "evaluate_grid.py"), str(grid), "--datasets", str(REPO / "assets"),
               "--output", "out", "--limit", "20"]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    ours = json.loads((root / "out" / "wnut17.json").read_text())["pipelines"]
    theirs = json.loads((root / "out" / "wnut17.venv-peer.json").read_text())["pipelines"]
    assert [Path(p["folder"]).parent.name for p in ours] == ["ner-ours-seed0"]
    assert [Path(p["folder"]).parent.name for p in theirs] == ["ner-peer-seed0"]
    assert f".venv-peer/bin/python -m spacy_lm_suite evaluate {root / 'training/x/ner-peer-seed0'}" in done.stdout

    # the next sitting keeps what still holds, in each Python's file; --remeasure measures all
    again = subprocess.run(command, cwd=root, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert again.returncode == 0 and again.stdout.count("Kept 1 result(s)") == 2, again.stdout[-2000:]
    assert json.loads((root / "out" / "wnut17.json").read_text())["pipelines"] == ours
    again = subprocess.run([*command, "--remeasure"], cwd=root, capture_output=True, text=True)
    assert again.returncode == 0 and "Kept" not in again.stdout

    peer.unlink()  # the peer venv not made yet: one line saying how
    done = subprocess.run(command, cwd=root, capture_output=True, text=True)
    assert done.returncode == 1 and "no such interpreter" in done.stderr and "make peer-venv" in done.stderr
    assert "Traceback" not in done.stderr
