"""Masked-LM (BERT) and causal-LM (GPT-2) pretraining of Hugging Face models on raw text.

Two objectives:

* ``mlm``: 15 % of the pieces are predicted, 80 % of them replaced by the mask
  piece, 10 % by a random piece, 10 % kept, through HF's
  ``DataCollatorForLanguageModeling`` (``whole_word_masking``:
  ``DataCollatorForWholeWordMask``, which groups WordPiece ``##``
  continuations; refused for other tokenizers).
* ``clm``: next-piece prediction; every piece is a target, EOS included.

Data. The texts are tokenised without special pieces and concatenated, EOS
(``clm``) or SEP (``mlm``) after every document, then cut into blocks: for
``clm`` of exactly ``max_length`` pieces, for ``mlm`` of ``max_length - 2``
pieces wrapped in CLS/SEP by the tokenizer's own post-processor. The last
partial block is dropped, so there is never padding. Every ``1/dev_fraction``-th
block is held out as a fixed dev slice (or ``dev_texts`` are cut the same way).
Every epoch is a fixed permutation of the training blocks drawn from
``(seed, epoch)``; the data position is therefore just the step.

Randomness. Masking draws from an explicit ``torch.Generator`` per process,
seeded from ``(seed, rank)`` and handed to the collator (its ``seed=0`` would
silently use the global RNG); dropout draws from the global torch RNG, seeded
from ``(seed, rank)`` too. Both states are checkpointed, with the AdamW state,
so a resumed run equals an uninterrupted one. Dev loss uses a generator
re-seeded for every evaluation: the same dev masks every time.

Starting points: a Hugging Face folder (``model``: continued pretraining,
loaded with ``use_safetensors=True``; a missing MLM head is created and the
loading info recorded) or a preset (``tiny``/``small``) of BERT (``mlm``) or
GPT-2 (``clm``) with a tokenizer trained on the training texts by HF
``tokenizers`` (WordPiece for BERT, byte-level BPE for GPT-2, whose ``<|pad|>``
is not its EOS).

The run folder: ``state.json`` + ``checkpoint/`` (model and optimizer
safetensors, config), ``metrics.jsonl``/``.csv``, ``curves.png``, the
tokenizer files (written at the start), and at the end the model saved with
``save_pretrained(safe_serialization=True)`` and ``provenance.json``: the
folder itself loads with ``from_pretrained``. With ``torchrun``, gradients are
averaged with ``DistributedDataParallel`` over gloo; one step takes
``world_size * batch_size`` blocks.

Model code: no spaCy or Thinc import.
"""

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy

from ..extras import ensure_torch, require

ensure_torch("transformers")  # the clear "install the extra" error, before the imports below
require("transformers", "transformers")

import torch
import torch.distributed as dist
from tqdm import tqdm

from ..errors import UserError
from ..runs.checkpoints import Checkpoint
from ..runs.distributed import (
    all_reduce,
    barrier,
    decode_rng_state,
    encode_rng_state,
    gather_objects,
    init_distributed,
)
from ..runs.metrics import (
    CURVES_FILE,
    METRICS_CSV_FILE,
    METRICS_FILE,
    append_metrics,
    perplexity_panels,
    plot_curves,
    read_metrics,
    truncate_metrics,
    write_metrics_csv,
)
from ..runs.progress import postfix
from ..runs.options import (
    require_at_least,
    require_finite_loss,
    require_fraction,
    require_non_negative,
    require_positive,
)
from ..runs.outputs import (
    check_output_dir,
    claim_output_dir,
    fix_permissions,
    read_manifest,
    save_safetensors_atomic,
    write_json_atomic,
)
from ..runs.provenance import chunk_history, file_sha256, git_commit
from ..nn.state import unique_state
from .loading import model_kind

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

COMMAND = "pretrain-transformer"
OBJECTIVES = ("mlm", "clm")
PRESETS = ("tiny", "small")
STATE_FILE = "state.json"
PROVENANCE_FILE = "provenance.json"
CHECKPOINT_MODEL = "checkpoint/model.safetensors"
CHECKPOINT_CONFIG = "checkpoint/config.json"
CHECKPOINT_OPTIMIZER = "checkpoint/optimizer.safetensors"
CHECKPOINT_FILES = (CHECKPOINT_CONFIG, CHECKPOINT_MODEL, CHECKPOINT_OPTIMIZER)
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt",
    "added_tokens.json",
)
MODEL_FILES = ("config.json", "model.safetensors", "generation_config.json")
RUN_FILES = (
    STATE_FILE, *CHECKPOINT_FILES, METRICS_FILE, METRICS_CSV_FILE, CURVES_FILE, PROVENANCE_FILE,
    *TOKENIZER_FILES, *MODEL_FILES,
)
GPT2_EOS = "<|endoftext|>"
GPT2_PAD = "<|pad|>"
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

# curves.png: train and dev perplexity, and throughput, against steps
CURVE_PANELS = perplexity_panels(rate_key="pieces_per_second", rate_label="pieces / s")
# (hidden, layers, heads, intermediate)
_SHAPES = {"tiny": (64, 2, 2, 128), "small": (256, 4, 4, 1024)}

TextSource = Union[str, Path, Iterable[str]]


# -- data --------------------------------------------------------------------------------


def _texts_of(source: TextSource, *, text_format: str, encoding: str, limit: Optional[int]) -> List[str]:
    if isinstance(source, (str, Path)):
        from ..data.rawtext import iter_texts

        return list(iter_texts(source, fmt=text_format, limit=limit, encoding=encoding))
    texts = list(source)
    return texts[:limit] if limit else texts


def encode_stream(texts: Sequence[str], tokenizer: Any, *, separator_id: int, batch: int = 512) -> numpy.ndarray:
    """The pieces of ``texts`` (no special pieces), each document followed by
    ``separator_id``: int64 ``[n_pieces]``."""
    parts: List[numpy.ndarray] = []
    separator = numpy.asarray([separator_id], dtype=numpy.int64)
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # documents are longer than a block by design: no "too long" warning
    try:
        encoded_all = [
            tokenizer(list(texts[start : start + batch]), add_special_tokens=False)["input_ids"]
            for start in range(0, len(texts), batch)
        ]
    finally:
        hf_logging.set_verbosity(verbosity)
    for encoded in encoded_all:
        for ids in encoded:
            if ids:
                parts.append(numpy.asarray(ids, dtype=numpy.int64))
                parts.append(separator)
    return numpy.concatenate(parts) if parts else numpy.zeros(0, dtype=numpy.int64)


def make_blocks(stream: numpy.ndarray, *, objective: str, max_length: int, tokenizer: Any) -> numpy.ndarray:
    """Cut a piece stream into model inputs: int64 ``[n_blocks, max_length]``.

    ``clm``: consecutive ``max_length`` pieces (documents separated by EOS).
    ``mlm``: ``max_length - 2`` pieces each, wrapped by the tokenizer's
    special pieces (CLS ... SEP). The last partial block is dropped.
    """
    if objective == "clm":
        body = max_length
        prefix: List[int] = []
        suffix: List[int] = []
    else:
        prefix, suffix = _special_pieces(tokenizer)
        body = max_length - len(prefix) - len(suffix)
    n_blocks = len(stream) // body
    blocks = stream[: n_blocks * body].reshape(n_blocks, body)
    if prefix or suffix:
        blocks = numpy.concatenate(
            [
                numpy.tile(numpy.asarray(prefix, dtype=numpy.int64), (n_blocks, 1)),
                blocks,
                numpy.tile(numpy.asarray(suffix, dtype=numpy.int64), (n_blocks, 1)),
            ],
            axis=1,
        ).reshape(n_blocks, max_length)
    return blocks


def _special_pieces(tokenizer: Any) -> Tuple[List[int], List[int]]:
    marker = -7
    with_special = tokenizer.build_inputs_with_special_tokens([marker])
    at = with_special.index(marker)
    return list(with_special[:at]), list(with_special[at + 1 :])


def epoch_order(n_blocks: int, *, seed: int, epoch: int) -> numpy.ndarray:
    """The order of the training blocks in one epoch: a fixed function of its arguments."""
    return numpy.random.default_rng([seed, epoch]).permutation(n_blocks)


# -- collators ---------------------------------------------------------------------------


def collator_generator(*, seed: int, rank: int) -> torch.Generator:
    """The masking generator of one process, seeded from ``(seed, rank)`` (seed 0 included)."""
    return torch.Generator().manual_seed(_mix_seed(seed, rank, 0))


def _mix_seed(seed: int, rank: int, stream: int) -> int:
    digest = hashlib.sha256(f"{seed}/{rank}/{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def make_collator(
    tokenizer: Any, *, objective: str, generator: Optional[torch.Generator], mlm_probability: float = 0.15,
    whole_word_masking: bool = False,
) -> Any:
    """The HF collator of an objective, drawing from ``generator``.

    ``mlm``: ``DataCollatorForLanguageModeling`` (or
    ``DataCollatorForWholeWordMask``) with ``mlm_probability`` and 80/10/10;
    ``generator`` is set on it directly (HF's ``seed`` argument is skipped
    when it is 0) and ``seed`` is set only so that whole-word masking shuffles
    with the generator too. ``clm``: None (labels are the inputs).
    """
    if objective == "clm":
        return None
    from transformers import DataCollatorForLanguageModeling, DataCollatorForWholeWordMask

    cls = DataCollatorForWholeWordMask if whole_word_masking else DataCollatorForLanguageModeling
    collator = cls(tokenizer=tokenizer, mlm=True, mlm_probability=mlm_probability, return_tensors="pt")
    collator.generator = generator
    collator.seed = 1  # not None: whole-word masking's shuffle then uses the generator, never `random`
    return collator


def make_batch(blocks: numpy.ndarray, *, objective: str, collator: Any, tokenizer: Any) -> Dict[str, torch.Tensor]:
    """Model inputs for some blocks ``[B, L]``: ``input_ids`` and ``labels`` ``[B, L]``
    (``-100``: not a target), ``attention_mask`` ``[B, L]`` (all ones: no padding)."""
    input_ids = torch.from_numpy(numpy.ascontiguousarray(blocks)).long()
    if objective == "clm":
        batch = {"input_ids": input_ids, "labels": input_ids.clone()}
    elif type(collator).__name__ == "DataCollatorForWholeWordMask":
        batch = collator([{"input_ids": row} for row in input_ids.tolist()])
    else:
        special = torch.from_numpy(numpy.isin(blocks, tokenizer.all_special_ids))
        inputs, labels = collator.torch_mask_tokens(input_ids.clone(), special_tokens_mask=special)
        batch = {"input_ids": inputs, "labels": labels}
    return {
        "input_ids": batch["input_ids"],
        "labels": batch["labels"],
        "attention_mask": torch.ones_like(input_ids),
    }


# -- models and tokenizers ---------------------------------------------------------------


def train_tokenizer(texts: Sequence[str], *, arch: str, vocab_size: int, max_length: int) -> Any:
    """A fast tokenizer trained on ``texts``: cased WordPiece (``bert``, with
    ``[PAD] [UNK] [CLS] [SEP] [MASK]``) or byte-level BPE (``gpt2``, with
    ``<|endoftext|>`` as BOS/EOS/UNK and a separate ``<|pad|>``)."""
    from tokenizers import BertWordPieceTokenizer, ByteLevelBPETokenizer, processors
    from transformers import BertTokenizerFast, GPT2TokenizerFast

    if arch == "bert":
        wordpiece = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
        wordpiece.train_from_iterator(
            texts, vocab_size=vocab_size, min_frequency=2, special_tokens=list(BERT_SPECIALS), show_progress=False
        )
        backend = wordpiece._tokenizer
        cls, sep = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
        backend.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
        )
        return BertTokenizerFast(
            tokenizer_object=backend, model_max_length=max_length, do_lower_case=False, pad_token="[PAD]",
            unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
        )
    bpe = ByteLevelBPETokenizer(add_prefix_space=False)
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=[GPT2_EOS, GPT2_PAD], show_progress=False)
    return GPT2TokenizerFast(
        tokenizer_object=bpe._tokenizer, model_max_length=max_length, bos_token=GPT2_EOS, eos_token=GPT2_EOS,
        unk_token=GPT2_EOS, pad_token=GPT2_PAD,
    )


def preset_config(*, arch: str, preset: str, tokenizer: Any, max_length: int) -> Any:
    """The HF config of a ``tiny``/``small`` BERT or GPT-2 for ``tokenizer``."""
    if preset not in _SHAPES:
        raise UserError(f"--preset: expected one of {', '.join(PRESETS)}, found {preset!r}")
    hidden, layers, heads, inner = _SHAPES[preset]
    if arch == "bert":
        from transformers import BertConfig

        return BertConfig(
            vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
            intermediate_size=inner, max_position_embeddings=max_length, pad_token_id=tokenizer.pad_token_id,
        )
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=len(tokenizer), n_embd=hidden, n_layer=layers, n_head=heads, n_inner=inner, n_positions=max_length,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )


def load_start_model(folder: Path, *, objective: str) -> Tuple[Any, Any, Any]:
    """``(config, tokenizer)`` of a HF folder checked for ``objective``; the
    weights load later (:func:`_load_weights`). ``UserError``: no folder, no
    config, no tokenizer, pickle-only weights, a slow tokenizer, the wrong
    kind of model, no mask/EOS piece."""
    from transformers import AutoConfig, AutoTokenizer

    from .loading import check_fast_tokenizer, check_model_folder

    check_model_folder(folder)
    try:
        config = AutoConfig.from_pretrained(str(folder))
        tokenizer = AutoTokenizer.from_pretrained(str(folder), use_fast=True)
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"{folder}: cannot read the model's config or tokenizer ({str(err).strip().splitlines()[0]})") from None
    check_fast_tokenizer(tokenizer, str(folder))
    kind = model_kind(config)
    if objective == "clm" and kind != "causal":
        raise UserError(
            f"{folder}: a {config.model_type} model is not a causal LM, so --objective clm cannot train it; "
            "use --objective mlm, or a GPT-style model folder"
        )
    if objective == "mlm" and kind != "masked":
        raise UserError(
            f"{folder}: a {config.model_type} model is a causal LM, not a masked LM, so --objective mlm cannot train it; "
            "use --objective clm, or a BERT-style model folder"
        )
    if objective == "mlm" and tokenizer.mask_token_id is None:
        raise UserError(f"{folder}: the tokenizer has no mask piece, which --objective mlm needs")
    if objective == "clm" and tokenizer.eos_token_id is None:
        raise UserError(f"{folder}: the tokenizer has no EOS piece, which --objective clm puts between documents")
    return config, tokenizer, kind


def _build_model(*, objective: str, config: Any, source: Optional[Path]) -> Tuple[Any, Optional[Dict[str, Any]]]:
    """The LM (with head): from ``source``'s safetensors (with the loading info) or random from ``config``."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    auto = AutoModelForMaskedLM if objective == "mlm" else AutoModelForCausalLM
    if source is None:
        return auto.from_config(config), None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, info = auto.from_pretrained(str(source), config=config, use_safetensors=True, output_loading_info=True)
    except (OSError, ValueError, RuntimeError) as err:
        raise UserError(f"{source}: cannot load the weights from safetensors ({str(err).strip().splitlines()[0]})") from None
    loading = {key: sorted(map(str, value)) for key, value in info.items()}
    return model, loading


def _unique_state(model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """The state dict without the aliases of tied tensors (safetensors refuses shared memory)."""
    return unique_state(model.state_dict())


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """AdamW state as ``(tensors "index/key", JSON part with param_groups and scalars)``."""
    state = optimizer.state_dict()
    tensors: Dict[str, torch.Tensor] = {}
    scalars: Dict[str, Any] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{index}/{key}"] = value
            else:
                scalars[f"{index}/{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _load_optimizer(optimizer: torch.optim.Optimizer, tensors: Dict[str, torch.Tensor], saved: Dict[str, Any], path: Path) -> None:
    per_param: Dict[int, Dict[str, Any]] = {}
    try:
        for key, value in list(tensors.items()) + list(saved["scalars"].items()):
            index, name = key.split("/", 1)
            per_param.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": per_param, "param_groups": saved["param_groups"]})
    except (ValueError, KeyError, TypeError, RuntimeError) as err:
        raise UserError(f"{path}: the optimizer state does not fit this model ({err}); start a new run") from None


def learning_rate(step: int, *, lr: float, total_steps: int, warmup_steps: int) -> float:
    """Linear warm-up over ``warmup_steps`` to ``lr``, then linear decay to 0 at ``total_steps``."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    return lr * max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


# -- the run -----------------------------------------------------------------------------


@dataclass
class PretrainResult:
    """What a (possibly partial) run ended with; ``model`` is the trained HF LM in this process."""

    model: Any
    tokenizer: Any
    output_dir: Path
    step: int
    total_steps: int
    finished: bool
    train_perplexity: Optional[float]
    dev_perplexity: Optional[float]
    pieces_per_second: float
    loading_info: Optional[Dict[str, Any]] = field(default=None)


# Settings that shape the trajectory: a resumed run must use the same.
_TRAJECTORY_ARGS = (
    "objective", "model", "preset", "arch", "tokenizer_sha256", "vocab_size", "max_length", "batch_size", "lr", "warmup_steps",
    "weight_decay", "clip", "seed", "mlm_probability", "whole_word_masking", "dev_fraction", "world_size",
    "total_steps", "adam_betas", "head_warmup_steps",
)


def pretrain_transformer(
    *,
    texts: TextSource,
    output_dir: Union[str, Path],
    objective: str = "mlm",
    model: Optional[Union[str, Path]] = None,
    preset: Optional[str] = None,
    tokenizer: Optional[Union[str, Path]] = None,
    vocab_size: int = 8000,
    max_length: int = 128,
    batch_size: int = 16,
    steps: Optional[int] = None,
    epochs: float = 1.0,
    lr: float = 5e-4,
    warmup_steps: Optional[int] = None,
    weight_decay: float = 0.01,
    clip: float = 1.0,
    seed: int = 0,
    mlm_probability: float = 0.15,
    whole_word_masking: bool = False,
    head_warmup_steps: int = 0,
    checkpoint_every: int = 200,
    eval_every: Optional[int] = None,
    log_every: int = 20,
    dev_texts: Optional[TextSource] = None,
    dev_fraction: float = 0.02,
    resume: bool = False,
    max_steps_this_run: Optional[int] = None,
    max_minutes: Optional[float] = None,
    text_format: str = "auto",
    encoding: str = "utf-8",
    limit: Optional[int] = None,
    threads: Optional[int] = None,
    progress: bool = True,
    command: Optional[str] = None,
) -> PretrainResult:
    """Pretrain (``preset``) or continue pretraining (``model``) a HF LM and write ``output_dir``.

    texts: raw texts, or a file / folder / glob read with
        :func:`spacy_lm_suite.data.rawtext.iter_texts` (``text_format``,
        ``encoding``, ``limit``).
    objective: ``mlm`` (BERT-style) or ``clm`` (GPT-style).
    model: a HF folder to continue (its kind must fit ``objective``);
        preset: ``tiny`` or ``small`` BERT (``mlm``) / GPT-2 (``clm``) from
        scratch, with a tokenizer of ``vocab_size`` trained on the texts, or
        the fast tokenizer of the folder ``tokenizer`` (HF ``tokenizers``
        training is not bit-reproducible across processes: to compare runs
        from scratch, train it once and pass it to each).
    max_length: pieces per block (special pieces included).
    batch_size: blocks per step per process.
    steps: optimizer steps in total (default: ``epochs`` passes).
    lr, warmup_steps, weight_decay, clip: AdamW with linear warm-up (default
        6 % of the steps) and linear decay to 0; gradient-norm clipping.
    head_warmup_steps: the first K steps train the LM head only (encoder
        frozen); the dev perplexity after them is recorded as "before".
    whole_word_masking: mask whole WordPiece words (BERT tokenizers only).
    dev_texts / dev_fraction: held-out texts, or every ``1/dev_fraction``-th block.
    resume: continue the checkpoint in ``output_dir``.
    max_steps_this_run, max_minutes: stop early after a checkpoint (continue with ``resume``).
    command: the command line, for the provenance record.
    """
    started = time.perf_counter()
    _check_settings(
        objective=objective, model=model, preset=preset, tokenizer=tokenizer, vocab_size=vocab_size, max_length=max_length,
        batch_size=batch_size, steps=steps, epochs=epochs, lr=lr, warmup_steps=warmup_steps,
        weight_decay=weight_decay, clip=clip, mlm_probability=mlm_probability, head_warmup_steps=head_warmup_steps,
        checkpoint_every=checkpoint_every, eval_every=eval_every, log_every=log_every, dev_fraction=dev_fraction,
        max_steps_this_run=max_steps_this_run, max_minutes=max_minutes, limit=limit, threads=threads,
    )
    output_dir = Path(output_dir)
    arch = "bert" if objective == "mlm" else "gpt2"
    if threads is not None:
        torch.set_num_threads(threads)
    rank, world_size, owns_group = init_distributed()
    try:
        # 1. Checks that write nothing: the output folder, the model folder, the data.
        error = None
        has_checkpoint = False
        if rank == 0:
            try:
                has_checkpoint = _check_output(output_dir, resume=resume)
            except UserError as err:
                error = str(err)
        error, has_checkpoint = gather_objects((error, has_checkpoint), world_size)[0]
        if error is not None:
            raise UserError(error)
        source = Path(model) if model is not None else None
        tokenizer_folder = Path(tokenizer) if tokenizer is not None else None
        if has_checkpoint:
            config, tokenizer = _load_run_tokenizer_and_config(output_dir)
        elif source is not None:
            config, tokenizer, _ = load_start_model(source, objective=objective)
        elif tokenizer_folder is not None:
            tokenizer = _load_tokenizer(tokenizer_folder, objective=objective)
            config = preset_config(arch=arch, preset=preset or "tiny", tokenizer=tokenizer, max_length=max_length)
        else:
            config, tokenizer = None, None
        train_texts = _texts_of(texts, text_format=text_format, encoding=encoding, limit=limit)
        if not any(text.strip() for text in train_texts):
            raise UserError("the training texts are empty (no text to pretrain on); check the input path, --format and --limit")
        if tokenizer is None:
            tokenizer = train_tokenizer(train_texts, arch=arch, vocab_size=vocab_size, max_length=max_length)
            config = preset_config(arch=arch, preset=preset or "tiny", tokenizer=tokenizer, max_length=max_length)
        if whole_word_masking:
            if objective != "mlm":
                raise UserError("--whole-word-masking applies to --objective mlm only")
            if not _is_wordpiece(tokenizer):
                raise UserError(
                    "--whole-word-masking: works with WordPiece tokenizers (## continuations) only, and this one is "
                    f"{type(tokenizer).__name__}; drop --whole-word-masking"
                )
        limit_positions = _position_limit(config)
        if limit_positions is not None and max_length > limit_positions:
            raise UserError(f"--max-length: {max_length} is more than the model's {limit_positions} positions; lower --max-length")
        separator = tokenizer.eos_token_id if objective == "clm" else tokenizer.sep_token_id
        if separator is None:
            raise UserError("the tokenizer has no SEP piece to put between documents; use a BERT-style model folder")
        stream = encode_stream(train_texts, tokenizer, separator_id=separator)
        blocks = make_blocks(stream, objective=objective, max_length=max_length, tokenizer=tokenizer)
        if len(blocks) == 0:
            raise UserError(
                f"the training texts hold {len(stream)} pieces, fewer than one block of --max-length {max_length}; "
                "give more text or lower --max-length"
            )
        if dev_texts is not None:
            dev_stream = encode_stream(
                _texts_of(dev_texts, text_format=text_format, encoding=encoding, limit=None), tokenizer, separator_id=separator
            )
            dev_blocks = make_blocks(dev_stream, objective=objective, max_length=max_length, tokenizer=tokenizer)
            train_blocks = blocks
        elif dev_fraction > 0 and len(blocks) >= 2:
            every = max(2, round(1 / dev_fraction))
            index = numpy.arange(len(blocks))
            dev_blocks = blocks[index % every == every - 1]
            train_blocks = blocks[index % every != every - 1]
        else:
            dev_blocks, train_blocks = blocks[:0], blocks
        per_step = batch_size * world_size
        steps_per_epoch = len(train_blocks) // per_step
        if steps_per_epoch == 0:
            raise UserError(
                f"the training texts make {len(train_blocks)} block(s) of {max_length} pieces, fewer than one step of "
                f"--batch-size {batch_size} x {world_size} process(es); give more text or lower --batch-size/--max-length"
            )
        total_steps = steps if steps is not None else max(1, math.ceil(epochs * steps_per_epoch))
        if warmup_steps is None:
            warmup_steps = max(1, round(0.06 * total_steps))
        eval_every = eval_every or checkpoint_every
        fingerprint = _fingerprint(train_blocks, dev_blocks)
        adam_betas = (0.9, 0.999)
        training_args = {
            # the folder itself (a link such as the project's training/minilm resolves to it), so a
            # resume from another working directory or through the link is the same run
            "objective": objective, "model": _model_identity(source),
            "preset": None if source is not None else (preset or "tiny"), "arch": config.model_type,
            "tokenizer_sha256": hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode("utf-8")).hexdigest(),
            "vocab_size": len(tokenizer), "max_length": max_length, "batch_size": batch_size, "lr": lr,
            "warmup_steps": warmup_steps, "weight_decay": weight_decay, "clip": clip, "seed": seed,
            "mlm_probability": mlm_probability if objective == "mlm" else None,
            "whole_word_masking": whole_word_masking, "dev_fraction": dev_fraction if dev_texts is None else None,
            "world_size": world_size, "total_steps": total_steps, "adam_betas": list(adam_betas),
            "head_warmup_steps": head_warmup_steps, "steps_per_epoch": steps_per_epoch,
            "train_blocks": int(len(train_blocks)), "dev_blocks": int(len(dev_blocks)),
        }
        if has_checkpoint:
            state = Checkpoint(output_dir, files=CHECKPOINT_FILES).load_state()
            _check_resume(output_dir, state, training_args, fingerprint)

        # 2. The run folder (only now is anything written).
        if rank == 0 and not has_checkpoint:
            claim_output_dir(output_dir, command=COMMAND, files=RUN_FILES, overwrite=True, overwrite_option=None)
            _save_tokenizer(tokenizer, output_dir)
        barrier(world_size)

        # 3. Model, optimizer, RNG.
        torch.manual_seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lm, loading_info = _build_model(objective=objective, config=config, source=None if has_checkpoint else source)
        if has_checkpoint:
            loading_info = state.get("loading_info")
        optimizer = torch.optim.AdamW(_param_groups(lm, weight_decay=weight_decay), lr=lr, betas=adam_betas)
        generator = collator_generator(seed=seed, rank=rank)
        if has_checkpoint:
            _load_weights(lm, output_dir)
            from safetensors.torch import load_file

            _load_optimizer(optimizer, load_file(str(output_dir / CHECKPOINT_OPTIMIZER)), state["optimizer"], output_dir / CHECKPOINT_OPTIMIZER)
            torch.set_rng_state(decode_rng_state(state["rng"][rank]))
            generator.set_state(decode_rng_state(state["collator_rng"][rank]))
            if rank == 0:
                truncate_metrics(output_dir / METRICS_FILE, int(state["step"]))
        else:
            torch.manual_seed(_mix_seed(seed, rank, 1))
            state = {"step": 0, "pieces_seen": 0, "window": [0.0, 0, 0], "elapsed_seconds": 0.0}
        collator = make_collator(
            tokenizer, objective=objective, generator=generator, mlm_probability=mlm_probability,
            whole_word_masking=whole_word_masking,
        )
        dev_collator_seed = _mix_seed(seed, 0, 2)
        net: torch.nn.Module = lm
        if world_size > 1:
            net = torch.nn.parallel.DistributedDataParallel(lm, find_unused_parameters=head_warmup_steps > 0)

        step = int(state["step"])
        pieces_seen = int(state["pieces_seen"])
        window = list(state["window"])  # loss sum over targets, targets, steps since the last log
        elapsed_before = float(state["elapsed_seconds"])
        last_train_ppl: Optional[float] = state.get("last_train_perplexity")
        last_dev_ppl: Optional[float] = state.get("last_dev_perplexity")
        last_train_loss: Optional[float] = None
        history = chunk_history(state, command=command)  # the commits and command lines of every chunk
        dev_before: Optional[float] = state.get("dev_perplexity_before")
        run_start = time.perf_counter()
        run_pieces = 0
        steps_this_run = 0
        last_plot = [0.0]
        body = _head_parameters(lm) if head_warmup_steps > 0 else None

        def log(record: Dict[str, Any]) -> None:
            if rank == 0:
                append_metrics(output_dir / METRICS_FILE, record)

        def evaluate() -> Optional[float]:
            if len(dev_blocks) == 0:
                return None
            lm.eval()
            dev_gen = torch.Generator().manual_seed(dev_collator_seed)
            dev_collator = make_collator(
                tokenizer, objective=objective, generator=dev_gen, mlm_probability=mlm_probability,
                whole_word_masking=whole_word_masking,
            )
            totals = torch.zeros(2, dtype=torch.float64)
            with torch.no_grad():
                for start in range(0, len(dev_blocks), batch_size):  # every process draws the same masks
                    batch = make_batch(dev_blocks[start : start + batch_size], objective=objective, collator=dev_collator, tokenizer=tokenizer)
                    if (start // batch_size) % world_size != rank:
                        continue
                    loss_sum, targets = _loss_sum(lm, batch, objective=objective)
                    totals += torch.tensor([loss_sum.item(), float(targets)], dtype=torch.float64)
            all_reduce(totals, world_size)
            lm.train()
            return math.exp(totals[0].item() / max(1.0, totals[1].item()))

        def save(final: bool) -> None:
            rngs = gather_objects((encode_rng_state(torch.get_rng_state()), encode_rng_state(generator.get_state())), world_size)
            if rank == 0:
                tensors, optimizer_json = _optimizer_tensors(optimizer)
                metadata = {"format": "spacy-lm-suite.pretrain-transformer", "step": str(step)}
                Checkpoint(output_dir, files=CHECKPOINT_FILES).save(
                    {
                        "format": "spacy-lm-suite.pretrain-transformer", "step": step,
                        "epoch": step // steps_per_epoch, "block_in_epoch": (step % steps_per_epoch) * per_step,
                        "pieces_seen": pieces_seen, "window": window, "elapsed_seconds": elapsed_before + time.perf_counter() - run_start,
                        "rng": [r[0] for r in rngs], "collator_rng": [r[1] for r in rngs],
                        "scheduler": {
                            "name": "linear", "warmup_steps": warmup_steps, "total_steps": total_steps,
                            "last_lr": optimizer.param_groups[0]["lr"],
                        },
                        "optimizer": optimizer_json, "training": training_args, "data_fingerprint": fingerprint,
                        "loading_info": loading_info, "last_train_perplexity": last_train_ppl,
                        "last_dev_perplexity": last_dev_ppl, "dev_perplexity_before": dev_before, "complete": False,
                        **history,
                    },
                    write={
                        CHECKPOINT_CONFIG: lambda tmp: write_json_atomic(tmp, lm.config.to_dict()),
                        CHECKPOINT_MODEL: lambda tmp: save_safetensors_atomic(tmp, _unique_state(lm), metadata),
                        CHECKPOINT_OPTIMIZER: lambda tmp: save_safetensors_atomic(tmp, tensors or {"empty": torch.zeros(0)}, metadata),
                    },
                )
                write_metrics_csv(output_dir / METRICS_FILE, output_dir / METRICS_CSV_FILE)
                if final or time.perf_counter() - last_plot[0] > 60:
                    plot_curves(read_metrics(output_dir / METRICS_FILE), output_dir / CURVES_FILE, panels=CURVE_PANELS)
                    last_plot[0] = time.perf_counter()
            barrier(world_size)

        show = progress and rank == 0
        bar = tqdm(total=total_steps, initial=step, desc=COMMAND, unit="step", disable=not show, dynamic_ncols=True)
        lm.train()
        order = None
        order_epoch = -1
        stop = False
        while step < total_steps and not stop:
            epoch = step // steps_per_epoch
            if epoch != order_epoch:
                order = epoch_order(len(train_blocks), seed=seed, epoch=epoch)
                order_epoch = epoch
            at = (step % steps_per_epoch) * per_step + rank * batch_size
            chosen = train_blocks[numpy.sort(order[at : at + batch_size])]
            if body is not None:
                frozen = step < head_warmup_steps
                for parameter in body:
                    parameter.requires_grad_(not frozen)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, lr=lr, total_steps=total_steps, warmup_steps=warmup_steps)
            batch = make_batch(chosen, objective=objective, collator=collator, tokenizer=tokenizer)
            loss_sum, targets = _loss_sum(net, batch, objective=objective)
            counts = torch.tensor([loss_sum.item(), float(targets)], dtype=torch.float64)
            all_reduce(counts, world_size)
            # mean over all targets of all processes (DDP averages gradients over processes)
            loss = loss_sum * world_size / max(1.0, counts[1].item())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in lm.parameters() if p.requires_grad], clip)
            optimizer.step()
            step += 1
            steps_this_run += 1
            require_finite_loss(counts[0].item(), where=f"at step {step}", advice="earlier checkpoints are kept; try a lower --lr")
            window = [window[0] + counts[0].item(), window[1] + int(counts[1].item()), window[2] + 1]
            pieces = int(chosen.size) * world_size
            pieces_seen += pieces
            run_pieces += pieces
            rate = run_pieces / max(1e-9, time.perf_counter() - run_start)
            bar.update(1)
            epoch_end = step % steps_per_epoch == 0
            if step % log_every == 0 or epoch_end or step == total_steps:
                train_loss = window[0] / max(1, window[1])
                last_train_ppl = math.exp(min(train_loss, 700.0))
                log({
                    "kind": "train", "step": step, "epoch": step / steps_per_epoch, "lr": optimizer.param_groups[0]["lr"],
                    "train_loss": train_loss, "train_perplexity": last_train_ppl, "pieces": pieces_seen,
                    "pieces_per_second": rate,
                })
                window = [0.0, 0, 0]
                last_train_loss = train_loss
                bar.set_postfix(_bar_postfix(last_train_loss, last_dev_ppl, rate))
            warmup_end = head_warmup_steps > 0 and step == head_warmup_steps
            if step % eval_every == 0 or epoch_end or step == total_steps or warmup_end:
                dev_ppl = evaluate()
                if dev_ppl is not None:
                    last_dev_ppl = dev_ppl
                    if warmup_end:
                        dev_before = dev_ppl
                    log({"kind": "dev", "step": step, "epoch": step / steps_per_epoch, "dev_loss": math.log(dev_ppl), "dev_perplexity": dev_ppl})
                    bar.set_postfix(_bar_postfix(last_train_loss, last_dev_ppl, rate))
            if max_steps_this_run is not None and steps_this_run >= max_steps_this_run:
                stop = True
            if max_minutes is not None:
                flag = torch.tensor([float(time.perf_counter() - started > 60 * max_minutes)])
                all_reduce(flag, world_size)
                stop = stop or bool(flag.item())
            if step % checkpoint_every == 0 or step == total_steps or stop:
                save(final=step == total_steps or stop)
        bar.close()
        finished = step >= total_steps
        if finished and rank == 0:
            _export(
                output_dir, lm=lm, tokenizer=tokenizer, command=command, fingerprint=fingerprint, training=training_args,
                loading_info=loading_info, step=step, train_ppl=last_train_ppl, dev_ppl=last_dev_ppl, dev_before=dev_before,
                history=history, seconds=elapsed_before + time.perf_counter() - run_start,
            )
        barrier(world_size)
        lm.eval()
        return PretrainResult(
            model=lm, tokenizer=tokenizer, output_dir=output_dir, step=step, total_steps=total_steps, finished=finished,
            train_perplexity=last_train_ppl, dev_perplexity=last_dev_ppl,
            pieces_per_second=run_pieces / max(1e-9, time.perf_counter() - run_start), loading_info=loading_info,
        )
    finally:
        if owns_group:
            dist.destroy_process_group()


def _bar_postfix(train_loss: Optional[float], dev_ppl: Optional[float], pieces_per_second: float) -> Dict[str, str]:
    """What the progress bar shows after the step: the train loss and dev
    perplexity logged so far (none before the first log step) and the throughput."""
    return postfix(("loss", train_loss, ".3f"), ("dev_ppl", dev_ppl, ".1f"), ("pieces_s", pieces_per_second, ".0f"))


def _loss_sum(net: torch.nn.Module, batch: Dict[str, torch.Tensor], *, objective: str) -> Tuple[torch.Tensor, int]:
    """Summed cross-entropy over the targets of a batch, and their count.

    ``clm``: logits ``[B, L, V]`` at position ``t`` predict piece ``t + 1``;
    ``mlm``: the masked positions (labels != -100)."""
    logits = net(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    labels = batch["labels"]
    if objective == "clm":
        logits, labels = logits[:, :-1, :], labels[:, 1:]
    labels = labels.reshape(-1)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels, ignore_index=-100, reduction="sum")
    return loss, int((labels != -100).sum())


def _param_groups(model: torch.nn.Module, *, weight_decay: float) -> List[Dict[str, Any]]:
    """AdamW groups: no weight decay for biases and LayerNorm weights (tied tensors once)."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if parameter.ndim < 2 or "norm" in name.lower() else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _head_parameters(model: torch.nn.Module) -> List[torch.nn.Parameter]:
    """The parameters of the base model (frozen during a head-only warm-up); a
    tied output matrix is an input embedding, so it stays frozen too."""
    base = getattr(model, model.base_model_prefix, None)
    if base is None:
        raise UserError("--head-warmup-steps: this model has no separate base model to freeze")
    return list(base.parameters())


def _is_wordpiece(tokenizer: Any) -> bool:
    try:
        return json.loads(tokenizer.backend_tokenizer.to_str())["model"]["type"] == "WordPiece"
    except (KeyError, ValueError, AttributeError):
        return False


def _position_limit(config: Any) -> Optional[int]:
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            offset = (getattr(config, "pad_token_id", 1) or 0) + 1 if config.model_type in ("roberta", "xlm-roberta", "camembert") else 0
            return value - offset
    return None


def _fingerprint(train: numpy.ndarray, dev: numpy.ndarray) -> str:
    digest = hashlib.sha256(numpy.ascontiguousarray(train).tobytes())
    digest.update(b"|dev|")
    digest.update(numpy.ascontiguousarray(dev).tobytes())
    return digest.hexdigest()


def _check_settings(**values: Any) -> None:
    """Reject values that cannot make a run, named as the CLI options."""
    if values["objective"] not in OBJECTIVES:
        raise UserError(f"--objective: expected mlm or clm, found {values['objective']!r}")
    if values["model"] is not None and values["preset"] is not None:
        raise UserError("--model and --preset: give one (continue a model folder, or start a preset from scratch)")
    if values["model"] is not None and values["tokenizer"] is not None:
        raise UserError("--tokenizer: a --model folder brings its own tokenizer; drop --tokenizer")
    if values["preset"] is not None and values["preset"] not in PRESETS:
        raise UserError(f"--preset: expected one of {', '.join(PRESETS)}, found {values['preset']!r}")
    for option in ("batch_size", "steps", "epochs", "lr", "clip", "checkpoint_every", "eval_every", "log_every",
                   "max_steps_this_run", "max_minutes", "threads"):
        require_positive(values[option], option="--" + option.replace("_", "-"))
    for option in ("warmup_steps", "weight_decay", "limit", "head_warmup_steps"):
        require_non_negative(values[option], option="--" + option.replace("_", "-"))
    require_fraction(values["mlm_probability"], option="--mlm-probability")
    require_fraction(values["dev_fraction"], option="--dev-fraction", allow_zero=True)
    require_at_least(values["max_length"], 4, option="--max-length")
    require_at_least(values["vocab_size"], 64, option="--vocab-size")


def _model_identity(source: Optional[Path]) -> Optional[str]:
    if source is None:
        return None
    return str(source.resolve()) if source.exists() else str(source)  # a hub name stays as given


def _check_output(output_dir: Path, *, resume: bool) -> bool:
    """Whether ``output_dir`` holds a checkpoint to continue; ``UserError`` if
    it may not be used (a user's folder, another command's output, a run without ``resume``).
    Nothing is written."""
    if not output_dir.exists():
        check_output_dir(output_dir, command=COMMAND)
        return False
    manifest = read_manifest(output_dir) if output_dir.is_dir() else None
    if manifest is None or manifest.command != COMMAND:
        if resume and (output_dir / STATE_FILE).is_file():
            raise UserError(
                f"{output_dir}: holds a {manifest.command if manifest and manifest.command else 'another kind of'} run, "
                f"not a {COMMAND} run; --resume continues only {COMMAND} runs"
            )
        check_output_dir(output_dir, command=COMMAND, overwrite_option=None)  # raises unless empty
        return False
    checkpoint = Checkpoint(output_dir, files=CHECKPOINT_FILES)
    if not resume:
        raise UserError(
            f"{output_dir}: holds a {COMMAND} run; pass --resume to continue it, or choose a new or empty output folder"
        )
    return checkpoint.exists()  # False: killed before its first checkpoint, started again there


def _check_resume(output_dir: Path, state: Dict[str, Any], args: Dict[str, Any], fingerprint: str) -> None:
    if state.get("format") != "spacy-lm-suite.pretrain-transformer" or "training" not in state:
        raise UserError(f"{output_dir / STATE_FILE}: not the state of a {COMMAND} run; start a new run in another folder")
    saved = state["training"]
    changed = [name for name in _TRAJECTORY_ARGS if saved.get(name) != args.get(name)]
    if changed:
        details = "; ".join(f"{name}: checkpoint {saved.get(name)!r}, now {args.get(name)!r}" for name in changed)
        raise UserError(f"{output_dir / STATE_FILE}: cannot resume with different settings ({details}); use the run's settings or a new folder")
    if state.get("data_fingerprint") != fingerprint:
        raise UserError(
            f"{output_dir / STATE_FILE}: the training data differ from the checkpoint's "
            "(the same files, --format, --limit and --dev-fraction are needed to resume)"
        )
    if len(state.get("rng", [])) != args["world_size"] or len(state.get("collator_rng", [])) != args["world_size"]:
        raise UserError(f"{output_dir / STATE_FILE}: the checkpoint has no RNG states for {args['world_size']} processes")


def _load_run_tokenizer_and_config(output_dir: Path) -> Tuple[Any, Any]:
    from transformers import AutoConfig, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(output_dir), use_fast=True)
        config = AutoConfig.from_pretrained(str(output_dir / CHECKPOINT_CONFIG))
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"{output_dir}: cannot read the run's tokenizer or checkpoint config ({str(err).strip().splitlines()[0]})") from None
    return config, tokenizer


def _load_tokenizer(folder: Path, *, objective: str) -> Any:
    """The fast tokenizer of ``folder`` (``--tokenizer``), with the pieces ``objective`` needs."""
    from transformers import AutoTokenizer

    from .loading import check_fast_tokenizer

    if not folder.is_dir():
        raise UserError(f"--tokenizer: {folder} is not a folder (expected a Hugging Face tokenizer folder)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), use_fast=True)
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"--tokenizer: cannot read a tokenizer from {folder} ({str(err).strip().splitlines()[0]})") from None
    check_fast_tokenizer(tokenizer, str(folder))
    needed = ("mask_token_id", "sep_token_id", "pad_token_id") if objective == "mlm" else ("eos_token_id",)
    missing = [name[:-9] for name in needed if getattr(tokenizer, name) is None]
    if missing:
        raise UserError(f"--tokenizer: the tokenizer in {folder} has no {', '.join(missing)} piece, which --objective {objective} needs")
    return tokenizer


def _load_weights(lm: torch.nn.Module, output_dir: Path) -> None:
    from safetensors.torch import load_file

    path = output_dir / CHECKPOINT_MODEL
    tensors = load_file(str(path))
    expected = lm.state_dict()
    aliases = set(expected) - set(_unique_state(lm))
    missing = set(expected) - set(tensors) - aliases
    unexpected = set(tensors) - set(expected)
    bad_shape = [n for n, t in tensors.items() if n in expected and tuple(t.shape) != tuple(expected[n].shape)]
    if missing or unexpected or bad_shape:
        raise UserError(f"{path}: these are not the weights of the run's model (another config); start a new run")
    lm.load_state_dict(tensors, strict=False)
    lm.tie_weights()


def _save_pretrained_into(obj: Any, output_dir: Path, *, allowed: Sequence[str], what: str, **kwargs: Any) -> None:
    """``obj.save_pretrained`` into a temporary folder beside the run's files, then each file
    renamed into ``output_dir`` (umask permissions: HF writes 0600); only ``allowed`` names."""
    tmp = Path(tempfile.mkdtemp(prefix=".spacy-lm-suite-tmp-", dir=output_dir))
    try:
        obj.save_pretrained(str(tmp), **kwargs)
        fix_permissions(tmp)
        for item in sorted(tmp.iterdir()):
            if item.name not in allowed:
                raise RuntimeError(f"unexpected {what} file {item.name}")
            os.replace(item, output_dir / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _save_tokenizer(tokenizer: Any, output_dir: Path) -> None:
    """The tokenizer files into ``output_dir``."""
    _save_pretrained_into(tokenizer, output_dir, allowed=TOKENIZER_FILES, what="tokenizer")


def _export(
    output_dir: Path, *, lm: Any, tokenizer: Any, command: Optional[str], fingerprint: str, training: Dict[str, Any],
    loading_info: Optional[Dict[str, Any]], step: int, train_ppl: Optional[float], dev_ppl: Optional[float],
    dev_before: Optional[float], history: Dict[str, Any], seconds: float,
) -> None:
    """The final model (``save_pretrained``, safetensors) and tokenizer in the run folder, then
    ``provenance.json``, then ``state.json`` marked complete."""
    _save_pretrained_into(lm, output_dir, allowed=MODEL_FILES, what="model", safe_serialization=True)
    provenance = {
        # command/suite_commit: the last chunk's; chunks: every chunk's (a run resumed in chunks trains in several)
        "format": "spacy-lm-suite.pretrain-transformer.provenance", "command": command, "suite_commit": git_commit(),
        "suite_commits": history["suite_commits"], "chunks": history["commands"], "training_seconds": seconds,
        "objective": training["objective"], "start": training["model"] or f"preset {training['preset']}",
        "step": step, "train_perplexity": train_ppl, "dev_perplexity": dev_ppl,
        "dev_perplexity_before": dev_before, "data_fingerprint": fingerprint,
        "tokenizer_sha256": file_sha256(output_dir / "tokenizer.json") if (output_dir / "tokenizer.json").is_file() else None,
        "model_sha256": file_sha256(output_dir / "model.safetensors"), "loading_info": loading_info, "training": training,
    }
    write_json_atomic(output_dir / PROVENANCE_FILE, provenance)
    checkpoint = Checkpoint(output_dir, files=CHECKPOINT_FILES)
    state = checkpoint.load_state()
    checkpoint.save({**state, "complete": True})


__all__ = [
    "PretrainResult", "pretrain_transformer", "train_tokenizer", "make_collator", "make_batch", "make_blocks",
    "encode_stream", "collator_generator", "model_kind", "learning_rate",
]
