"""ELMo in pure PyTorch: character CNN, highway, bidirectional LSTMP language
model, pretraining on raw text and AllenNLP weight import. No spaCy imports."""

from .characters import batch_to_char_ids, batch_to_type_ids, token_to_char_ids
from .config import ELMoConfig
from .modules import BiLanguageModel, BiLMHead, BiLSTMStack, CharacterEncoder, ELMo, Highway, LSTMPLayer

__all__ = [
    "BiLanguageModel",
    "BiLMHead",
    "BiLSTMStack",
    "CharacterEncoder",
    "ELMo",
    "ELMoConfig",
    "Highway",
    "LSTMPLayer",
    "batch_to_char_ids",
    "batch_to_type_ids",
    "token_to_char_ids",
]
