"""Saving and loading ELMo models and pretraining checkpoints.

A model directory holds ``config.json`` (:class:`ELMoConfig`),
``weights.safetensors`` (the encoder only: what downstream components need)
and, from pretraining, ``vocab.json``. A pretraining directory adds
``head.safetensors`` (the softmax), ``optimizer.safetensors`` (optimizer
tensors) and ``state.json`` (step, data position, RNG states, optimizer
settings, training arguments). A checkpoint is saved with
:class:`spacy_lm_suite.runs.checkpoints.Checkpoint`: every file under a
temporary name, then ``state.json`` naming them (size and SHA-256), renamed
last; a run interrupted while saving is rolled forward or back, never mixed.
The safetensors files also carry their step in their metadata.
"""

import base64
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ..errors import InputFormatError, UserError
from ..runs.checkpoints import Checkpoint
from ..runs.outputs import save_safetensors_atomic, write_json_atomic
from .config import ELMoConfig
from .modules import ELMo
from .vocab import WordVocab

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
VOCAB_FILE = "vocab.json"
HEAD_FILE = "head.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "state.json"
FORMAT = "spacy-lm-suite.elmo"

PathLike = Union[str, Path]


def save_tensors(path: PathLike, tensors: Dict[str, torch.Tensor], metadata: Optional[Dict[str, str]] = None) -> None:
    """Write a safetensors file with our format tag, atomically and with the umask's permissions."""
    save_safetensors_atomic(path, tensors, {"format": FORMAT, **(metadata or {})})


def read_tensors(path: PathLike) -> Dict[str, torch.Tensor]:
    """Read a safetensors file; a missing or unreadable file raises ``UserError``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise InputFormatError(path, f"not a readable safetensors file ({err})") from None


def tensors_metadata(path: PathLike) -> Dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as file:
            return dict(file.metadata() or {})
    except (SafetensorError, OSError, ValueError) as err:
        raise InputFormatError(path, f"not a readable safetensors file ({err})") from None


def load_module_weights(module: nn.Module, path: PathLike, *, what: str) -> None:
    """Copy the tensors of ``path`` into ``module``; names and shapes must match
    exactly, or ``UserError`` says which differ (e.g. a model of another size)."""
    tensors = read_tensors(path)
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}")
        raise InputFormatError(path, f"these are not the weights of this {what}: " + "; ".join(parts))
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise InputFormatError(
                path,
                f"tensor {name!r} has shape {list(tensor.shape)} but the {what} expects "
                f"{list(expected[name].shape)}: the weights belong to a model of another size",
            )
    module.load_state_dict(tensors)


def save_elmo(
    model: ELMo, path: PathLike, *, vocab: Optional[WordVocab] = None, metadata: Optional[Dict[str, str]] = None
) -> Path:
    """Write ``config.json`` and ``weights.safetensors`` (and ``vocab.json`` if
    given) to the directory ``path``, creating it if needed."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path / CONFIG_FILE, model.config.to_dict())
    save_tensors(path / WEIGHTS_FILE, model.state_dict(), metadata)
    if vocab is not None:
        write_json_atomic(path / VOCAB_FILE, {"words": vocab.words})
    return path


def load_elmo(path: PathLike, *, cache_size: int = 50_000) -> ELMo:
    """An :class:`ELMo` (in eval mode) from a directory written by
    :func:`save_elmo` or by pretraining."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path}: no such directory (expected an ELMo model with {CONFIG_FILE} and {WEIGHTS_FILE})")
    config = ELMoConfig.from_json(path / CONFIG_FILE)
    model = ELMo(config, cache_size=cache_size)
    load_module_weights(model, path / WEIGHTS_FILE, what=f"ELMo model described by {path / CONFIG_FILE}")
    return model.eval()


def encode_rng_state(state: torch.Tensor) -> str:
    return base64.b64encode(state.numpy().tobytes()).decode("ascii")


def decode_rng_state(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


TRAINING_FILES = (CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE, HEAD_FILE, OPTIMIZER_FILE)


def training_checkpoint(output_dir: PathLike) -> Checkpoint:
    """The checkpoint of a pretraining directory (its files and ``state.json``)."""
    return Checkpoint(output_dir, files=TRAINING_FILES, state_file=STATE_FILE)


def save_training_checkpoint(
    output_dir: PathLike,
    *,
    model: ELMo,
    head: nn.Module,
    optimizer: torch.optim.Optimizer,
    vocab: WordVocab,
    state: Dict[str, Any],
) -> None:
    """Write the model directory files plus ``head.safetensors``,
    ``optimizer.safetensors`` and ``state.json`` (``state`` must hold ``step``)
    as one atomic checkpoint (:class:`spacy_lm_suite.runs.checkpoints.Checkpoint`):
    a run killed at any point leaves the previous checkpoint or the new one,
    never a mix."""
    step = {"step": str(state["step"])}
    optimizer_state = optimizer.state_dict()
    tensors: Dict[str, torch.Tensor] = {}
    scalars: Dict[str, Any] = {}
    for index, values in optimizer_state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{index}/{key}"] = value
            else:
                scalars[f"{index}/{key}"] = value
    full_state = {**state, "optimizer": {"param_groups": optimizer_state["param_groups"], "scalars": scalars}}
    training_checkpoint(output_dir).save(
        full_state,
        write={
            CONFIG_FILE: lambda tmp: write_json_atomic(tmp, model.config.to_dict()),
            VOCAB_FILE: lambda tmp: write_json_atomic(tmp, {"words": vocab.words}),
            WEIGHTS_FILE: lambda tmp: save_tensors(tmp, model.state_dict(), step),
            HEAD_FILE: lambda tmp: save_tensors(tmp, head.state_dict(), step),
            OPTIMIZER_FILE: lambda tmp: save_tensors(tmp, tensors, step),
        },
    )


def recover_checkpoint(output_dir: PathLike) -> None:
    """Finish or discard a checkpoint whose saving was interrupted
    (:meth:`spacy_lm_suite.runs.checkpoints.Checkpoint.recover`)."""
    training_checkpoint(output_dir).recover()


def load_training_checkpoint(
    output_dir: PathLike, *, model: ELMo, head: nn.Module, optimizer: torch.optim.Optimizer
) -> Dict[str, Any]:
    """Restore weights and optimizer from ``output_dir``; returns ``state.json``.
    The files are first checked to be the ones ``state.json`` names."""
    output_dir = Path(output_dir)
    state_path = output_dir / STATE_FILE
    state = training_checkpoint(output_dir).load_state()
    if "step" not in state or "optimizer" not in state or "training" not in state:
        raise InputFormatError(
            state_path, "expected the state of a pretrain-elmo run (with 'step', 'optimizer' and 'training')"
        )
    load_module_weights(model, output_dir / WEIGHTS_FILE, what=f"ELMo model described by {output_dir / CONFIG_FILE}")
    load_module_weights(head, output_dir / HEAD_FILE, what="softmax head described by state.json")
    tensors = read_tensors(output_dir / OPTIMIZER_FILE)
    per_param: Dict[int, Dict[str, Any]] = {}
    try:
        for key, value in list(tensors.items()) + list(state["optimizer"]["scalars"].items()):
            index, name = key.split("/", 1)
            per_param.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": per_param, "param_groups": state["optimizer"]["param_groups"]})
    except (ValueError, KeyError, TypeError, RuntimeError) as err:
        raise InputFormatError(output_dir / OPTIMIZER_FILE, f"optimizer state does not fit this model ({err})") from None
    return state
