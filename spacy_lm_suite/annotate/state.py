"""What an ``annotate`` run is, recorded in ``annotate.json``: the pipeline,
the input and the settings that decide its output, and the shards written.

``--resume`` continues a run only if the pipeline (its files' contents), the
input (each file's size and SHA-256, in order, and how it is read) and the
output settings (format, shard size) are the same, and only after checking
that every shard the state names is on disk with the recorded size and
SHA-256. The settings that do not change the output (``--n-process``,
``--batch-size``, ``--ray``) may differ.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..errors import InputFormatError, UserError
from ..runs.checkpoints import file_record

STATE_FILE = "annotate.json"
STATE_FORMAT = "spacy-lm-suite.annotate"
PIPELINE_FILES = ("config.cfg", "meta.json")


@dataclass(frozen=True)
class PipelineRef:
    """A pipeline to load: ``name`` as given, the folder it is read from, and
    whether it is an installed package (then ``spacy.load(name)``)."""

    name: str
    path: Path
    is_package: bool

    @property
    def load_name(self) -> str:
        """What ``spacy.load`` is given (in this process or on a Ray worker)."""
        return self.name if self.is_package else str(self.path)


def resolve_pipeline(pipeline: str) -> PipelineRef:
    """The pipeline ``pipeline`` names: a folder holding ``config.cfg`` and
    ``meta.json`` (what ``nlp.to_disk`` and ``spacy train`` write), or the name
    of an installed pipeline package; anything else is a ``UserError``."""
    from spacy.util import get_package_path, is_package

    path = Path(pipeline)
    if path.exists():
        if not path.is_dir():
            raise UserError(f"{pipeline}: is a file; expected a spaCy pipeline folder (with {' and '.join(PIPELINE_FILES)}) or an installed pipeline package")
        missing = [name for name in PIPELINE_FILES if not (path / name).is_file()]
        if missing:
            raise UserError(
                f"{pipeline}: not a spaCy pipeline folder (no {' or '.join(missing)}); expected a folder written by "
                "nlp.to_disk or spacy train (e.g. training/model-best), or an installed pipeline package"
            )
        return PipelineRef(name=pipeline, path=path.resolve(), is_package=False)
    if is_package(pipeline):
        return PipelineRef(name=pipeline, path=Path(get_package_path(pipeline)).resolve(), is_package=True)
    raise UserError(f"{pipeline}: no such pipeline folder, and no installed pipeline package of that name")


def load_pipeline(ref: PipelineRef) -> Any:
    """``spacy.load`` the pipeline; a pipeline that cannot be loaded is a ``UserError``."""
    import spacy

    try:
        return spacy.load(ref.load_name)
    except UserError:
        raise
    except (OSError, ValueError, KeyError, ImportError) as err:
        first_line = (str(err).strip().splitlines() or [""])[0]
        raise UserError(f"{ref.name}: could not load the spaCy pipeline ({type(err).__name__}: {first_line})") from None


def tree_fingerprint(path: Path) -> str:
    """SHA-256 over the relative paths and contents of every file under ``path``
    (``__pycache__`` skipped): equal exactly when the pipeline's files are."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(file.relative_to(path).as_posix().encode("utf-8") + b"\0")
        digest.update(file_record(file)["sha256"].encode("ascii") + b"\n")
    return digest.hexdigest()


def pipeline_record(ref: PipelineRef) -> Dict[str, Any]:
    """The state's ``pipeline``: the name as given, its folder, and :func:`tree_fingerprint`."""
    return {"name": ref.name, "path": str(ref.path), "package": ref.is_package, "fingerprint": tree_fingerprint(ref.path)}


def input_record(files: Sequence[Path], *, text_format: str, field: str, encoding: str, limit: int) -> Dict[str, Any]:
    """The state's ``input``: each file (absolute path, size, SHA-256, in
    reading order) and the options that decide which texts are read."""
    return {
        "files": [{"path": str(Path(file).resolve()), **file_record(file)} for file in files],
        "text_format": text_format,
        "field": field,
        "encoding": encoding,
        "limit": limit,
    }


def new_state(*, pipeline: Dict[str, Any], input: Dict[str, Any], output: Dict[str, Any]) -> Dict[str, Any]:
    """The state of a run that has written no shard yet."""
    return {
        "format": STATE_FORMAT,
        "version": 1,
        "pipeline": pipeline,
        "input": input,
        "output": output,
        "shards": [],
        "docs": 0,
        "complete": False,
    }


def read_state(folder: Path) -> Optional[Dict[str, Any]]:
    """The state of the run in ``folder`` (None when there is none)."""
    path = folder / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputFormatError(path, f"expected the JSON state of an annotate run ({err})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT or not isinstance(state.get("shards"), list):
        raise InputFormatError(path, f'expected the JSON state of an annotate run ("format": "{STATE_FORMAT}")')
    return state


def check_same_run(state: Dict[str, Any], *, pipeline: Dict[str, Any], input: Dict[str, Any], output: Dict[str, Any], folder: Path) -> None:
    """Raise ``UserError`` unless ``--resume`` would continue the same run: same
    pipeline files, same input files and reading options, same output settings."""
    hint = "; give the same PIPELINE, INPUT and options, or start a new run (another OUTPUT_DIR, or --overwrite)"
    if state["pipeline"].get("fingerprint") != pipeline["fingerprint"]:
        raise UserError(f"{folder}: was annotated with another pipeline ({state['pipeline'].get('path')}, or its files changed){hint}")
    old_files, new_files = state["input"].get("files", []), input["files"]
    for position, (old, new) in enumerate(zip(old_files, new_files)):
        if (old.get("size"), old.get("sha256")) != (new["size"], new["sha256"]):
            raise UserError(f"{folder}: input file {position + 1} ({new['path']}) is not the one the run read ({old.get('path')}){hint}")
    if len(old_files) != len(new_files):
        raise UserError(f"{folder}: the run read {len(old_files)} input file(s), INPUT names {len(new_files)}{hint}")
    for key in ("text_format", "field", "encoding", "limit"):
        if state["input"].get(key) != input[key]:
            raise UserError(f"{folder}: the run read its input with {key} = {state['input'].get(key)!r}, not {input[key]!r}{hint}")
    for key, value in output.items():
        if state["output"].get(key) != value:
            raise UserError(f"{folder}: the run wrote {key} = {state['output'].get(key)!r}, not {value!r}{hint}")


def verified_shards(state: Dict[str, Any], *, folder: Path) -> List[Dict[str, Any]]:
    """The shards the state names, each checked on disk (size and SHA-256);
    a missing or changed one is a ``UserError`` naming it."""
    shards = state["shards"]
    for shard in shards:
        path = folder / shard["name"]
        if not path.is_file():
            raise UserError(f"{path}: the shard is missing, though {STATE_FILE} records it; start again with --overwrite")
        if file_record(path) != {"size": shard["size"], "sha256": shard["sha256"]}:
            raise UserError(f"{path}: the shard is not the one {STATE_FILE} records (damaged or changed); start again with --overwrite")
    return shards
