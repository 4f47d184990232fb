"""Load a Hugging Face encoder and its fast tokenizer, safely, and rebuild them from JSON.

:func:`load_encoder` reads any ``AutoModel`` encoder (BERT, RoBERTa, MiniLM,
...) from a local folder (or a hub name where a hub is reachable) with
``use_safetensors=True``: a folder that holds only ``pytorch_model.bin`` is a
clear error instead of being unpickled. The tokenizer must be a *fast* one,
whose ``offset_mapping`` the alignment needs.

An :class:`HFEncoder` is an ``nn.Module`` holding the HF model and its
tokenizer; :meth:`HFEncoder.spec` is a JSON-able description (the model's
config and the tokenizer's files) from which :func:`build_encoder` rebuilds
it with random weights, ready for a safetensors state dict: that is how a
saved pipeline carries everything it needs, with no pickle and no hub.
"""

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from ..extras import ensure_torch, require

ensure_torch("transformers")  # the clear "install the extra" error, before the imports below
require("transformers", "transformers")

import torch
from torch import nn

from ..errors import UserError

# HF tokenizers print a warning in every forked worker unless told once.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PathLike = Union[str, Path]
SENTINEL_MAX_LENGTH = 1_000_000  # tokenizers without a limit report 1e30
# Models whose position ids start after the padding index (RoBERTa's padding_idx + 1).
POSITION_OFFSET_TYPES = ("roberta", "xlm-roberta", "camembert", "longformer", "bart", "mbart", "data2vec-text")
QUANTIZATIONS = (None, "int8")


class HFEncoder(nn.Module):
    """A Hugging Face encoder and its fast tokenizer.

    model: the HF ``PreTrainedModel`` (kept in fp32: it is what is saved).
    tokenizer: its ``PreTrainedTokenizerFast``.
    quantize: ``"int8"`` runs inference through a dynamically quantized copy
    made from the fp32 weights at load (never saved; see :meth:`inference_model`).
    """

    def __init__(self, *, model: nn.Module, tokenizer: Any, quantize: Optional[str] = None) -> None:
        super().__init__()
        if quantize not in QUANTIZATIONS:
            raise UserError(f"quantize must be null or \"int8\", got {quantize!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.quantize = quantize
        # A masked-LM head for an auxiliary loss (see .mlm_head): None unless attached.
        self.lm_head: Optional[nn.Module] = None
        self.keep_head = False  # save the head with the weights (default: dropped when saved)
        self._quantized: List[nn.Module] = []  # a list, so the copy is not a submodule (not in state_dict)
        self.prefix, self.suffix = special_pieces(tokenizer)
        self.pad_id: int = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    @property
    def width(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def n_layers(self) -> int:
        """Hidden layers plus the embedding output: what ``output_hidden_states`` returns."""
        return int(self.model.config.num_hidden_layers) + 1

    @property
    def max_length(self) -> int:
        """The longest input, special pieces included (see :func:`usable_length`)."""
        return usable_length(self.model.config, self.tokenizer)

    def inference_model(self) -> nn.Module:
        """The module to run without gradients: the int8 copy when asked for, else the model."""
        if self.quantize is None:
            return self.model
        if not self._quantized:
            self._quantized.append(quantize_int8(self.model))
        return self._quantized[0]

    def forget_quantized(self) -> None:
        """Drop the int8 copy (after the fp32 weights changed)."""
        self._quantized.clear()

    def spec(self) -> Dict[str, Any]:
        """A JSON-able description that :func:`build_encoder` rebuilds this from (weights aside)."""
        return {
            "model_config": self.model.config.to_dict(),
            "tokenizer_files": tokenizer_files(self.tokenizer),
            "quantize": self.quantize,
        }

    def saved_spec(self, spec: Dict[str, Any]) -> Dict[str, Any]:
        """``spec`` as saved now: it says whether the saved weights include the LM head."""
        return {**spec, "lm_head": self.lm_head is not None and self.keep_head}

    def saved_state(self) -> Dict[str, torch.Tensor]:
        """The tensors to save: the state dict without the LM head unless ``keep_head``."""
        state = self.state_dict()
        if self.lm_head is not None and not self.keep_head:
            state = {name: value for name, value in state.items() if not name.startswith("lm_head.")}
        return state


def special_pieces(tokenizer: Any) -> Tuple[List[int], List[int]]:
    """The ids the tokenizer puts before and after a single text (``[CLS]``/``[SEP]``,
    ``<s>``/``</s>``, none for GPT-2), read off its own post-processor."""
    for probe in ("a", "the", "x", "1"):
        bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
        full = tokenizer(probe, add_special_tokens=True)["input_ids"]
        if not bare:
            continue
        for at in range(len(full) - len(bare) + 1):
            if full[at : at + len(bare)] == bare:
                return list(full[:at]), list(full[at + len(bare) :])
    with_special = tokenizer.build_inputs_with_special_tokens([-1])
    at = with_special.index(-1)
    return list(with_special[:at]), list(with_special[at + 1 :])


def usable_length(config: Any, tokenizer: Any) -> int:
    """The longest input the model takes, special pieces included: the smaller of
    the tokenizer's ``model_max_length`` (unless it is the 1e30 "no limit"
    sentinel) and ``max_position_embeddings`` minus the position offset (2 for
    the RoBERTa family, whose positions start after the padding index)."""
    limits = []
    model_max = getattr(tokenizer, "model_max_length", None)
    if model_max is not None and model_max < SENTINEL_MAX_LENGTH:
        limits.append(int(model_max))
    positions = getattr(config, "max_position_embeddings", None)
    if positions is not None:
        offset = (getattr(config, "pad_token_id", 1) or 0) + 1 if config.model_type in POSITION_OFFSET_TYPES else 0
        limits.append(int(positions) - offset)
    return min(limits) if limits else SENTINEL_MAX_LENGTH


def load_encoder(name_or_path: PathLike, *, quantize: Optional[str] = None) -> HFEncoder:
    """The encoder and fast tokenizer of a local folder (or a hub name), from safetensors.

    Raises :class:`UserError` for a missing folder, a folder without a
    config, tokenizer or safetensors weights (pickle-only folders are refused),
    a slow tokenizer, or a model that cannot be read.
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    source = str(name_or_path)
    path = Path(name_or_path)
    local = path.exists()
    if local:
        check_model_folder(path)
    elif source.startswith((".", "/", "~")) or source.count("/") > 1:
        raise UserError(f"{source}: no such model folder (expected a Hugging Face model folder or hub name)")
    try:
        config = AutoConfig.from_pretrained(source)
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"{source}: cannot read the model's config or tokenizer ({_first_line(err)})") from None
    check_fast_tokenizer(tokenizer, source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = AutoModel.from_pretrained(source, config=config, use_safetensors=True)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise UserError(
            f"{source}: cannot load the encoder weights from safetensors ({_first_line(err)})"
        ) from None
    model.eval()
    return HFEncoder(model=model, tokenizer=tokenizer, quantize=quantize)


def check_model_folder(path: Path) -> None:
    """Refuse a local folder that cannot be a safe HF encoder, naming what is missing."""
    if not path.is_dir():
        raise UserError(f"{path}: not a folder (expected a Hugging Face model folder with config.json)")
    if not (path / "config.json").is_file():
        raise UserError(f"{path}: no config.json (expected a Hugging Face model folder)")
    if not any((path / name).is_file() for name in ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model")):
        raise UserError(f"{path}: no tokenizer files (tokenizer.json, vocab.txt or vocab.json) beside the model")
    has_safetensors = any(path.glob("*.safetensors")) or (path / "model.safetensors.index.json").is_file()
    if not has_safetensors:
        pickled = [name for name in ("pytorch_model.bin", "model.bin", "pytorch_model.bin.index.json") if (path / name).exists()]
        if pickled:
            raise UserError(
                f"{path}: holds only pickle weights ({pickled[0]}), which are never loaded here; convert them "
                "once, if you trust the file: AutoModel.from_pretrained(folder).save_pretrained(folder, "
                "safe_serialization=True)"
            )
        raise UserError(f"{path}: no model.safetensors (expected the encoder's weights in safetensors format)")


def check_fast_tokenizer(tokenizer: Any, source: str) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(
            f"{source}: the tokenizer ({type(tokenizer).__name__}) is not a fast tokenizer: piece-to-token "
            "alignment needs offset mappings; add a tokenizer.json (PreTrainedTokenizerFast) to the folder"
        )


def tokenizer_files(tokenizer: Any) -> Dict[str, str]:
    """The text of the files ``save_pretrained`` writes for a fast tokenizer (no slow vocab files)."""
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp, legacy_format=False)
        return {item.name: item.read_text(encoding="utf-8") for item in sorted(Path(tmp).iterdir()) if item.is_file()}


def build_encoder(spec: Dict[str, Any]) -> HFEncoder:
    """An :class:`HFEncoder` from :meth:`HFEncoder.spec` output, with freshly initialised weights."""
    from transformers import CONFIG_MAPPING, AutoModel, AutoTokenizer

    model_config = dict(spec["model_config"])
    model_type = model_config.get("model_type")
    if model_type not in CONFIG_MAPPING:
        raise UserError(f"the saved transformer has model_type {model_type!r}, which this transformers version does not know")
    config = CONFIG_MAPPING[model_type].from_dict(model_config)
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in spec["tokenizer_files"].items():
            if "/" in name or "\\" in name or name.startswith("."):
                raise UserError(f"the saved transformer's tokenizer has a bad file name {name!r}")
            (Path(tmp) / name).write_text(text, encoding="utf-8")
        tokenizer = AutoTokenizer.from_pretrained(tmp, use_fast=True)
    check_fast_tokenizer(tokenizer, "the saved transformer")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModel.from_config(config)
    model.eval()
    encoder = HFEncoder(model=model, tokenizer=tokenizer, quantize=spec.get("quantize"))
    if spec.get("lm_head"):
        from .mlm_head import attach_mlm_head

        attach_mlm_head(encoder, keep=True)
    return encoder


def model_kind(config: Any) -> str:
    """``"causal"`` or ``"masked"`` (or ``"unknown"``): which objective a HF config's model is for.

    An encoder type that HF can also run as a decoder (BERT, RoBERTa) counts
    as masked unless its config says ``is_decoder``.
    """
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    model_type = getattr(config, "model_type", None)
    if getattr(config, "is_decoder", False) and model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "causal"
    if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return "masked"
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "causal"
    return "unknown"


def quantize_int8(model: nn.Module) -> nn.Module:
    """A dynamically quantized int8 copy of ``model``'s ``nn.Linear`` layers with
    per-channel weights (kept MiniLM's token vectors closer to fp32 than per-tensor)."""
    import copy

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice
        return quantize_dynamic(
            copy.deepcopy(model).eval(), {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
        )


def peek_shape(name_or_path: Optional[PathLike]) -> Tuple[Optional[int], Optional[int]]:
    """``(width, n_layers + 1)`` from a local folder's config.json without importing
    transformers (None, None when unknown)."""
    if name_or_path is None:
        return None, None
    config_path = Path(name_or_path) / "config.json"
    if not config_path.is_file():
        return None, None
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        return int(config["hidden_size"]), int(config["num_hidden_layers"]) + 1
    except (ValueError, KeyError, TypeError):
        return None, None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
