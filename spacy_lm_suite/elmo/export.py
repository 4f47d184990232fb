"""Export the encoder of a ``pretrain-elmo`` directory for downstream use.

A pretraining directory also holds the softmax head, the optimizer state and
the resume state (about 4x the encoder's size). Downstream components need
only ``config.json`` and ``weights.safetensors``; the export adds the run's
``metrics.jsonl``, ``curves.png`` and a ``pretraining.json`` provenance record
(step, tokens, perplexities, settings, the suite's git commit).
"""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Optional, Union

from ..errors import UserError
from .checkpoint import CONFIG_FILE, STATE_FILE, VOCAB_FILE, WEIGHTS_FILE, load_elmo, write_json

PROVENANCE_FILE = "pretraining.json"
RUN_FILES = ("metrics.jsonl", "curves.png")

PathLike = Union[str, Path]


def export_encoder(
    pretrain_dir: PathLike,
    output_dir: PathLike,
    *,
    include_vocab: bool = False,
    allow_unfinished: bool = False,
    overwrite: bool = False,
    command: Optional[str] = None,
) -> Dict[str, Any]:
    """Copy the encoder of ``pretrain_dir`` into ``output_dir`` and return the
    provenance record written with it. ``output_dir`` must be new or empty, or,
    with ``overwrite``, an earlier export (whose files are replaced).

    The weights are loaded once first, so a corrupt or mismatched checkpoint
    is reported before anything is written. ``command`` (the command line
    that produced the run) is recorded when given.
    """
    source, target = Path(pretrain_dir), Path(output_dir)
    state_path = source / STATE_FILE
    if not state_path.is_file():
        raise UserError(f"{source}: not a pretrain-elmo directory (no {STATE_FILE})")
    state = json.loads(state_path.read_text(encoding="utf8"))
    training = state.get("training", {})
    total_steps = training.get("total_steps")
    if total_steps is not None and state["step"] < total_steps and not allow_unfinished:
        raise UserError(
            f"{source}: the run stopped at step {state['step']} of {total_steps}; "
            "continue it with --resume, or export it anyway with --allow-unfinished"
        )
    load_elmo(source)  # validates config and weights before writing
    if target.exists() and any(target.iterdir()):
        if not overwrite:
            raise UserError(f"{target}: exists and is not empty (--overwrite replaces an earlier export)")
        if not (target / PROVENANCE_FILE).is_file():
            raise UserError(f"{target}: not an earlier export (no {PROVENANCE_FILE}); not overwriting it")
        for name in (*json.loads((target / PROVENANCE_FILE).read_text(encoding="utf8"))["files"], PROVENANCE_FILE):
            (target / name).unlink(missing_ok=True)
    files = [CONFIG_FILE, WEIGHTS_FILE, *(name for name in RUN_FILES if (source / name).is_file())]
    if include_vocab:
        files.append(VOCAB_FILE)
    provenance = {
        "step": state["step"],
        "total_steps": total_steps,
        "epoch": state["step"] / training["steps_per_epoch"] if training.get("steps_per_epoch") else None,
        "tokens_seen": state.get("tokens_seen"),
        "train_perplexity": state.get("last_train_perplexity"),
        "dev_perplexity": state.get("last_dev_perplexity"),
        "elapsed_seconds": state.get("elapsed_seconds"),
        "settings": {key: value for key, value in training.items() if key != "config"},
        "data_fingerprint": state.get("data_fingerprint"),
        "suite_commit": _git_commit(),
        "command": command,
        "files": files,
    }
    target.mkdir(parents=True, exist_ok=True)
    for name in files:
        shutil.copyfile(source / name, target / name)
    write_json(target / PROVENANCE_FILE, provenance)
    return provenance


def _git_commit() -> Optional[str]:
    """The commit of the checkout this package runs from, if it is one."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None
