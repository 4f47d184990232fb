"""Saving and loading ELMo models and pretraining checkpoints.

A model directory holds ``config.json`` (:class:`ELMoConfig`),
``weights.safetensors`` (the encoder only: what downstream components need)
and, from pretraining, ``vocab.json``. A pretraining directory adds
``head.safetensors`` (the softmax), ``optimizer.safetensors`` (optimizer
tensors) and ``state.json`` (step, data position, RNG states, optimizer
settings, training arguments). Every file is written to a temporary name and
renamed; ``state.json`` is written last and names the step that the
safetensors files must carry in their metadata, so a run interrupted while
saving is detected instead of silently mixing two steps.
"""

import base64
import json
import os
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import InputFormatError, UserError
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


def write_json(path: PathLike, data: Any) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def save_tensors(
    path: PathLike,
    tensors: Dict[str, torch.Tensor],
    metadata: Optional[Dict[str, str]] = None,
    *,
    rename: bool = True,
) -> None:
    """Write a safetensors file to ``path.tmp``, then (if ``rename``) rename it."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    data = {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}
    save_file(data, str(tmp), metadata={"format": FORMAT, **(metadata or {})})
    if rename:
        os.replace(tmp, path)


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
    write_json(path / CONFIG_FILE, model.config.to_dict())
    save_tensors(path / WEIGHTS_FILE, model.state_dict(), metadata)
    if vocab is not None:
        vocab.to_json(path / VOCAB_FILE)
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
    ``optimizer.safetensors`` and ``state.json`` (``state`` must hold ``step``).

    All files are first written under ``*.tmp`` names, ``state.json.tmp``
    last; then they are renamed, ``state.json`` last. A run killed at any
    point leaves either the previous checkpoint or (rolled forward by
    :func:`recover_checkpoint`) the new one, never a mix.
    """
    output_dir = Path(output_dir)
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
    _write_tmp_json(output_dir / CONFIG_FILE, model.config.to_dict())
    _write_tmp_json(output_dir / VOCAB_FILE, {"words": vocab.words})
    save_tensors(output_dir / WEIGHTS_FILE, model.state_dict(), step, rename=False)
    save_tensors(output_dir / HEAD_FILE, head.state_dict(), step, rename=False)
    save_tensors(output_dir / OPTIMIZER_FILE, tensors, step, rename=False)
    full_state = {**state, "optimizer": {"param_groups": optimizer_state["param_groups"], "scalars": scalars}}
    _write_tmp_json(output_dir / STATE_FILE, full_state)
    recover_checkpoint(output_dir)


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def _write_tmp_json(path: Path, data: Any) -> None:
    _tmp(path).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def recover_checkpoint(output_dir: PathLike) -> None:
    """Finish or discard a checkpoint whose saving was interrupted.

    If a complete ``state.json.tmp`` exists, every file it belongs to was
    written: rename them into place (``state.json`` last). Otherwise remove
    the partial ``*.tmp`` files; the previous checkpoint is intact.
    """
    output_dir = Path(output_dir)
    state_tmp = _tmp(output_dir / STATE_FILE)
    complete = False
    if state_tmp.exists():
        try:
            complete = isinstance(json.loads(state_tmp.read_text(encoding="utf-8")), dict)
        except (json.JSONDecodeError, UnicodeDecodeError):
            complete = False
    for name in TRAINING_FILES:
        tmp = _tmp(output_dir / name)
        if tmp.exists():
            if complete:
                os.replace(tmp, output_dir / name)
            else:
                tmp.unlink()
    if state_tmp.exists():
        if complete:
            os.replace(state_tmp, output_dir / STATE_FILE)
        else:
            state_tmp.unlink()


def load_training_checkpoint(
    output_dir: PathLike, *, model: ELMo, head: nn.Module, optimizer: torch.optim.Optimizer
) -> Dict[str, Any]:
    """Restore weights and optimizer from ``output_dir``; returns ``state.json``."""
    output_dir = Path(output_dir)
    recover_checkpoint(output_dir)
    state_path = output_dir / STATE_FILE
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputFormatError(state_path, f"expected the JSON pretraining state ({err})") from None
    if not isinstance(state, dict) or "step" not in state or "optimizer" not in state:
        raise InputFormatError(state_path, "expected the JSON pretraining state with 'step' and 'optimizer'")
    for name in (WEIGHTS_FILE, HEAD_FILE, OPTIMIZER_FILE):
        found = tensors_metadata(output_dir / name).get("step")
        if found != str(state["step"]):
            raise UserError(
                f"{output_dir / name}: saved at step {found}, but {STATE_FILE} is at step {state['step']} "
                "(the run was interrupted while saving); restore the directory from a backup or start again"
            )
    load_module_weights(model, output_dir / WEIGHTS_FILE, what=f"ELMo model described by {output_dir / CONFIG_FILE}")
    load_module_weights(head, output_dir / HEAD_FILE, what="softmax head described by state.json")
    tensors = read_tensors(output_dir / OPTIMIZER_FILE)
    per_param: Dict[int, Dict[str, Any]] = {}
    for key, value in list(tensors.items()) + list(state["optimizer"]["scalars"].items()):
        index, name = key.split("/", 1)
        per_param.setdefault(int(index), {})[name] = value
    try:
        optimizer.load_state_dict({"state": per_param, "param_groups": state["optimizer"]["param_groups"]})
    except (ValueError, KeyError, RuntimeError) as err:
        raise InputFormatError(output_dir / OPTIMIZER_FILE, f"optimizer state does not fit this model ({err})") from None
    return state
