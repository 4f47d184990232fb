"""``spacy-lm-suite.ELMo.v1``: ELMo as a spaCy tok2vec (``List[Doc] -> List[Floats2d]``).

Two nodes, both reachable by ``model.get_ref``:

- ``"encoder"`` (:func:`ELMoEncoder`): the torch ELMo over the docs' tokens,
  giving all ``L + 1`` layers per doc, ``[L + 1, n_tokens, 2 * proj_dim]``.
  Docs are cut into chunks (their sentences when ``sentences`` is on and
  the doc has sentence boundaries, then windows of at most
  ``max_tokens_per_chunk`` tokens), and the chunks are run in padded batches
  of at most ``max_batch_tokens`` positions: memory for the LSTMs stays
  bounded however long a doc is. A chunk's vectors depend only on its own
  tokens, so a doc gets the same vectors in any batch.
- ``"mix"`` (:func:`~spacy_lm_suite.layers.scalar_mix.ScalarMixLayer`): the
  learned scalar mix ``γ · Σ_j softmax(s)_j · h_j`` down to ``[n_tokens, 2 * proj_dim]``.

The torch module is built at ``initialize`` (random from ``preset``, or
loaded from ``path``, a pretraining output directory, or AllenNLP files set
by the ``lm_elmo`` component) and saved with the model as safetensors plus
its JSON config, so a saved pipeline needs no other file.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d, Floats3d

from ..errors import UserError
from ..extras import ensure_torch
from .encoder_with_mix import EncoderWithMix
from .torch_shim import LateTorchShim

if TYPE_CHECKING:
    from ..elmo import ELMo as TorchELMo
    from ..elmo import ELMoConfig

# The torch ELMo (``..elmo``, the ``[elmo]`` extra) is imported where it is
# used: spaCy imports this module (an entry point) in every ``Language()``.

# ELMoConfig fields that decide the shapes of the weights
SHAPE_FIELDS = ("filters", "n_highway", "proj_dim", "hidden_dim", "n_layers", "char_dim", "n_chars")

Chunk = Tuple[int, int, int]  # (doc index, first token, end token)


@registry.architectures("spacy-lm-suite.ELMo.v1")
def ELMo(
    preset: Optional[str] = None,
    path: Optional[Union[str, Path]] = None,
    *,
    max_tokens_per_chunk: int = 256,
    max_batch_tokens: int = 16384,
    sentences: bool = True,
    layer_norm: bool = False,
    dropout: float = 0.0,
    grad: bool = True,
) -> Model[List[Doc], List[Floats2d]]:
    """ELMo vectors of every token: the learned mix of its ``L + 1`` layers.

    preset: ``tiny``/``small``/``medium``: the size of the model; without a
        ``path`` its weights start random. With a ``path`` too, the
        checkpoint must have this size (null: take the checkpoint's size).
    path: a pretraining output directory (``config.json`` + ``weights.safetensors``)
        read at ``initialize``; the ``lm_elmo`` component's initialize
        settings (``path``, ``allennlp_options``/``allennlp_weights``) replace it.
    max_tokens_per_chunk: longest span of tokens the LSTMs see at once.
    max_batch_tokens: most padded positions per torch batch.
    sentences: run each sentence on its own when the doc has sentence boundaries.
    layer_norm: normalise each layer (over the doc's tokens) before mixing.
    dropout: dropout rate on the mixed vectors in training.
    grad: fine-tune the ELMo weights (False: frozen; the mix still learns).
    Output: one array ``[n_tokens, 2 * proj_dim]`` per doc.
    """
    encoder = ELMoEncoder(
        preset=preset,
        path=path,
        max_tokens_per_chunk=max_tokens_per_chunk,
        max_batch_tokens=max_batch_tokens,
        sentences=sentences,
        grad=grad,
    )
    return EncoderWithMix("lm_elmo", encoder, layer_norm=layer_norm, dropout=dropout, what="ELMo")


def ELMoEncoder(
    *,
    preset: Optional[str] = None,
    path: Optional[Union[str, Path]] = None,
    max_tokens_per_chunk: int = 256,
    max_batch_tokens: int = 16384,
    sentences: bool = True,
    grad: bool = True,
) -> Model[List[Doc], List[Floats3d]]:
    """All ELMo layers of every doc: ``[L + 1, n_tokens, 2 * proj_dim]`` per doc
    (layer 0 is the character encoder's output, the others the biLSTM layers).
    Dims: ``nO`` (layer width) and ``nL`` (``L + 1``). Settings: see :func:`ELMo`.
    """
    if max_tokens_per_chunk < 1 or max_batch_tokens < max_tokens_per_chunk:
        raise UserError(
            f"ELMo: expected 1 <= max_tokens_per_chunk <= max_batch_tokens, got "
            f"max_tokens_per_chunk = {max_tokens_per_chunk}, max_batch_tokens = {max_batch_tokens}"
        )
    ensure_torch("elmo")
    config = _peek_config(preset, path)
    return Model(
        "lm_elmo_encoder",
        encoder_forward,
        init=encoder_init,
        dims={
            "nO": config.output_dim if config else None,
            "nL": config.n_layers + 1 if config else None,
        },
        attrs={
            "preset": preset,
            "path": str(path) if path is not None else None,
            "allennlp_options": None,
            "allennlp_weights": None,
            "max_tokens_per_chunk": max_tokens_per_chunk,
            "max_batch_tokens": max_batch_tokens,
            "sentences": sentences,
            "grad": grad,
        },
        shims=[LateTorchShim(build_elmo, what="ELMo encoder", after_update=_reset_type_cache)],
    )


def set_weights_source(
    encoder: Model,
    *,
    path: Optional[Union[str, Path]] = None,
    allennlp_options: Optional[Union[str, Path]] = None,
    allennlp_weights: Optional[Union[str, Path]] = None,
) -> None:
    """Make the encoder's next ``initialize`` read these weights (all None: keep its own ``path``)."""
    if (allennlp_options is None) != (allennlp_weights is None):
        raise UserError("ELMo: give both allennlp_options and allennlp_weights, or neither")
    if path is not None and allennlp_options is not None:
        raise UserError("ELMo: give either path or the allennlp_options/allennlp_weights files, not both")
    if path is None and allennlp_options is None:
        return
    encoder.attrs["path"] = str(path) if path is not None else None
    encoder.attrs["allennlp_options"] = str(allennlp_options) if allennlp_options is not None else None
    encoder.attrs["allennlp_weights"] = str(allennlp_weights) if allennlp_weights is not None else None


def build_elmo(config: Dict) -> "TorchELMo":
    from ..elmo import ELMo as TorchELMo
    from ..elmo import ELMoConfig

    return TorchELMo(config=ELMoConfig.from_dict(config))


def _reset_type_cache(elmo: "TorchELMo") -> None:
    """Drop the cached context-free vectors after an optimizer step (setting
    ``cache_size`` makes a new, empty cache)."""
    elmo.cache_size = elmo.cache_size


def torch_elmo(encoder: Model) -> "TorchELMo":
    """The torch ELMo module of an initialized (or loaded) encoder."""
    return encoder.shims[0].module


def _peek_config(preset: Optional[str], path: Optional[Union[str, Path]]) -> Optional["ELMoConfig"]:
    """The model's shape if known before initialize (from the preset, or a checkpoint's config.json)."""
    from ..elmo import ELMoConfig

    if preset is not None:
        return ELMoConfig.preset(preset)
    if path is not None and (Path(path) / "config.json").is_file():
        return ELMoConfig.from_json(Path(path) / "config.json")
    return None


def _load(attrs: Dict) -> Tuple["TorchELMo", str]:
    """The torch module the encoder's attrs ask for, and where it came from."""
    from ..elmo import ELMoConfig, load_allennlp_elmo, load_elmo

    if attrs["allennlp_options"] is not None:
        source = f"{attrs['allennlp_options']} + {attrs['allennlp_weights']}"
        return load_allennlp_elmo(attrs["allennlp_options"], attrs["allennlp_weights"]), source
    if attrs["path"] is not None:
        return load_elmo(attrs["path"]), attrs["path"]
    if attrs["preset"] is not None:
        return build_elmo(ELMoConfig.preset(attrs["preset"]).to_dict()), f"preset {attrs['preset']!r}"
    raise UserError(
        "ELMo has no weights to start from: set preset (random weights) or path in the model's "
        "config, or path (or allennlp_options/allennlp_weights) in [initialize.components.<name>]"
    )


def check_size(config: "ELMoConfig", preset: str, source: str) -> None:
    """Raise a clear error if ``config`` (read from ``source``) has another size than ``preset``."""
    from ..elmo import ELMoConfig

    expected = ELMoConfig.preset(preset)
    diffs = [
        f"{name} {getattr(config, name)} (preset: {getattr(expected, name)})"
        for name in SHAPE_FIELDS
        if getattr(config, name) != getattr(expected, name)
    ]
    if diffs:
        raise UserError(
            f"{source}: this ELMo checkpoint does not have the size of preset {preset!r}: "
            f"{'; '.join(diffs)}. Load a checkpoint of that size, or set preset = null to "
            "take the checkpoint's size"
        )


def encoder_init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> Model:
    elmo, source = _load(model.attrs)
    config: ELMoConfig = elmo.config
    if model.attrs["preset"] is not None:
        check_size(config, model.attrs["preset"], source)
    for name, expected in (("nO", config.output_dim), ("nL", config.n_layers + 1)):
        if model.has_dim(name) and model.get_dim(name) != expected:
            raise UserError(
                f"{source}: the ELMo loaded has {name} = {expected}, but the model was "
                f"built for {model.get_dim(name)} (a checkpoint of another size)"
            )
    model.set_dim("nO", config.output_dim)
    model.set_dim("nL", config.n_layers + 1)
    model.shims[0].set_module(elmo, config.to_dict())
    return model


def plan_chunks(docs: Sequence[Doc], *, max_tokens: int, sentences: bool) -> List[Chunk]:
    """Cut docs into ``(doc index, start, end)`` spans: sentences (if asked and
    annotated), then equal windows of at most ``max_tokens`` tokens."""
    chunks: List[Chunk] = []
    for i, doc in enumerate(docs):
        if not len(doc):
            continue
        if sentences and doc.has_annotation("SENT_START"):
            spans = [(sent.start, sent.end) for sent in doc.sents]
        else:
            spans = [(0, len(doc))]
        for start, end in spans:
            n = -(-(end - start) // max_tokens)
            bounds = [start + (k * (end - start)) // n for k in range(n + 1)]
            chunks.extend((i, a, b) for a, b in zip(bounds[:-1], bounds[1:]))
    return chunks


def batch_chunks(chunks: Sequence[Chunk], *, max_batch_tokens: int) -> Iterator[List[Chunk]]:
    """Groups of chunks, longest first, whose padded size stays within ``max_batch_tokens``."""
    batch: List[Chunk] = []
    width = 0
    for chunk in sorted(chunks, key=lambda c: c[1] - c[2]):
        length = chunk[2] - chunk[1]
        if batch and (len(batch) + 1) * width > max_batch_tokens:
            yield batch
            batch = []
        if not batch:
            width = length
        batch.append(chunk)
    if batch:
        yield batch


def encoder_forward(
    model: Model[List[Doc], List[Floats3d]], docs: List[Doc], is_train: bool
) -> Tuple[List[Floats3d], Callable]:
    nO = model.get_dim("nO")
    nL = model.get_dim("nL")
    outputs = [numpy.zeros((nL, len(doc), nO), dtype="float32") for doc in docs]
    chunks = plan_chunks(docs, max_tokens=model.attrs["max_tokens_per_chunk"], sentences=model.attrs["sentences"])
    if not chunks:
        return outputs, lambda d_outputs: []
    import torch

    from ..elmo import batch_to_type_ids

    elmo = torch_elmo(model)
    train = is_train and model.attrs["grad"]
    elmo.train(train)
    words = [[token.text for token in doc] for doc in docs]
    graph: List[Tuple[torch.Tensor, List[Chunk]]] = []
    for batch in batch_chunks(chunks, max_batch_tokens=model.attrs["max_batch_tokens"]):
        sentences = [words[i][start:end] for i, start, end in batch]
        type_chars, type_index, mask = batch_to_type_ids(sentences, max_chars=elmo.config.max_chars)
        with torch.set_grad_enabled(train):
            layers = elmo.forward_types(type_chars, type_index, mask)  # [nL, batch, seq, nO]
        values = layers.detach().numpy()
        for row, (i, start, end) in enumerate(batch):
            outputs[i][:, start:end] = values[:, row, : end - start]
        if train:
            graph.append((layers, batch))

    def backprop(d_outputs: List[Floats3d]) -> List[Doc]:
        for layers, batch in graph:
            d_layers = numpy.zeros(layers.shape, dtype="float32")
            for row, (i, start, end) in enumerate(batch):
                d_layers[:, row, : end - start] = d_outputs[i][:, start:end]
            torch.autograd.backward(layers, torch.from_numpy(d_layers))
        return []

    return outputs, backprop
