"""Every module an entry point names imports without the extras (torch, transformers, ...).

spaCy imports every ``spacy_factories`` entry point in ``Language.__init__``, so
an import error there would break every pipeline in the environment, ours or
not. A subprocess refuses the extras' packages with a ``sys.meta_path`` finder
(as if they were not installed) and checks that the modules import, that
``spacy.blank`` and ``lm_vectors`` work, and that ``lm_elmo`` and
``lm_transformer`` fail with the one clear "install the extra" error.
"""

import json
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXTRA_PACKAGES = ("torch", "transformers", "gensim", "numba", "matplotlib", "h5py", "pyarrow")


def entry_point_modules() -> List[str]:
    """The module of every ``[project.entry-points.*]`` entry in pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    targets = [target for group in project["entry-points"].values() for target in group.values()]
    return sorted({target.split(":")[0] for target in targets})


# Run with the modules as argv[1:]; prints one JSON object.
CHECK = textwrap.dedent(
    f"""
    import importlib, json, sys

    REFUSED = {EXTRA_PACKAGES!r}

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in REFUSED:
                raise ModuleNotFoundError(f"No module named {{name!r}} (refused by the test)", name=name)
            return None

    sys.meta_path.insert(0, Refuse())
    out = {{"imported": [], "errors": {{}}}}
    for module in sys.argv[1:]:
        importlib.import_module(module)
        out["imported"].append(module)
    import spacy
    from spacy_lm_suite.errors import MissingExtraError

    nlp = spacy.blank("en")
    nlp.add_pipe("lm_vectors")
    out["pipe_names"] = nlp.pipe_names
    for factory in ("lm_elmo", "lm_transformer"):
        try:
            spacy.blank("en").add_pipe(factory)
        except MissingExtraError as err:
            out["errors"][factory] = str(err)
        except Exception as err:
            out["errors"][factory] = f"WRONG {{type(err).__name__}}: {{err}}"
    out["loaded_extras"] = sorted(m for m in sys.modules if m.split(".")[0] in REFUSED)
    print(json.dumps(out))
    """
)


def run_check(python: str, modules: List[str], *, cwd: Path) -> dict:
    """Run :data:`CHECK` with ``python``; its JSON output."""
    result = subprocess.run([python, "-c", CHECK, *modules], capture_output=True, text=True, cwd=cwd, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_entry_points_are_found() -> None:
    modules = entry_point_modules()
    assert "spacy_lm_suite.pipeline.lm_elmo" in modules and "spacy_lm_suite.vectors.table" in modules


@pytest.fixture(scope="module")
def without_extras() -> dict:
    return run_check(sys.executable, entry_point_modules(), cwd=ROOT)


def test_entry_point_modules_import_without_extras(without_extras: dict) -> None:
    assert without_extras["imported"] == entry_point_modules()
    assert without_extras["loaded_extras"] == []


def test_blank_pipeline_and_lm_vectors_work_without_extras(without_extras: dict) -> None:
    assert without_extras["pipe_names"] == ["lm_vectors"]


@pytest.mark.parametrize("factory, extra", [("lm_elmo", "elmo"), ("lm_transformer", "transformers")])
def test_contextual_encoders_name_their_extra(without_extras: dict, factory: str, extra: str) -> None:
    message = without_extras["errors"][factory]
    assert not message.startswith("WRONG"), message
    assert f'pip install "spacy-lm-suite[{extra}]"' in message
