"""``spacy-lm-suite.Transformer.v1``: a Hugging Face encoder as a spaCy tok2vec (``List[Doc] -> List[Floats2d]``).

Two nodes, both reachable by ``model.get_ref``, as in ``ELMo.v1``:

- ``"encoder"`` (:func:`TransformerEncoder`): the HF model over each doc's
  word pieces, pooled to spaCy tokens: every hidden layer, embeddings first,
  ``[n_layers + 1, n_tokens, width]`` per doc (dims ``nL``, ``nO``). Each
  doc's text is tokenized once with offsets; pieces go to the tokens they
  overlap (:mod:`spacy_lm_suite.transformers.alignment`); long docs are cut
  into strided windows (``window``/``stride`` pieces, averaged where they
  overlap, optionally within sentences), run in length-sorted batches of at
  most ``max_batch_pieces`` padded positions.
- ``"mix"``: the learned scalar mix of those layers.

The HF model is loaded in ``initialize`` from ``name`` (a local folder, or a
hub name where a hub is reachable) with safetensors only, and saved with the
pipeline as safetensors plus a JSON spec of its config and tokenizer files:
a saved pipeline needs no other file and no hub.
"""

import re
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy
from spacy.attrs import IDX, LENGTH
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d, Floats3d

from ..errors import UserError
from ..extras import ensure_torch, require
from ..transformers.alignment import POOLINGS
from .encoder_with_mix import EncoderWithMix
from .torch_shim import LateTorchShim


@registry.architectures("spacy-lm-suite.Transformer.v1")
def Transformer(
    name: Optional[Union[str, Path]] = None,
    *,
    window: int = 128,
    stride: int = 96,
    sentences: bool = False,
    pooling: str = "mean",
    max_batch_pieces: int = 4096,
    grad: bool = True,
    freeze_layers: int = 0,
    quantize: Optional[str] = None,
    layer_norm: bool = False,
    dropout: float = 0.0,
) -> Model[List[Doc], List[Floats2d]]:
    """Transformer vectors of every token: the learned mix of its hidden layers.

    name: a Hugging Face model folder (or hub name), read at ``initialize``;
        the ``lm_transformer`` component's initialize setting ``name`` replaces it.
    window, stride: pieces per window and between window starts (spacy-transformers'
        defaults); window + special pieces must fit the model.
    sentences: take windows within sentences when the doc has sentence boundaries.
    pooling: a token's pieces: ``mean``, ``first`` or ``last``.
    max_batch_pieces: most padded positions per torch batch.
    grad: fine-tune the transformer (False: frozen; the mix still learns).
    freeze_layers: with grad, keep the embeddings and the bottom k transformer layers
        fixed (fine-tune only the top ones; backprop stops at layer k).
    quantize: ``"int8"``: dynamic int8 inference (frozen encoders only; never saved).
    layer_norm, dropout: of the scalar mix.
    Output: one array ``[n_tokens, width]`` per doc.
    """
    encoder = TransformerEncoder(
        name=name, window=window, stride=stride, sentences=sentences, pooling=pooling,
        max_batch_pieces=max_batch_pieces, grad=grad, freeze_layers=freeze_layers, quantize=quantize,
    )
    return EncoderWithMix("lm_transformer", encoder, layer_norm=layer_norm, dropout=dropout, what="Transformer")


def TransformerEncoder(
    *,
    name: Optional[Union[str, Path]] = None,
    window: int = 128,
    stride: int = 96,
    sentences: bool = False,
    pooling: str = "mean",
    max_batch_pieces: int = 4096,
    grad: bool = True,
    freeze_layers: int = 0,
    quantize: Optional[str] = None,
) -> Model[List[Doc], List[Floats3d]]:
    """All hidden layers of every doc, ``[n_layers + 1, n_tokens, width]``; see :func:`Transformer`."""
    ensure_torch("transformers")
    require("transformers", "transformers")
    from ..transformers.loading import QUANTIZATIONS, peek_shape

    if window < 1 or not 1 <= stride <= window:
        raise UserError(f"Transformer: expected window >= 1 and 1 <= stride <= window, got window = {window}, stride = {stride}")
    if pooling not in POOLINGS:
        raise UserError(f"Transformer: pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    if max_batch_pieces < window:
        raise UserError(f"Transformer: max_batch_pieces ({max_batch_pieces}) must be at least window ({window})")
    if quantize not in QUANTIZATIONS:
        raise UserError(f"Transformer: quantize must be null or \"int8\", got {quantize!r}")
    if freeze_layers < 0:
        raise UserError(f"Transformer: freeze_layers must be 0 or more, got {freeze_layers}")
    if freeze_layers and not grad:
        raise UserError(
            f"Transformer: freeze_layers = {freeze_layers} is a fine-tuning option but grad = false freezes "
            "every layer: set grad = true, or freeze_layers = 0"
        )
    if quantize is not None and grad:
        raise UserError(
            "Transformer: quantize = \"int8\" is for a frozen encoder's inference; set grad = false "
            "(int8 weights cannot be fine-tuned)"
        )
    width, n_layers = peek_shape(name)
    return Model(
        "lm_transformer_encoder",
        encoder_forward,
        init=encoder_init,
        dims={"nO": width, "nL": n_layers},
        attrs={
            "name": str(name) if name is not None else None,
            "window": window,
            "stride": stride,
            "sentences": sentences,
            "pooling": pooling,
            "max_batch_pieces": max_batch_pieces,
            "grad": grad,
            "freeze_layers": freeze_layers,
            "quantize": quantize,
        },
        shims=[LateTorchShim(_build, what="transformer encoder", after_update=_forget_quantized)],
    )


def _build(spec: dict):
    from ..transformers.loading import build_encoder

    return build_encoder(spec)


def _forget_quantized(module) -> None:
    module.forget_quantized()


def hf_encoder(encoder: Model):
    """The :class:`~spacy_lm_suite.transformers.loading.HFEncoder` of an initialized (or loaded) encoder."""
    return encoder.shims[0].module


def set_model_name(encoder: Model, name: Optional[Union[str, Path]]) -> None:
    """Make the encoder's next ``initialize`` load ``name`` (None: keep its own)."""
    if name is not None:
        encoder.attrs["name"] = str(name)


def encoder_init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> Model:
    from ..transformers.encode import check_window
    from ..transformers.loading import load_encoder

    name = model.attrs["name"]
    if name is None:
        raise UserError(
            "Transformer has no model to load: set name in the model's config, or name in "
            "[initialize.components.<name>] (a Hugging Face model folder)"
        )
    module = load_encoder(name, quantize=model.attrs["quantize"])
    check_window(module, window=model.attrs["window"], stride=model.attrs["stride"])
    for dim, expected in (("nO", module.width), ("nL", module.n_layers)):
        if model.has_dim(dim) and model.get_dim(dim) != expected:
            raise UserError(
                f"{name}: the transformer loaded has {dim} = {expected}, but the model was built for "
                f"{model.get_dim(dim)} (a model of another size)"
            )
        model.set_dim(dim, expected)
    model.shims[0].set_module(module, module.spec())
    return model


def doc_plans(model: Model, docs: List[Doc]):
    """Pieces, alignment and windows of each doc (tokenized once per call)."""
    from ..transformers.encode import plan

    spans = []
    sentences = []
    for doc in docs:
        if len(doc):
            array = doc.to_array([IDX, LENGTH]).astype(numpy.int64)
            spans.append(numpy.stack([array[:, 0], array[:, 0] + array[:, 1]], axis=1))
        else:
            spans.append(numpy.zeros((0, 2), dtype=numpy.int64))
        if model.attrs["sentences"] and len(doc) and doc.has_annotation("SENT_START"):
            sentences.append(numpy.asarray([(s.start_char, s.end_char) for s in doc.sents], dtype=numpy.int64))
        else:
            sentences.append(None)
    return plan(
        hf_encoder(model), [doc.text for doc in docs], spans, window=model.attrs["window"],
        stride=model.attrs["stride"], pooling=model.attrs["pooling"], sentence_spans=sentences,
    )


def encoder_forward(model: Model[List[Doc], List[Floats3d]], docs: List[Doc], is_train: bool) -> Tuple[List[Floats3d], Callable]:
    from ..transformers.encode import encode

    train = is_train and model.attrs["grad"]
    if train:
        freeze_bottom(hf_encoder(model).model, model.attrs.get("freeze_layers", 0))
    outputs, backprop_layers = encode(
        hf_encoder(model), doc_plans(model, docs), max_batch_pieces=model.attrs["max_batch_pieces"], grad=train
    )

    def backprop(d_outputs: List[Floats3d]) -> List[Doc]:
        if backprop_layers is not None:
            backprop_layers(d_outputs)
        return []

    return outputs, backprop


_LAYER_INDEX = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)\.")


def freeze_bottom(module, k: int) -> None:
    """Let gradients reach only the transformer layers ``k`` and up: the embeddings and
    layers ``0 .. k-1`` get ``requires_grad = False`` (k = 0: everything trains).
    Layers are found by the HF naming of their parameters (``encoder.layer.3.``,
    ``layers.3.``, ``h.3.``); the pooler and other heads above the layers keep training."""
    n_layers = int(module.config.num_hidden_layers)
    if k > n_layers:
        raise UserError(f"Transformer: freeze_layers = {k} but the model has {n_layers} layers")
    for name, param in module.named_parameters():
        match = _LAYER_INDEX.search(name)
        if match is not None:
            frozen = int(match.group(1)) < k
        else:
            frozen = k > 0 and _is_embedding(name)
        param.requires_grad_(not frozen)


def _is_embedding(name: str) -> bool:
    """Whether a parameter belongs to the input embeddings (BERT ``embeddings.*``,
    GPT-2 ``wte``/``wpe``, Llama ``embed_tokens``)."""
    parts = name.split(".")
    return any(part.startswith("embed") or part in ("wte", "wpe") for part in parts[:-1])


def predict_layers_with_pieces(encoder: Model, docs: List[Doc], *, pieces_of: Optional[int] = None) -> Tuple[List[Floats3d], Optional[List[Dict[str, Any]]]]:
    """All layers of each doc (as ``encoder.predict``) and, with ``pieces_of`` (a layer
    index), each doc's piece record of that layer (see :func:`piece_records`)."""
    from ..transformers.encode import encode

    plans = doc_plans(encoder, docs)
    outputs, _ = encode(
        hf_encoder(encoder), plans, max_batch_pieces=encoder.attrs["max_batch_pieces"],
        keep_pieces=pieces_of is not None, piece_layer=pieces_of if pieces_of is not None else -1,
    )
    return outputs, piece_records(plans, pieces_of) if pieces_of is not None else None


def predict_tensors(
    encoder: Model, docs: List[Doc], *, layer: Optional[int] = None, weights=None, gamma: float = 1.0, keep_pieces: bool = False
) -> Tuple[List[Floats2d], Optional[List[Dict[str, Any]]]]:
    """One vector per token without keeping every layer: hidden layer ``layer``,
    or the fixed mix ``gamma * sum_j weights_j h_j``, reduced batch by batch
    (so a long doc costs its output, not ``n_layers + 1`` times it); with
    ``keep_pieces``, also each doc's piece record of that vector."""
    from ..transformers.encode import encode, select_layer, weighted_sum

    reduce = select_layer(layer) if weights is None else weighted_sum(weights, gamma)
    plans = doc_plans(encoder, docs)
    outputs, _ = encode(
        hf_encoder(encoder), plans, max_batch_pieces=encoder.attrs["max_batch_pieces"],
        reduce=reduce, n_out=1, keep_pieces=keep_pieces,
    )
    return [output[0] for output in outputs], piece_records(plans, layer) if keep_pieces else None


def piece_records(plans, layer: Optional[int]) -> List[Dict[str, Any]]:
    """Per doc ``{"ids", "offsets", "vectors", "layer"}``: the word-piece ids, their
    character spans in ``doc.text``, and that layer's vectors ``[n_pieces, width]``
    (averaged over overlapping windows; special pieces left out)."""
    return [
        {"ids": p.ids.tolist(), "offsets": p.offsets.tolist(), "vectors": p.piece_vectors, "layer": layer}
        for p in plans
    ]


def attach_lm_head(encoder: Model, *, keep: bool = False) -> Dict[str, Any]:
    """Give the initialized encoder a masked-LM head (weights from its model folder when
    it has them, else new; see :func:`~spacy_lm_suite.transformers.mlm_head.attach_mlm_head`)."""
    from ..transformers.mlm_head import attach_mlm_head

    return attach_mlm_head(hf_encoder(encoder), source=encoder.attrs["name"], keep=keep)


def has_lm_head(encoder: Model) -> bool:
    return encoder.shims[0].is_built and hf_encoder(encoder).lm_head is not None


def backprop_masked_lm(encoder: Model, docs: List[Doc], *, weight: float, mask_prob: float, generator) -> Tuple[float, int]:
    """The auxiliary masked-LM loss of ``docs``' own text: a separate forward over masked
    windows, ``weight`` x its mean backpropagated into the encoder and head gradients
    (applied by the next ``finish_update``). Returns the mean loss and the masked count."""
    from ..transformers.mlm_head import backward_masked_lm

    freeze_bottom(hf_encoder(encoder).model, encoder.attrs.get("freeze_layers", 0))
    return backward_masked_lm(
        hf_encoder(encoder), doc_plans(encoder, docs), max_batch_pieces=encoder.attrs["max_batch_pieces"],
        weight=weight, mask_prob=mask_prob, generator=generator,
    )
