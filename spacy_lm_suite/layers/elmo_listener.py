"""``spacy-lm-suite.ELMoListener.v1``: a downstream component's view of a shared ``lm_elmo``.

It receives all ``L + 1`` ELMo layers and mixes them with its own (s, γ);
see :mod:`.layers_listener` for how listeners get their layers.
"""

from typing import List, Optional

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d

from ..extras import ensure_torch
from .layers_listener import LayersListener


class ELMoListener(LayersListener):
    """Listens to an ``lm_elmo`` component."""

    name = "lm_elmo_listener"


@registry.architectures("spacy-lm-suite.ELMoListener.v1")
def elmo_listener(
    upstream: str = "*",
    width: Optional[int] = None,
    n_layers: Optional[int] = None,
    layer_norm: bool = False,
    dropout: float = 0.0,
) -> Model[List[Doc], List[Floats2d]]:
    """The ``lm_elmo`` component's layers, mixed by this listener's own (s, γ).

    upstream: the ``lm_elmo`` component's name, or ``"*"`` for any.
    width: the layers' width, ``2 * proj_dim`` (null: taken from the component).
    n_layers: the number of layers, ``L + 1`` (null: taken from the component).
    layer_norm: normalise each layer over the doc's tokens before mixing.
    dropout: dropout rate on the mixed vectors in training.
    Output: one array ``[n_tokens, width]`` per doc.
    """
    ensure_torch("elmo")
    return ELMoListener(upstream_name=upstream, width=width, n_layers=n_layers, layer_norm=layer_norm, dropout=dropout)
