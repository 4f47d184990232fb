"""ELMo in pure PyTorch: character CNN, highway, bidirectional LSTMP language
model, pretraining on raw text and AllenNLP weight import. No spaCy imports.

Main entry points: :class:`ELMoConfig` (presets ``tiny``, ``small``,
``medium``), :func:`batch_to_char_ids` / :func:`batch_to_type_ids`,
:class:`ELMo`, :func:`load_elmo` / :func:`save_elmo`,
:func:`load_allennlp_elmo` and :func:`pretrain_elmo`. See ``docs/elmo.md``.
"""

from ..extras import ensure_torch

ensure_torch("elmo")  # the clear "install the extra" error, before the imports below

from .allennlp import load_allennlp_elmo
from .characters import batch_to_char_ids, batch_to_type_ids, token_to_char_ids
from .checkpoint import load_elmo, save_elmo
from .config import ELMoConfig
from .modules import BiLanguageModel, BiLMHead, BiLSTMStack, CharacterEncoder, ELMo, Highway, LSTMPLayer
from .pretrain import PretrainResult, pretrain_elmo
from .vocab import WordVocab

__all__ = [
    "BiLanguageModel",
    "BiLMHead",
    "BiLSTMStack",
    "CharacterEncoder",
    "ELMo",
    "ELMoConfig",
    "Highway",
    "LSTMPLayer",
    "PretrainResult",
    "WordVocab",
    "batch_to_char_ids",
    "batch_to_type_ids",
    "load_allennlp_elmo",
    "load_elmo",
    "pretrain_elmo",
    "save_elmo",
    "token_to_char_ids",
]
