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

``aux_loss`` keeps the pretraining objective while ``spacy train`` fine-tunes:
``L = L_task + weight * L_MLM`` over each training batch's own text (see
:mod:`spacy_lm_suite.transformers.mlm_head`), masked from a generator seeded
by ``[training] seed``; its mean per update is logged as the loss
``<name>_mlm`` (a column of ``spacy-lm-suite.ConsoleLogger.v1``). The head
is saved with the pipeline only with ``keep_head = true``. ``weight = 0``
(or no ``aux_loss``) skips it: no head, no extra forward, no random draws.
"""

from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Union

from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import logger
from spacy.training import Example
from thinc.api import Config, Model, Optimizer
from thinc.types import Floats2d

from ..errors import UserError
from ..layers.transformer import (
    attach_lm_head,
    backprop_masked_lm,
    has_lm_head,
    predict_layers_with_pieces,
    predict_tensors,
    set_model_name,
)
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
        "aux_loss": None,
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
    aux_loss: Optional[Dict[str, Any]],
) -> "LMTransformer":
    """optimizer: the encoder's own (e.g. ``Adam.v1`` with a ``warmup_linear.v1`` rate), or
    null for spaCy's global optimizer. piece_outputs: also write ``doc._.lm_pieces``
    (word-piece ids, character offsets and vectors of ``doc.tensor``'s layer; off by
    default, so memory does not grow when nobody asks). aux_loss: null, or
    ``{"objective": "mlm", "weight": 0.1, "mask_prob": 0.15, "keep_head": false}``
    (any key may be left out; these are the defaults)."""
    grad = model.get_ref("encoder").attrs["grad"]
    if optimizer is not None and not grad:
        raise UserError(f"{name}: an optimizer is set but the encoder is frozen (grad = false): remove one of them")
    aux = check_aux_loss(name, aux_loss)
    if aux is not None and aux["weight"] > 0 and not grad:
        raise UserError(
            f"{name}: aux_loss is a fine-tuning option but the encoder is frozen (grad = false): remove aux_loss, "
            "or set grad = true"
        )
    component = LMTransformer(
        nlp.vocab, model, name=name, set_tensor=set_tensor, tensor_layer=tensor_layer, optimizer=optimizer
    )
    component.cfg["piece_outputs"] = piece_outputs
    component.cfg["aux_loss"] = aux
    return component


AUX_LOSS_DEFAULTS: Dict[str, Any] = {"objective": "mlm", "weight": 0.1, "mask_prob": 0.15, "keep_head": False}
AUX_OBJECTIVES = ("mlm",)


def check_aux_loss(name: str, aux_loss: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """``aux_loss`` with its defaults filled in, or a :class:`UserError` naming the bad key."""
    if aux_loss is None:
        return None
    if not isinstance(aux_loss, dict):
        raise UserError(f"{name}: aux_loss must be null or a table such as {AUX_LOSS_DEFAULTS}, got {aux_loss!r}")
    unknown = sorted(set(aux_loss) - set(AUX_LOSS_DEFAULTS))
    if unknown:
        raise UserError(f"{name}: aux_loss has unknown key(s) {', '.join(unknown)} (known: {', '.join(AUX_LOSS_DEFAULTS)})")
    aux = {**AUX_LOSS_DEFAULTS, **aux_loss}
    if aux["objective"] not in AUX_OBJECTIVES:
        raise UserError(
            f"{name}: aux_loss objective must be \"mlm\" (the masked LM an encoder is pretrained with), "
            f"got {aux['objective']!r}"
        )
    weight, prob = aux["weight"], aux["mask_prob"]
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
        raise UserError(f"{name}: aux_loss weight (lambda) must be a number >= 0, got {weight!r}")
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 < prob < 1:
        raise UserError(f"{name}: aux_loss mask_prob must be strictly between 0 and 1, got {prob!r}")
    if not isinstance(aux["keep_head"], bool):
        raise UserError(f"{name}: aux_loss keep_head must be true or false, got {aux['keep_head']!r}")
    aux["weight"], aux["mask_prob"] = float(weight), float(prob)
    return aux


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
        """Load the model folder ``name`` (None: the model's own ``name``), then connect the
        listeners; with an active ``aux_loss``, attach the LM head and seed its masking
        generator (from ``[training] seed``, see :func:`_generator`)."""
        set_model_name(self.encoder, name)
        super().initialize(get_examples, nlp=nlp)
        aux = self.aux_loss
        if aux is not None:
            info = attach_lm_head(self.encoder, keep=aux["keep_head"])
            logger.info("%s: masked-LM head %r: %d tensors loaded, %d new", self.name, info["head"], len(info["loaded"]), len(info["new"]))
            self._aux_generator = _generator(None)

    @property
    def aux_loss(self) -> Optional[Dict[str, Any]]:
        """The auxiliary loss settings if it is on (a weight above 0), else None."""
        aux = self.cfg.get("aux_loss")
        return aux if aux is not None and aux["weight"] > 0 else None

    @property
    def aux_loss_key(self) -> str:
        """The ``losses`` key of the auxiliary loss."""
        return f"{self.name}_mlm"

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """As :meth:`ContextualEncoder.update`, plus the auxiliary masked-LM loss when it is on:
        its gradients join the listeners' before the encoder's next ``finish_update``."""
        examples = list(examples)
        losses = super().update(examples, drop=drop, sgd=sgd, losses=losses)
        aux = self.aux_loss
        if aux is None or not self.encoder.attrs.get("grad", True):
            return losses
        if not has_lm_head(self.encoder):  # a pipeline saved without its head, trained on
            logger.warning("%s: aux_loss is on but the loaded encoder has no LM head: a new one is made", self.name)
            attach_lm_head(self.encoder, keep=aux["keep_head"])
        if getattr(self, "_aux_generator", None) is None:
            self._aux_generator = _generator(None)
        loss, _ = backprop_masked_lm(
            self.encoder, [eg.predicted for eg in examples], weight=aux["weight"], mask_prob=aux["mask_prob"],
            generator=self._aux_generator,
        )
        losses[self.aux_loss_key] = losses.get(self.aux_loss_key, 0.0) + loss
        return losses

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


def _generator(seed: Optional[int]):
    """The masking generator of the auxiliary loss, seeded by ``seed`` or (None) by torch's
    initial seed, which ``spacy train`` sets from ``[training] seed`` (``fix_random_seed``)
    before ``initialize``: reading it draws nothing from any random state."""
    import torch

    return torch.Generator().manual_seed(torch.initial_seed() if seed is None else seed)
