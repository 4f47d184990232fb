"""The shared base of contextual encoder components (``lm_elmo``, later ``lm_transformer``).

A component runs its encoder once per batch for every downstream component
that listens to it (:class:`~spacy_lm_suite.layers.elmo_listener.LayersListener`
layers in their models), writes a mixed vector per token to ``doc.tensor``
(``token.vector`` and ``doc.similarity`` use it when the vocab has no vectors),
and saves its weights with the pipeline.

Its model must have two refs: ``"encoder"`` (``List[Doc] -> List[Floats3d]``,
all layers ``[nL, n_tokens, nO]`` of each doc, with dims ``nL`` and ``nO``) and
``"mix"`` (``List[Floats3d] -> List[Floats2d]``).

``optimizer``: the component's own (e.g. a small learning rate with warm-up
for a pretrained encoder while the task heads use spaCy's global one); None
uses the global optimizer for the encoder too.

``doc.tensor`` (``tensor_layer``): ``"mix"`` (the model's own mix), ``"last"``
or a layer index. When no listener needs the layers (a prediction-only
pipeline), a subclass may compute that one vector per token directly
(:meth:`ContextualEncoder.predict_tensors`), never holding every layer of a
long doc. At ``initialize``, a vocab with no vectors gets
``spacy-lm-suite.ContextualVectors.v1``, so ``token.vector`` and
``doc.similarity`` use ``doc.tensor`` without spaCy's W007 warning.

Training: ``update`` runs the encoder and hands the layers with a backprop
callback to the listeners, like spaCy's ``Tok2Vec``: the encoder is fine-tuned
unless its weights are frozen (the model's ``grad = false``, or the component
in ``[training] frozen_components``, best with ``annotating_components`` too).
When the component did not update a batch, its listeners ask it for the
layers (:meth:`ContextualEncoder.layers_for`) and no gradient reaches it.
"""

from itertools import islice
from typing import Any, Callable, ClassVar, Dict, Iterable, List, Optional, Sequence, Tuple, Type, Union

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Model, Optimizer
from thinc.types import Floats2d, Floats3d

from ..errors import UserError
from ..layers.layers_listener import LayersListener, same_docs
from ..vectors.contextual import use_contextual_vectors

TensorLayer = Union[str, int]


class Tensors(list):
    """What ``predict`` returns when it computed only ``doc.tensor`` (no layers for listeners)."""


class ContextualEncoder(TrainablePipe):
    """Run a contextual encoder once per batch for all listeners; see the module docstring."""

    listener_type: ClassVar[Type[LayersListener]] = LayersListener

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        *,
        name: str,
        set_tensor: bool = True,
        tensor_layer: TensorLayer = "mix",
        optimizer: Optional[Optimizer] = None,
    ) -> None:
        for ref in ("encoder", "mix"):
            if not model.has_ref(ref):
                raise ValueError(f"{type(self).__name__} {name!r}: its model has no {ref!r} ref")
        if not (tensor_layer in ("mix", "last") or (isinstance(tensor_layer, int) and not isinstance(tensor_layer, bool))):
            raise UserError(
                f"{name}: tensor_layer must be \"mix\", \"last\" or a layer index, got {tensor_layer!r}"
            )
        self.vocab = vocab
        self.model = model
        self.name = name
        self.listener_map: Dict[str, List[LayersListener]] = {}
        self.cfg: Dict[str, Any] = {"set_tensor": set_tensor, "tensor_layer": tensor_layer}
        self.optimizer = optimizer
        self._last: Optional[Tuple[List[Doc], List[Floats3d]]] = None

    def __getstate__(self) -> Dict[str, Any]:
        """Pickled without its own optimizer: thinc's learning-rate schedules are Python
        generators, which cannot be pickled (``nlp.pipe(n_process=2)`` under spawn pickles
        the pipeline). A copy made that way predicts; training it is refused (see
        :meth:`finish_update`); ``spacy.load`` rebuilds the optimizer from the config."""
        state = dict(self.__dict__)
        state["_unpickled_without_optimizer"] = state.get("optimizer") is not None
        state["optimizer"] = None
        state["_last"] = None
        return state

    def __reduce_ex__(self, protocol):
        # spaCy's TrainablePipe is a Cython class whose generated pickling copies
        # ``__dict__`` as the last item of its state, bypassing __getstate__.
        reduced = super().__reduce_ex__(protocol)
        state = reduced[2] if len(reduced) > 2 else None
        if isinstance(state, tuple) and state and isinstance(state[-1], dict):
            reduced = (reduced[0], reduced[1], (*state[:-1], self.__getstate__()), *reduced[3:])
        return reduced

    @property
    def encoder(self) -> Model:
        return self.model.get_ref("encoder")

    @property
    def listeners(self) -> List[LayersListener]:
        """The listener layers of the downstream components, in pipeline order."""
        return [m for c in self.listening_components for m in self.listener_map[c]]

    @property
    def listening_components(self) -> List[str]:
        return list(self.listener_map.keys())

    def add_listener(self, listener: LayersListener, component_name: str) -> None:
        self.listener_map.setdefault(component_name, [])
        if listener not in self.listener_map[component_name]:
            self.listener_map[component_name].append(listener)
        listener.connect(self, width=self.encoder.maybe_get_dim("nO"), n_layers=self.encoder.maybe_get_dim("nL"))

    def remove_listener(self, listener: LayersListener, component_name: str) -> bool:
        if listener in self.listener_map.get(component_name, []):
            self.listener_map[component_name].remove(listener)
            if not self.listener_map[component_name]:
                del self.listener_map[component_name]
            listener.disconnect()
            return True
        return False

    def find_listeners(self, component) -> None:
        """Add the listeners of ``component``'s model whose upstream is ``"*"`` or this component."""
        names = ("*", self.name)
        if isinstance(getattr(component, "model", None), Model):
            for node in component.model.walk():
                if isinstance(node, self.listener_type) and node.upstream_name in names:
                    self.add_listener(node, component.name)

    def predict(self, docs: Iterable[Doc]) -> List[Floats3d]:
        """All layers ``[nL, n_tokens, nO]`` of each doc; kept (until the next
        batch) for the listeners, if there are any. With no listeners, only
        ``doc.tensor``'s vectors if the subclass can compute them directly."""
        docs = list(docs)
        if not self.listener_map and self.cfg["set_tensor"]:
            tensors = self.predict_tensors(docs)
            if tensors is not None:
                self._last = None
                return Tensors(tensors)
        return self.predict_layers(docs)

    def predict_layers(self, docs: List[Doc]) -> List[Floats3d]:
        """All layers of each doc, kept (until the next batch) for the listeners, if any."""
        layers = self.encoder.predict(docs)
        self._last = (docs, layers) if self.listener_map else None
        return layers

    def layers_for(self, docs: Sequence[Doc]) -> List[Floats3d]:
        """The layers of ``docs``: those of the last ``predict`` if every doc was in it
        (the same batch, or part of it in any order: spaCy's parser predicts sorted
        sub-batches of a quarter of the batch), else computed now."""
        if self._last is not None:
            cached_docs, layers = self._last
            if same_docs(docs, cached_docs):
                return layers
            index = {id(doc): i for i, doc in enumerate(cached_docs)}  # the cached docs are alive: ids are unique
            positions = [index.get(id(doc)) for doc in docs]
            if docs and all(position is not None for position in positions):
                return [layers[position] for position in positions]
        return self.predict_layers(list(docs))

    def predict_tensors(self, docs: List[Doc]) -> Optional[List[Floats2d]]:
        """``doc.tensor`` of each doc without all layers, or None (then ``predict`` computes the layers)."""
        return None

    def layer_index(self) -> Optional[int]:
        """The layer ``doc.tensor`` takes (None: the mix)."""
        choice = self.cfg.get("tensor_layer", "mix")
        if choice == "mix":
            return None
        index = -1 if choice == "last" else int(choice)
        n_layers = self.encoder.maybe_get_dim("nL")
        if n_layers is not None and not -n_layers <= index < n_layers:
            raise UserError(f"{self.name}: tensor_layer = {choice} but the encoder has {n_layers} layers (0 to {n_layers - 1})")
        return index

    def set_annotations(self, docs: Sequence[Doc], layers: List[Floats3d]) -> None:
        """Write ``doc.tensor`` ``[n_tokens, nO]`` (if ``set_tensor``): the chosen layer or the mix."""
        if not self.cfg["set_tensor"]:
            return
        if isinstance(layers, Tensors):
            tensors = list(layers)
        elif self.layer_index() is None:
            tensors = self.model.get_ref("mix").predict(layers)
        else:
            index = self.layer_index()
            tensors = [numpy.ascontiguousarray(x[index]) for x in layers]
        for doc, tensor in zip(docs, tensors):
            doc.tensor = tensor

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Run the encoder on the batch and hand the layers to the listeners; the
        last listener's backprop updates the encoder (the others accumulate)."""
        if losses is None:
            losses = {}
        validate_examples(examples, f"{type(self).__name__}.update")
        losses.setdefault(self.name, 0.0)
        frozen = not self.encoder.attrs.get("grad", True)
        docs = [eg.predicted for eg in examples]
        self._last = None
        layers, backprop_layers = self.encoder.begin_update(docs)
        d_layers = [self.model.ops.alloc3f(*x.shape) for x in layers]

        def accumulate_gradient(one_d_layers: List[Floats3d]) -> List[Doc]:
            for total, d in zip(d_layers, one_d_layers):
                total += d
                if not frozen:  # no gradient reaches a frozen encoder: log 0
                    losses[self.name] += float((d**2).sum())
            return []

        def backprop(one_d_layers: List[Floats3d]) -> List[Doc]:
            accumulate_gradient(one_d_layers)
            backprop_layers(d_layers)
            if sgd is not None:
                self.finish_update(sgd)
            return []

        for listener in self.listeners[:-1]:
            listener.receive(docs, layers, accumulate_gradient)
        if self.listeners:
            self.listeners[-1].receive(docs, layers, backprop)
        return losses

    def finish_update(self, sgd: Optimizer) -> None:
        """Apply the gradients: with the component's own optimizer if it has one
        (its learning-rate schedule steps here, once per update), else ``sgd``
        (spaCy's global optimizer, as spacy-transformers does)."""
        self._last = None
        if self.optimizer is None:
            if getattr(self, "_unpickled_without_optimizer", False):
                raise UserError(
                    f"{self.name}: this copy of the pipeline was unpickled, which drops the component's own "
                    "optimizer (its schedule cannot be pickled): train a pipeline loaded with spacy.load instead"
                )
            super().finish_update(sgd)
            return
        self.model.finish_update(self.optimizer)
        self.optimizer.step_schedules()

    def get_loss(self, examples, scores) -> None:
        """No loss of its own: gradients come from the listeners."""

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None) -> None:
        """Build (or load) the encoder, then give the listeners its layers' shape."""
        validate_get_examples(get_examples, f"{type(self).__name__}.initialize")
        sample = [eg.x for eg in islice(get_examples(), 10)]
        self.model.initialize(X=sample)
        self._last = None
        self.layer_index()  # a tensor_layer outside the encoder's layers is an error now, not at the first doc
        if nlp is not None and self.cfg["set_tensor"]:
            use_contextual_vectors(nlp)
        for listener in self.listeners:
            listener.connect(self, width=self.encoder.get_dim("nO"), n_layers=self.encoder.get_dim("nL"))

    def add_label(self, label: str) -> int:
        raise NotImplementedError(f"{type(self).__name__} has no labels")
