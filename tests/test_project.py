"""project.yml: valid for spaCy projects, and every file or script it names exists."""

import shlex
from pathlib import Path

import pytest
from weasel.util import load_project_config

REPO = Path(__file__).resolve().parents[1]
PRODUCED = ("training/", "metrics/", "packages/", "vectors/", "corpus/")


@pytest.fixture(scope="module")
def project():
    return load_project_config(REPO)  # validates the schema and the workflow names


def test_workflows_name_existing_commands(project):
    commands = {command["name"] for command in project["commands"]}
    for workflow, steps in project["workflows"].items():
        assert set(steps) <= commands, workflow


def test_named_configs_scripts_and_assets_exist(project):
    for command in project["commands"]:
        for dep in command.get("deps", []):
            if not dep.startswith(PRODUCED):
                assert (REPO / dep).exists(), f"{command['name']}: {dep}"
        for line in command["script"]:
            for word in shlex.split(line):
                if word.endswith((".cfg", ".py")) or word.startswith("assets/"):
                    assert (REPO / word).exists(), f"{command['name']}: {word}"
