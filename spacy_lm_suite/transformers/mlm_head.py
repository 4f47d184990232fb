"""A masked-LM head on an :class:`~.loading.HFEncoder`, for the auxiliary loss of fine-tuning.

Fine-tuning may keep the pretraining objective as a regulariser:
``L = L_task + weight * L_MLM`` over the training batch's own text. The
encoder gets a head (:func:`attach_mlm_head`): the one module that HF's
``AutoModelForMaskedLM`` puts beside the base model (BERT's ``cls``,
RoBERTa's ``lm_head``, ...), built from the encoder's config, its output
matrix tied to the encoder's input embeddings (as HF ties it), and its
weights read from the model folder's safetensors when they are there (a
folder written by ``pretrain-transformer --objective mlm``); otherwise new.

:func:`backward_masked_lm` runs a separate forward over masked copies of the
batch's windows (15 % of the pieces by default, 80/10/10 through HF's
``DataCollatorForLanguageModeling`` drawing from an explicit generator),
applies the head only at the masked positions (a head over every position
costs ~1.8x more on MiniLM) and backpropagates ``weight`` times the mean
cross-entropy into the encoder's and head's ``.grad``.

Model code: no spaCy or Thinc import.
"""

import json
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..errors import UserError
from ..nn.state import unique_state
from .encode import TextPlan, all_windows, window_inputs
from .loading import HFEncoder, model_kind
from .windows import batch_windows

OBJECTIVES = ("mlm",)


def check_mlm_capable(encoder: HFEncoder, *, what: str = "aux_loss") -> None:
    """Refuse a model that cannot be trained as a masked LM (a causal LM, no mask piece)."""
    config = encoder.model.config
    kind = model_kind(config)
    if kind != "masked":
        raise UserError(
            f"{what}: objective \"mlm\" needs a masked-LM model (BERT, RoBERTa, ...), but this {config.model_type} "
            f"model is {'a causal LM' if kind == 'causal' else 'not one HF can train as a masked LM'}; "
            "remove aux_loss or use a BERT-style model"
        )
    if encoder.tokenizer.mask_token_id is None:
        raise UserError(f"{what}: the tokenizer has no mask piece, which objective \"mlm\" needs")


def attach_mlm_head(encoder: HFEncoder, *, source: Optional[str] = None, keep: bool = False) -> Dict[str, Any]:
    """Give ``encoder`` a masked-LM head (``encoder.lm_head``) and return what was loaded:
    ``{"head", "loaded", "new"}`` (the HF module name, the head tensors read from
    ``source``'s safetensors, those created new). ``keep``: save the head with the weights."""
    from transformers import AutoModelForMaskedLM

    check_mlm_capable(encoder)
    config = encoder.model.config
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lm = AutoModelForMaskedLM.from_config(config)
    base = lm.base_model_prefix
    heads = [(name, module) for name, module in lm.named_children() if name != base]
    if len(heads) != 1:
        raise UserError(
            f"aux_loss: the {config.model_type} masked-LM model has {len(heads)} head modules beside its base "
            f"({', '.join(name for name, _ in heads)}), and only a single-module head is supported (BERT, RoBERTa, ...)"
        )
    name, head = heads[0]
    output = lm.get_output_embeddings()
    if output is not None and getattr(config, "tie_word_embeddings", True):
        output.weight = encoder.model.get_input_embeddings().weight
    tied = {f"{key}" for key, value in head.named_parameters(remove_duplicate=False)
            if output is not None and value is output.weight}
    loaded = _load_head_weights(head, name, source) if source is not None else []
    del lm
    encoder.lm_head = head
    encoder.keep_head = keep
    state = head.state_dict()
    known = {state[key].data_ptr() for key in [*loaded, *tied]}
    new = sorted(key for key, value in unique_state(state).items() if value.data_ptr() not in known)
    return {"head": name, "loaded": sorted(loaded), "new": new, "tied": sorted(tied)}


def _load_head_weights(head: nn.Module, prefix: str, source: str) -> List[str]:
    """Load the ``<prefix>.*`` tensors of a local folder's safetensors into ``head``; their names."""
    folder = Path(source)
    if not folder.is_dir():
        return []
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = sorted({folder / f for f in json.loads(index.read_text())["weight_map"].values()})
    wanted = {key: value for key, value in head.state_dict().items()}
    found: Dict[str, torch.Tensor] = {}
    for path in files:
        with safe_open(str(path), framework="pt") as handle:
            for key in handle.keys():
                if key.startswith(prefix + "."):
                    local = key[len(prefix) + 1 :]
                    if local in wanted and tuple(handle.get_slice(key).get_shape()) == tuple(wanted[local].shape):
                        found[local] = handle.get_tensor(key)
    if found:
        head.load_state_dict(found, strict=False)
    return list(found)


def backward_masked_lm(
    encoder: HFEncoder,
    plans: Sequence[TextPlan],
    *,
    max_batch_pieces: int,
    weight: float,
    mask_prob: float,
    generator: torch.Generator,
) -> Tuple[float, int]:
    """Mask the pieces of ``plans``' windows, run the encoder and the head at the masked
    positions, and backpropagate ``weight`` x the mean cross-entropy. Returns that mean
    (unweighted) and the number of masked pieces (0: nothing to predict, nothing done)."""
    from .pretrain import make_collator

    if encoder.lm_head is None:
        raise ValueError("backward_masked_lm: the encoder has no LM head (attach_mlm_head first)")
    windows = all_windows(plans)
    if not windows:
        return 0.0, 0
    collator = make_collator(encoder.tokenizer, objective="mlm", generator=generator, mlm_probability=mask_prob)
    special_ids = torch.tensor(sorted(set(encoder.tokenizer.all_special_ids)), dtype=torch.long)
    extra = len(encoder.prefix) + len(encoder.suffix)
    batches = []
    n_masked = 0
    for batch in batch_windows(windows, extra=extra, max_batch_pieces=max(max_batch_pieces, 1)):
        input_ids, mask = window_inputs(encoder, plans, batch)
        special = torch.isin(input_ids, special_ids) | (mask == 0)
        inputs, labels = collator.torch_mask_tokens(input_ids.clone(), special_tokens_mask=special)
        targets = labels != -100
        n_masked += int(targets.sum())
        batches.append((inputs, mask, labels, targets))
    if n_masked == 0:
        return 0.0, 0
    model, head = encoder.model, encoder.lm_head
    model.train(True)
    head.train(True)
    total = 0.0
    with torch.enable_grad():
        for inputs, mask, labels, targets in batches:
            if not targets.any():
                continue
            hidden = model(input_ids=inputs, attention_mask=mask).last_hidden_state  # [rows, seq, width]
            logits = head(hidden[targets])  # [n_masked, vocab]: the head at masked positions only
            loss = nn.functional.cross_entropy(logits.float(), labels[targets], reduction="sum")
            total += float(loss.detach())
            (loss * (weight / n_masked)).backward()
    return total / n_masked, n_masked
