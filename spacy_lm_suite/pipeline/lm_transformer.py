"""The ``lm_transformer`` component: one Hugging Face encoder shared by every downstream component.

Downstream components read it through ``spacy-lm-suite.TransformerListener.v1``
layers (each with its own scalar mix of the hidden layers); the encoder runs
once per batch for all of them and is fine-tuned by their gradients unless
frozen (``grad = false`` in the model, or the component in ``[training]
frozen_components``), with spaCy's global optimizer or the component's own
(``optimizer``: e.g. a 5e-5 rate with warm-up for the encoder while the heads
learn at 1e-3). ``doc.tensor`` is the last hidden layer by default
(``tensor_layer``: ``"last"``, a layer index, or ``"mix"``, the model's own
mix), so ``token.vector``, ``span.vector`` and ``doc.similarity`` are
contextual; in a pipeline without listeners it is computed batch by batch,
never holding all layers of a long doc.

The model folder comes from the model's ``name`` or from
``[initialize.components.<name>] name``; weights, config and tokenizer are
saved with the pipeline (safetensors + JSON).
"""

from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Union

from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import Config, Model, Optimizer
from thinc.types import Floats2d

from ..errors import UserError
from ..layers.transformer import predict_layers_with_pieces, predict_tensors, set_model_name
from ..layers.transformer_listener import TransformerListener
from .contextual_encoder import ContextualEncoder, TensorLayer, Tensors

PIECES_EXTENSION = "lm_pieces"

DEFAULT_CONFIG = """
[model]
@architectures = "spacy-lm-suite.Transformer.v1"
name = null
window = 128
stride = 96
sentences = false
pooling = "mean"
max_batch_pieces = 4096
grad = true
freeze_layers = 0
quantize = null
layer_norm = false
dropout = 0.0
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_CONFIG)["model"]


@Language.factory(
    "lm_transformer",
    assigns=["doc.tensor"],
    default_config={
        "model": DEFAULT_MODEL, "set_tensor": True, "tensor_layer": "last", "optimizer": None, "piece_outputs": False,
    },
)
def make_lm_transformer(
    nlp: Language,
    name: str,
    model: Model,
    set_tensor: bool,
    tensor_layer: TensorLayer,
    optimizer: Optional[Optimizer],
    piece_outputs: bool,
) -> "LMTransformer":
    """optimizer: the encoder's own (e.g. ``Adam.v1`` with a ``warmup_linear.v1`` rate), or
    null for spaCy's global optimizer. piece_outputs: also write ``doc._.lm_pieces``
    (word-piece ids, character offsets and vectors of ``doc.tensor``'s layer; off by
    default, so memory does not grow when nobody asks)."""
    if optimizer is not None and not model.get_ref("encoder").attrs["grad"]:
        raise UserError(f"{name}: an optimizer is set but the encoder is frozen (grad = false): remove one of them")
    component = LMTransformer(
        nlp.vocab, model, name=name, set_tensor=set_tensor, tensor_layer=tensor_layer, optimizer=optimizer
    )
    component.cfg["piece_outputs"] = piece_outputs
    return component


# Registered on import (spawn workers import this module when they unpickle the
# component); None on every doc unless a component has piece_outputs = true.
if not Doc.has_extension(PIECES_EXTENSION):
    Doc.set_extension(PIECES_EXTENSION, default=None)


class WithPieces(NamedTuple):
    """What ``predict`` returns with ``piece_outputs``: its usual output and the piece records."""

    outputs: Any
    pieces: List[Dict[str, Any]]


class LMTransformer(ContextualEncoder):
    """A Hugging Face encoder as a shared contextual encoder (see :class:`ContextualEncoder`)."""

    listener_type = TransformerListener

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        name: Optional[Union[str, Path]] = None,
    ) -> None:
        """Load the model folder ``name`` (None: the model's own ``name``), then connect the listeners."""
        set_model_name(self.encoder, name)
        super().initialize(get_examples, nlp=nlp)

    def predict_tensors(self, docs: List[Doc]) -> Optional[List[Floats2d]]:
        index = self.layer_index()
        if index is None:
            return None  # the learned mix needs every layer
        return predict_tensors(self.encoder, docs, layer=index)[0]

    def predict(self, docs: Iterable[Doc]):
        """As :meth:`ContextualEncoder.predict`; with ``piece_outputs`` the piece records too."""
        if not self.cfg.get("piece_outputs"):
            return super().predict(docs)
        docs = list(docs)
        index = self.layer_index()
        if not self.listener_map and self.cfg["set_tensor"] and index is not None:
            tensors, pieces = predict_tensors(self.encoder, docs, layer=index, keep_pieces=True)
            self._last = None
            return WithPieces(Tensors(tensors), pieces)
        layers, pieces = predict_layers_with_pieces(self.encoder, docs, pieces_of=-1 if index is None else index)
        self._last = (docs, layers) if self.listener_map else None
        return WithPieces(layers, pieces)

    def set_annotations(self, docs: Sequence[Doc], prediction) -> None:
        if isinstance(prediction, WithPieces):
            super().set_annotations(docs, prediction.outputs)
            for doc, record in zip(docs, prediction.pieces):
                doc._.set(PIECES_EXTENSION, record)
            return
        super().set_annotations(docs, prediction)
