"""``spacy-lm-suite.TransformerListener.v1``: a downstream component's view of a shared ``lm_transformer``.

It receives all hidden layers of the transformer (embeddings included,
``[n_layers + 1, n_tokens, width]`` per doc) and mixes them with its own
(s, γ); see :mod:`.layers_listener` for how listeners get their layers.
"""

from typing import List, Optional

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d

from ..extras import ensure_torch
from .layers_listener import LayersListener


class TransformerListener(LayersListener):
    """Listens to an ``lm_transformer`` component."""

    name = "lm_transformer_listener"


@registry.architectures("spacy-lm-suite.TransformerListener.v1")
def transformer_listener(
    upstream: str = "*",
    width: Optional[int] = None,
    n_layers: Optional[int] = None,
    layer_norm: bool = False,
    dropout: float = 0.0,
) -> Model[List[Doc], List[Floats2d]]:
    """The ``lm_transformer`` component's layers, mixed by this listener's own (s, γ).

    upstream: the ``lm_transformer`` component's name, or ``"*"`` for any.
    width: the hidden size (null: taken from the component).
    n_layers: hidden layers + 1 for the embeddings (null: taken from the component).
    layer_norm: normalise each layer over the doc's tokens before mixing.
    dropout: dropout rate on the mixed vectors in training.
    Output: one array ``[n_tokens, width]`` per doc.
    """
    ensure_torch("transformers")
    return TransformerListener(
        upstream_name=upstream, width=width, n_layers=n_layers, layer_norm=layer_norm, dropout=dropout
    )
