"""Run an :class:`~.loading.HFEncoder` over texts and pool its pieces to tokens.

:func:`plan` tokenizes each text once (with offsets), aligns pieces to the
caller's tokens (:mod:`.alignment`) and cuts the pieces into windows
(:mod:`.windows`). :func:`encode` runs the windows in length-sorted batches
of at most ``max_batch_pieces`` padded positions and writes, per text, an
array ``[n_out, n_tokens, width]``: every hidden layer (``n_out = n_layers + 1``,
embeddings first) or one reduced layer (``reduce``: a chosen layer or a fixed
weighted sum), where the reduction happens batch by batch.

Window averaging and token pooling are linear, so both are folded into one
weight per ``(token, piece)`` pair (:attr:`TextPlan.pair_weight`): a batch's
output rows go straight into the token arrays. Working memory beyond the
outputs is one batch, however long a text is.

In training (``grad``), :func:`encode` also returns a backprop callback that
maps token gradients back onto each batch's hidden states and runs one
``torch.autograd.backward`` over all batches.
"""

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy

from ..extras import ensure_torch, require

ensure_torch("transformers")  # the clear "install the extra" error, before the imports below
require("transformers", "transformers")

import torch

from ..errors import UserError
from ..nn.heap import trim_heap
from .alignment import Alignment, align
from .loading import HFEncoder
from .windows import Window, batch_windows, piece_windows, window_counts

TRIM_AFTER_PIECES = 16_384  # padded positions in one call above which freed memory is trimmed (nn.heap)
# reduce: hidden states [n_layers + 1, batch, seq, width] -> [n_out, batch, seq, width]
Reduce = Callable[[Sequence[torch.Tensor]], torch.Tensor]


@dataclass
class TextPlan:
    """One text's pieces, alignment and windows."""

    ids: numpy.ndarray  # [n_pieces] int64
    offsets: numpy.ndarray  # [n_pieces, 2] character spans
    alignment: Alignment
    windows: List[Tuple[int, int]]
    pair_weight: numpy.ndarray  # [n_pairs] float32: pooling weight / windows covering the piece
    piece_counts: numpy.ndarray  # [n_pieces] int64: windows covering each piece
    piece_vectors: Optional[numpy.ndarray] = None  # [n_pieces, width], set by encode(keep_pieces=True)

    @property
    def n_tokens(self) -> int:
        return self.alignment.n_tokens


def plan(
    encoder: HFEncoder,
    texts: Sequence[str],
    token_spans: Sequence[numpy.ndarray],
    *,
    window: int,
    stride: int,
    pooling: str = "mean",
    sentence_spans: Optional[Sequence[Optional[numpy.ndarray]]] = None,
) -> List[TextPlan]:
    """Tokenize, align and window each text. ``token_spans[i]``: ``[n_tokens, 2]``
    character spans; ``sentence_spans[i]``: ``[n_sents, 2]`` character spans or None."""
    check_window(encoder, window=window, stride=stride)
    encoded = encoder.tokenizer(
        list(texts),
        add_special_tokens=False,
        return_offsets_mapping=True,
        return_attention_mask=False,
        return_token_type_ids=False,
        verbose=False,
    )
    plans = []
    for i, (ids, offsets) in enumerate(zip(encoded["input_ids"], encoded["offset_mapping"])):
        ids = numpy.asarray(ids, dtype=numpy.int64)
        offsets = numpy.asarray(offsets, dtype=numpy.int64).reshape(-1, 2)
        alignment = align(token_spans[i], offsets, pooling=pooling)
        sents = sentence_spans[i] if sentence_spans is not None else None
        piece_spans = None
        if sents is not None and len(sents):
            starts = numpy.searchsorted(offsets[:, 0], sents[:, 0], side="left")
            ends = numpy.searchsorted(offsets[:, 0], sents[:, 1], side="left")
            piece_spans = list(zip(starts.tolist(), ends.tolist()))
        spans = piece_windows(len(ids), window=window, stride=stride, sentence_piece_spans=piece_spans)
        piece_counts = window_counts(len(ids), spans)
        counts = piece_counts[alignment.piece]
        pair_weight = numpy.where(counts > 0, alignment.weight / numpy.maximum(counts, 1), 0.0).astype(numpy.float32)
        plans.append(
            TextPlan(ids=ids, offsets=offsets, alignment=alignment, windows=spans, pair_weight=pair_weight, piece_counts=piece_counts)
        )
    return plans


def check_window(encoder: HFEncoder, *, window: int, stride: int) -> None:
    """Refuse windows the model cannot take (``window`` + special pieces over its limit)."""
    if window < 1 or not 1 <= stride <= window:
        raise UserError(f"transformer: expected window >= 1 and 1 <= stride <= window, got window = {window}, stride = {stride}")
    special = len(encoder.prefix) + len(encoder.suffix)
    limit = encoder.max_length
    if window + special > limit:
        raise UserError(
            f"transformer: window = {window} pieces + {special} special pieces is over the model's limit of "
            f"{limit} (set window <= {limit - special})"
        )


def encode(
    encoder: HFEncoder,
    plans: Sequence[TextPlan],
    *,
    max_batch_pieces: int,
    grad: bool = False,
    reduce: Optional[Reduce] = None,
    n_out: Optional[int] = None,
    keep_pieces: bool = False,
    piece_layer: int = -1,
) -> Tuple[List[numpy.ndarray], Optional[Callable[[Sequence[numpy.ndarray]], None]]]:
    """Per text ``[n_out, n_tokens, width]`` float32 (all layers unless ``reduce``), and
    with ``grad`` a callback taking the gradients of those arrays (None otherwise).
    keep_pieces: also set each plan's ``piece_vectors`` ``[n_pieces, width]``: output
    layer ``piece_layer`` per piece, averaged over the windows that cover it."""
    width = encoder.width
    n_out = n_out if n_out is not None else encoder.n_layers
    outputs = [torch.zeros((n_out, p.n_tokens, width)) for p in plans]
    piece_sums = [torch.zeros((len(p.ids), width)) for p in plans] if keep_pieces else None
    windows = all_windows(plans)
    graph: List[Tuple[torch.Tensor, List[Window], int]] = []
    if not windows:
        for p, piece in zip(plans, piece_sums or []):
            p.piece_vectors = piece.numpy()
        return [o.numpy() for o in outputs], (lambda d_outputs: None) if grad else None
    prefix, suffix = encoder.prefix, encoder.suffix
    extra = len(prefix) + len(suffix)
    model = encoder.model if grad else encoder.inference_model()
    model.train(grad)
    context = torch.enable_grad() if grad else torch.inference_mode()
    all_layers = reduce is None or not getattr(reduce, "last_only", False)
    padded = 0
    for batch in batch_windows(windows, extra=extra, max_batch_pieces=max(max_batch_pieces, 1)):
        input_ids, mask = window_inputs(encoder, plans, batch)
        padded += input_ids.numel()
        with context:
            result = model(input_ids=input_ids, attention_mask=mask, output_hidden_states=all_layers)
            if reduce is None:
                states = torch.stack(result.hidden_states)  # [n_layers + 1, batch, seq, width]
            else:
                states = reduce(result.hidden_states if all_layers else (result.last_hidden_state,))
        values = states.detach()
        for row, (i, a, b) in enumerate(batch):
            p = plans[i]
            if piece_sums is not None:
                share = torch.from_numpy(1.0 / p.piece_counts[a:b].astype(numpy.float32))[:, None]
                piece_sums[i][a:b] += values[piece_layer, row, len(prefix) : len(prefix) + b - a] * share
            lo, hi = p.alignment.piece_range(a, b)
            if lo == hi:
                continue
            local = torch.from_numpy(p.alignment.piece[lo:hi] - a + len(prefix))
            weight = torch.from_numpy(p.pair_weight[lo:hi])[None, :, None]
            tokens = torch.from_numpy(p.alignment.token[lo:hi])
            outputs[i].index_add_(1, tokens, values[:, row, local] * weight)
        if grad:
            graph.append((states, batch, len(prefix)))
    arrays = [o.numpy() for o in outputs]
    for p, piece in zip(plans, piece_sums or []):
        p.piece_vectors = piece.numpy()
    if not grad:
        if padded >= TRIM_AFTER_PIECES:
            del graph, values, states, result
            trim_heap()  # the batch's temporaries back to the OS, not kept between the docs' tensors
        return arrays, None

    def backprop(d_outputs: Sequence[numpy.ndarray]) -> None:
        d_tensors = [torch.from_numpy(numpy.ascontiguousarray(d, dtype=numpy.float32)) for d in d_outputs]
        tensors, grads = [], []
        for states, batch, offset in graph:
            d_states = torch.zeros(states.shape)
            for row, (i, a, b) in enumerate(batch):
                p = plans[i]
                lo, hi = p.alignment.piece_range(a, b)
                if lo == hi:
                    continue
                local = torch.from_numpy(p.alignment.piece[lo:hi] - a + offset)
                weight = torch.from_numpy(p.pair_weight[lo:hi])[None, :, None]
                tokens = torch.from_numpy(p.alignment.token[lo:hi])
                d_states[:, row].index_add_(1, local, d_tensors[i][:, tokens] * weight)
            if states.requires_grad:  # not when every layer below the outputs is frozen
                tensors.append(states)
                grads.append(d_states)
        if tensors:
            torch.autograd.backward(tensors, grads)
        graph.clear()

    return arrays, backprop


def all_windows(plans: Sequence[TextPlan]) -> List[Window]:
    """Every window of every plan, as ``(plan index, first piece, end piece)``."""
    return [(i, a, b) for i, p in enumerate(plans) for a, b in p.windows]


def window_inputs(encoder: HFEncoder, plans: Sequence[TextPlan], batch: Sequence[Window]) -> Tuple[torch.Tensor, torch.Tensor]:
    """``input_ids`` and ``attention_mask`` ``[rows, longest + specials]`` of a batch of
    windows: each row the special prefix, the window's pieces, the suffix, then padding."""
    prefix, suffix = encoder.prefix, encoder.suffix
    extra = len(prefix) + len(suffix)
    seq = max(b - a for _, a, b in batch) + extra
    input_ids = torch.full((len(batch), seq), encoder.pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), seq), dtype=torch.long)
    for row, (i, a, b) in enumerate(batch):
        pieces = numpy.concatenate([prefix, plans[i].ids[a:b], suffix]) if extra else plans[i].ids[a:b]
        input_ids[row, : len(pieces)] = torch.from_numpy(numpy.asarray(pieces, dtype=numpy.int64))
        mask[row, : len(pieces)] = 1
    return input_ids, mask


def select_layer(index: int) -> Reduce:
    """A reduction keeping one hidden layer (Python indexing: -1 is the last)."""

    def reduce(hidden: Sequence[torch.Tensor]) -> torch.Tensor:
        return hidden[index][None]

    reduce.last_only = index == -1  # type: ignore[attr-defined]
    return reduce


def weighted_sum(weights: numpy.ndarray, gamma: float = 1.0) -> Reduce:
    """A reduction ``gamma * sum_j w_j h_j`` (a fixed scalar mix)."""
    w = torch.from_numpy(numpy.asarray(weights, dtype=numpy.float32))

    def reduce(hidden: Sequence[torch.Tensor]) -> torch.Tensor:
        total = hidden[0] * w[0]
        for j in range(1, len(hidden)):
            total = total + hidden[j] * w[j]
        return (gamma * total)[None]

    return reduce
