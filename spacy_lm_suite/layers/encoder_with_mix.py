"""An encoder of all layers chained with a scalar mix: the shape of ``ELMo.v1`` and ``Transformer.v1``.

``List[Doc] -> List[Floats2d]``, with refs ``"encoder"`` (``List[Doc] ->
List[Floats3d]``, all layers ``[nL, n_tokens, nO]`` per doc, dims ``nL`` and
``nO``) and ``"mix"`` (:func:`~.scalar_mix.ScalarMixLayer`), which is what
:class:`~spacy_lm_suite.pipeline.contextual_encoder.ContextualEncoder` needs.
Used directly as a tok2vec, it trains the mix (and the encoder, unless frozen).
"""

from typing import Callable, List, Optional, Tuple

from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d

from ..errors import UserError
from .scalar_mix import ScalarMixLayer


def EncoderWithMix(name: str, encoder: Model, *, layer_norm: bool, dropout: float, what: str) -> Model[List[Doc], List[Floats2d]]:
    """``encoder`` followed by its scalar mix; ``what`` names the encoder in errors."""
    mix = ScalarMixLayer(
        n_layers=encoder.maybe_get_dim("nL"), nO=encoder.maybe_get_dim("nO"), layer_norm=layer_norm, dropout=dropout
    )
    return Model(
        name,
        chain_forward,
        init=init,
        layers=[encoder, mix],
        refs={"encoder": encoder, "mix": mix},
        dims={"nO": encoder.maybe_get_dim("nO")},
        attrs={"what": what},
    )


def init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> Model:
    encoder, mix = model.layers
    encoder.initialize(X=X)
    nO, nL = encoder.get_dim("nO"), encoder.get_dim("nL")
    for layer in (mix, model):
        if layer.has_dim("nO") and layer.get_dim("nO") != nO:
            raise UserError(
                f"{model.attrs['what']}: the model was built for width {layer.get_dim('nO')}, the weights loaded have {nO}"
            )
        layer.set_dim("nO", nO)
    mix.set_dim("nL", nL)
    mix.initialize()
    return model


def chain_forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], Callable]:
    encoder, mix = model.layers
    layers, backprop_layers = encoder(docs, is_train)
    outputs, backprop_mix = mix(layers, is_train)

    def backprop(d_outputs: List[Floats2d]) -> List[Doc]:
        return backprop_layers(backprop_mix(d_outputs))

    return outputs, backprop
