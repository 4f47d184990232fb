"""The ``lm_elmo`` component: one ELMo shared by every downstream component.

Downstream components read it through ``spacy-lm-suite.ELMoListener.v1``
layers (each with its own scalar mix of the ``L + 1`` layers); ``doc.tensor``
gets the component's own mix (a plain average of the layers unless trained
otherwise), so ``token.vector`` and ``doc.similarity`` are contextual when the
vocab has no vectors. Weights come from ``[initialize.components.<name>]``:
``path`` (a ``pretrain-elmo`` output directory) or AllenNLP's
``allennlp_options`` + ``allennlp_weights``; they are saved with the pipeline.
"""

from pathlib import Path
from typing import Callable, Iterable, Optional, Union

from spacy.language import Language
from spacy.training import Example
from thinc.api import Config, Model

from ..layers.elmo import set_weights_source
from ..layers.elmo_listener import ELMoListener
from .contextual_encoder import ContextualEncoder

DEFAULT_CONFIG = """
[model]
@architectures = "spacy-lm-suite.ELMo.v1"
preset = null
path = null
max_tokens_per_chunk = 256
max_batch_tokens = 16384
sentences = true
layer_norm = false
dropout = 0.0
grad = true
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_CONFIG)["model"]


@Language.factory(
    "lm_elmo",
    assigns=["doc.tensor"],
    default_config={"model": DEFAULT_MODEL, "set_tensor": True},
)
def make_lm_elmo(nlp: Language, name: str, model: Model, set_tensor: bool) -> "LMElmo":
    return LMElmo(nlp.vocab, model, name=name, set_tensor=set_tensor)


class LMElmo(ContextualEncoder):
    """ELMo as a shared contextual encoder (see :class:`ContextualEncoder`)."""

    listener_type = ELMoListener

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        path: Optional[Union[str, Path]] = None,
        allennlp_options: Optional[Union[str, Path]] = None,
        allennlp_weights: Optional[Union[str, Path]] = None,
    ) -> None:
        """Load the weights (``path``, or the two AllenNLP files; none: the model's
        own ``path``/``preset``), then connect the listeners."""
        set_weights_source(
            self.encoder, path=path, allennlp_options=allennlp_options, allennlp_weights=allennlp_weights
        )
        super().initialize(get_examples, nlp=nlp)
