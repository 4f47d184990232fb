"""Tokens to character ids, with the conventions of AllenNLP's ``ELMoCharacterMapper``.

A token becomes ``max_chars`` ids: begin-of-word, its UTF-8 bytes (each
``byte + 1``), end-of-word, then padding. Tokens longer than
``max_chars - 2`` bytes are truncated (possibly inside a multi-byte
character, as AllenNLP does); emoji, CJK and control characters are just
their bytes. Id 0 is reserved for padded positions of a batch (no token);
the sentence-boundary tokens ``<S>``/``</S>`` that ELMo adds internally have
their own id rows (:data:`BOS_CHAR_IDS`, :data:`EOS_CHAR_IDS`).
"""

from functools import lru_cache
from typing import Dict, List, Sequence, Tuple

import numpy
import torch

MAX_CHARS = 50
N_CHARS = 262  # 256 bytes + 5 markers, shifted by one so that 0 is free for padding
BOS_CHAR = 256 + 1
EOS_CHAR = 257 + 1
BOW_CHAR = 258 + 1
EOW_CHAR = 259 + 1
PAD_CHAR = 260 + 1


def _marker_ids(marker: int, max_chars: int) -> Tuple[int, ...]:
    return (BOW_CHAR, marker, EOW_CHAR) + (PAD_CHAR,) * (max_chars - 3)


BOS_CHAR_IDS = _marker_ids(BOS_CHAR, MAX_CHARS)
EOS_CHAR_IDS = _marker_ids(EOS_CHAR, MAX_CHARS)


def boundary_char_ids(max_chars: int = MAX_CHARS) -> torch.Tensor:
    """The ``<S>`` and ``</S>`` rows: LongTensor ``[2, max_chars]``."""
    return torch.tensor([_marker_ids(BOS_CHAR, max_chars), _marker_ids(EOS_CHAR, max_chars)], dtype=torch.long)


@lru_cache(maxsize=50_000)
def token_to_char_ids(token: str, *, max_chars: int = MAX_CHARS) -> Tuple[int, ...]:
    """The ``max_chars`` character ids of one token (see the module docstring)."""
    if max_chars < 3:
        raise ValueError(f"max_chars must be at least 3, got {max_chars}")
    data = token.encode("utf-8", "ignore")[: max_chars - 2]
    return (BOW_CHAR,) + tuple(byte + 1 for byte in data) + (EOW_CHAR,) + (PAD_CHAR,) * (max_chars - 2 - len(data))


def batch_to_type_ids(
    sentences: Sequence[Sequence[str]], *, max_chars: int = MAX_CHARS
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Deduplicated character ids of a batch of tokenised sentences.

    Returns ``type_char_ids`` LongTensor ``[n_types, max_chars]`` (one row per
    distinct token string), ``type_index`` LongTensor ``[batch, seq]`` (row
    of each token; 0 at padded positions) and ``mask`` BoolTensor
    ``[batch, seq]`` (True at real tokens). ``seq`` is the longest sentence
    (0 if all are empty). This is the fast input of :meth:`ELMo.forward_types`.
    """
    types: Dict[str, int] = {}
    rows: List[Tuple[int, ...]] = []
    seq = max((len(sentence) for sentence in sentences), default=0)
    type_index = numpy.zeros((len(sentences), seq), dtype=numpy.int64)
    mask = numpy.zeros((len(sentences), seq), dtype=bool)
    for i, sentence in enumerate(sentences):
        for j, token in enumerate(sentence):
            index = types.get(token)
            if index is None:
                index = types[token] = len(rows)
                rows.append(token_to_char_ids(token, max_chars=max_chars))
            type_index[i, j] = index
        mask[i, : len(sentence)] = True
    type_char_ids = torch.tensor(rows, dtype=torch.long) if rows else torch.zeros((0, max_chars), dtype=torch.long)
    return type_char_ids, torch.from_numpy(type_index), torch.from_numpy(mask)


def batch_to_char_ids(
    sentences: Sequence[Sequence[str]], *, max_chars: int = MAX_CHARS
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Character ids of a batch of tokenised sentences.

    Returns ``char_ids`` LongTensor ``[batch, seq, max_chars]`` (all zeros at
    padded positions) and ``mask`` BoolTensor ``[batch, seq]``.
    """
    type_char_ids, type_index, mask = batch_to_type_ids(sentences, max_chars=max_chars)
    if type_char_ids.shape[0] == 0:
        return torch.zeros((*mask.shape, max_chars), dtype=torch.long), mask
    char_ids = type_char_ids[type_index] * mask.unsqueeze(-1)
    return char_ids, mask
