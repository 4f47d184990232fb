"""Listeners that receive *all* layers of a contextual encoder component and own a scalar mix.

spaCy's ``Tok2VecListener`` receives one finished vector per token. These
listeners receive all layers of their upstream encoder component
(``[n_layers, n_tokens, width]`` per doc) and own a scalar mix, so every
downstream component (``ner``, ``textcat``, ...) learns its own weighting of
the layers. ``ELMoListener.v1`` and ``TransformerListener.v1`` are thin
subclasses (their own names, so each encoder component finds its own kind).

- In training, the upstream component's ``update`` hands each listener the
  batch's layers and a callback that backpropagates into the encoder
  (:meth:`LayersListener.receive`).
- Otherwise (prediction, or a frozen upstream that did not update), the
  listener asks its upstream component for the layers of its docs
  (``upstream.layers_for(docs)``): the component returns what it computed
  for the same batch of docs in its own ``predict``, or computes them.
  Nothing is stored on the docs, so ``nlp.pipe`` with any ``batch_size`` or
  ``n_process`` gives the vectors of ``nlp(text)``.
"""

from typing import Callable, List, Optional, Sequence, Tuple

from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d, Floats3d

from ..errors import UserError
from .scalar_mix import ScalarMixLayer


def same_docs(docs: Sequence[Doc], others: Optional[Sequence[Doc]]) -> bool:
    """Whether two batches are the same Doc objects in the same order."""
    return others is not None and len(docs) == len(others) and all(a is b for a, b in zip(docs, others))


class LayersListener(Model):
    """Base of the listeners that receive all layers of a contextual encoder component.

    ``upstream_name`` is the component's name or ``"*"`` (any component
    of the matching kind, see ``ContextualEncoder.listener_type``).
    """

    name = "lm_layers_listener"

    def __init__(
        self,
        *,
        upstream_name: str,
        width: Optional[int],
        n_layers: Optional[int],
        layer_norm: bool,
        dropout: float,
    ) -> None:
        mix = ScalarMixLayer(n_layers=n_layers, nO=width, layer_norm=layer_norm, dropout=dropout)
        Model.__init__(
            self, self.name, listener_forward, init=listener_init, layers=[mix], dims={"nO": width, "nL": n_layers}
        )
        self.upstream_name = upstream_name
        self.upstream = None  # the connected component, set by its add_listener
        self._docs: Optional[List[Doc]] = None
        self._outputs: Optional[List[Floats3d]] = None
        self._backprop: Optional[Callable] = None

    def __getstate__(self):
        """Pickled without the last training batch it received (its backprop callback
        is a closure): a pipeline trained in this process still pickles for spawn workers."""
        state = super().__getstate__()  # (__dict__, slots) for thinc's slotted Model
        attributes, slots = state if isinstance(state, tuple) else (state, None)
        attributes = {**attributes, "_docs": None, "_outputs": None, "_backprop": None}
        return (attributes, slots) if slots is not None else attributes

    def connect(self, component, *, width: Optional[int], n_layers: Optional[int]) -> None:
        """Listen to ``component``, whose layers are ``n_layers`` arrays of ``width`` (None: not known yet)."""
        self.upstream = component
        for dim, value in (("nO", width), ("nL", n_layers)):
            if value is None:
                continue
            if self.has_dim(dim) and self.get_dim(dim) != value:
                what = "width" if dim == "nO" else "n_layers"
                raise UserError(
                    f"{type(self).__name__} has {what} = {self.get_dim(dim)}, but its upstream component "
                    f"{component.name!r} gives {value}: set {what} = null (or {value}) in its config"
                )
            self.set_dim(dim, value)
            self.layers[0].set_dim(dim, value)

    def disconnect(self) -> None:
        self.upstream = None
        self.forget()

    def receive(self, docs: List[Doc], outputs: List[Floats3d], backprop: Optional[Callable]) -> None:
        """Store a training batch's layers and the callback that backpropagates into the encoder."""
        self._docs = list(docs)
        self._outputs = outputs
        self._backprop = backprop

    def forget(self) -> None:
        self._docs = self._outputs = self._backprop = None

    def fetch(self, docs: List[Doc], is_train: bool) -> Tuple[List[Floats3d], Optional[Callable]]:
        """The layers of ``docs`` and, in training, the callback into the encoder (or None)."""
        if is_train and same_docs(docs, self._docs):
            return self._outputs, self._backprop
        if self.upstream is None:
            raise UserError(
                f"{type(self).__name__} (upstream {self.upstream_name!r}) is not connected to a component: "
                "add the upstream component before this one in the pipeline"
            )
        return self.upstream.layers_for(docs), None


def listener_forward(model: LayersListener, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], Callable]:
    layers, backprop_layers = model.fetch(docs, is_train)
    outputs, backprop_mix = model.layers[0](layers, is_train)

    def backprop(d_outputs: List[Floats2d]) -> List[Doc]:
        d_layers = backprop_mix(d_outputs)
        if backprop_layers is not None:
            backprop_layers(d_layers)
        return []

    return outputs, backprop


def listener_init(model: LayersListener, X: Optional[List[Doc]] = None, Y=None) -> LayersListener:
    if not model.has_dim("nL") or not model.has_dim("nO"):
        raise UserError(
            f"{type(model).__name__} does not know its upstream's layers yet: initialize the upstream "
            "component (earlier in the pipeline) first, or set width and n_layers in the listener's config"
        )
    model.layers[0].initialize()
    return model
