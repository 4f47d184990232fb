"""Loading a causal LM and its tokenizer from a Hugging Face folder (or a GGUF file in it).

Any ``AutoModelForCausalLM`` folder works (GPT-2, Llama/SmolLM2, our own CLM
pretraining output), with safetensors weights only (``use_safetensors=True``:
no pickle), or a GGUF file in the folder (``gguf_file``), dequantised by
transformers, which needs the ``gguf`` and ``accelerate`` packages.

The model must be causal: transformers happily builds a ``BertLMHeadModel``
(with a random head, and attention that sees the future unless
``is_decoder``) from a BERT folder, so an encoder-only ``model_type`` needs
``is_decoder = true``, and any weight left randomly initialised is an error.

Tokenizer quirks fixed here (SmolLM2 from GGUF): the end-of-sequence ids come
from the model's generation config when it has them (SmolLM2's tokenizer says
``<|im_start|>`` where generation must stop at ``<|im_end|>``); padding uses
the generation config's pad id, else the first eos id; the context length is
the model config's ``max_position_embeddings`` (``n_positions``), never the
tokenizer's ``model_max_length`` (``1e30`` for "unknown").
"""

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Union

from ..extras import ensure_torch, require

ensure_torch("generator")  # the clear "install the extra" error, before the imports below
require("transformers", "generator")

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
    MODEL_FOR_MASKED_LM_MAPPING_NAMES,
)

from ..errors import UserError
from .settings import check_dtype

EXTRA_HINT = 'pip install "spacy-lm-suite[generator]"'
GGUF_PACKAGES = ("gguf", "accelerate")
TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# a tokenizer's model_max_length at or above this is transformers' "no limit" sentinel
UNKNOWN_LENGTH = 10**9


@dataclass
class LoadedModel:
    """A causal LM ready to generate, with what generation needs to know about it.

    eos_token_ids: generation stops at any of them (the first is also ``pad``'s fallback).
    context_length: prompt plus new tokens must fit (``None``: no known limit).
    """

    model: PreTrainedModel
    tokenizer: Any
    eos_token_ids: List[int]
    pad_token_id: int
    bos_token_id: Optional[int]
    context_length: Optional[int]


def load_causal_lm(
    folder: Union[str, Path], *, gguf_file: Optional[str] = None, dtype: str = "float32"
) -> LoadedModel:
    """Load the model (in ``dtype``, eval mode) and tokenizer of ``folder``; see the module docstring."""
    check_dtype(dtype)
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"model folder not found: {folder}")
    if gguf_file is not None:
        _check_gguf(folder, gguf_file)
    elif not (folder / "config.json").is_file():
        raise UserError(f"{folder} is not a Hugging Face model folder (no config.json; for a GGUF file set gguf_file)")
    gguf = {"gguf_file": gguf_file} if gguf_file is not None else {}
    try:
        config = AutoConfig.from_pretrained(folder, **gguf)
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"cannot read the model config in {folder}: {_first_line(err)}") from None
    check_causal(config, folder=folder)
    try:
        model, info = AutoModelForCausalLM.from_pretrained(
            folder,
            config=config,
            torch_dtype=TORCH_DTYPES[dtype],
            output_loading_info=True,
            **(gguf or {"use_safetensors": True}),
        )
    except OSError as err:
        if gguf_file is None and not list(folder.glob("*.safetensors")):
            raise UserError(
                f"no safetensors weights in {folder} (pickled .bin/.pt weights are not loaded: "
                "convert them with save_pretrained(..., safe_serialization=True))"
            ) from None
        raise UserError(f"cannot load the model in {folder}: {_first_line(err)}") from None
    missing = list(info.get("missing_keys") or []) + [key for key, *_ in info.get("mismatched_keys") or []]
    if missing:
        shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise UserError(
            f"{folder} does not hold all weights of a {type(model).__name__} "
            f"({len(missing)} would be random: {shown}): not a causal LM checkpoint"
        )
    model.eval()
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, **gguf)
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"cannot load the tokenizer in {folder}: {_first_line(err)}") from None
    return prepare(model, tokenizer)


def prepare(model: PreTrainedModel, tokenizer: Any) -> LoadedModel:
    """Resolve eos/pad/bos and the context length, and write them into the tokenizer
    and the model's generation config (so a saved copy carries them)."""
    generation = model.generation_config
    eos = _as_list(generation.eos_token_id) or _as_list(model.config.eos_token_id) or _as_list(tokenizer.eos_token_id)
    if not eos:
        raise UserError("the model has no end-of-sequence token (neither its generation config nor its tokenizer)")
    pad = generation.pad_token_id if generation.pad_token_id is not None else tokenizer.pad_token_id
    if pad is None:
        pad = eos[0]
    bos = generation.bos_token_id if generation.bos_token_id is not None else tokenizer.bos_token_id
    tokenizer.eos_token = tokenizer.convert_ids_to_tokens(eos[0])
    tokenizer.pad_token = tokenizer.convert_ids_to_tokens(pad)
    tokenizer.padding_side = "left"
    generation.eos_token_id = eos if len(eos) > 1 else eos[0]
    generation.pad_token_id = pad
    generation.bos_token_id = bos
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        eos_token_ids=eos,
        pad_token_id=int(pad),
        bos_token_id=None if bos is None else int(bos),
        context_length=context_length(model.config, tokenizer),
    )


def check_causal(config: Any, *, folder: Union[str, Path]) -> None:
    """Refuse a model type that is not a causal LM (or an encoder not configured as a decoder)."""
    model_type = getattr(config, "model_type", None)
    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise UserError(f"{folder} holds a {model_type!r} model, which is not a causal LM (AutoModelForCausalLM)")
    if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(config, "is_decoder", False):
        raise UserError(
            f"{folder} holds a {model_type!r} model, a bidirectional encoder, not a causal LM "
            "(its config would need is_decoder = true)"
        )


def context_length(config: Any, tokenizer: Any) -> Optional[int]:
    """The model's context: ``max_position_embeddings`` (``n_positions``), else a real
    ``model_max_length`` of the tokenizer, else ``None``."""
    for name in ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    value = getattr(tokenizer, "model_max_length", None)
    return value if isinstance(value, int) and 0 < value < UNKNOWN_LENGTH else None


def _check_gguf(folder: Path, gguf_file: str) -> None:
    path = folder / gguf_file
    if not path.is_file():
        found = sorted(p.name for p in folder.glob("*.gguf"))
        hint = f" (the folder has {', '.join(found)})" if found else ""
        raise UserError(f"GGUF file not found: {path}{hint}")
    missing = [name for name in GGUF_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"loading a GGUF file needs {' and '.join(missing)}: {EXTRA_HINT}")


def _as_list(value: Any) -> List[int]:
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    return [int(v) for v in value]


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
