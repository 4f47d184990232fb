"""Export the encoder of a ``pretrain-elmo`` directory for downstream use.

A pretraining directory also holds the softmax head, the optimizer state and
the resume state (about 4x the encoder's size). Downstream components need
only ``config.json`` and ``weights.safetensors``; the export adds the run's
``metrics.jsonl``, ``curves.png`` and a ``pretraining.json`` provenance record
(step, tokens, perplexities, settings, the suite's git commit).

The export folder is written by :func:`spacy_lm_suite.runs.outputs.atomic_output_dir`:
a new or empty folder, or with ``overwrite`` an earlier export, whose files
(those its manifest lists, never what ``pretraining.json`` says) are replaced.
"""

import json
import shutil
from pathlib import Path
from typing import Any, Dict, Optional, Union

from ..errors import InputFormatError, UserError
from ..runs.provenance import git_commit
from ..runs.outputs import atomic_output_dir, check_output_dir, write_json_atomic
from .checkpoint import CONFIG_FILE, STATE_FILE, VOCAB_FILE, WEIGHTS_FILE, load_elmo

PROVENANCE_FILE = "pretraining.json"
COMMAND = "export-elmo"
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
    with ``overwrite``, an earlier export (only its own files are replaced;
    other files in the folder are kept).

    The weights are loaded once first, so a corrupt or mismatched checkpoint
    is reported before anything is written. ``command`` (the command line
    that produced the run) is recorded when given.
    """
    source, target = Path(pretrain_dir), Path(output_dir)
    check_output_dir(target, overwrite=overwrite, command=COMMAND)
    state_path = source / STATE_FILE
    if not state_path.is_file():
        raise UserError(f"{source}: not a pretrain-elmo directory (no {STATE_FILE})")
    try:
        state = json.loads(state_path.read_text(encoding="utf8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputFormatError(state_path, f"expected the JSON state of a pretrain-elmo run ({err})") from None
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        raise InputFormatError(state_path, "expected the state of a pretrain-elmo run (an object with an integer 'step')")
    training = state.get("training") if isinstance(state.get("training"), dict) else {}
    total_steps = training.get("total_steps")
    if isinstance(total_steps, int) and state["step"] < total_steps and not allow_unfinished:
        raise UserError(
            f"{source}: the run stopped at step {state['step']} of {total_steps}; "
            "continue it with --resume, or export it anyway with --allow-unfinished"
        )
    load_elmo(source)  # validates config and weights before writing
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
        # the code that trained the weights (the last commit the run ran at; None for a run that
        # predates the record) and, apart, the code that exported them
        "suite_commit": (state.get("suite_commits") or [None])[-1],
        "suite_commits": state.get("suite_commits") or [],
        "export_commit": git_commit(),
        "command": command,
        "files": files,
    }
    with atomic_output_dir(target, command=COMMAND, overwrite=overwrite) as tmp:
        for name in files:
            shutil.copyfile(source / name, tmp / name)
        write_json_atomic(tmp / PROVENANCE_FILE, provenance)
    return provenance
