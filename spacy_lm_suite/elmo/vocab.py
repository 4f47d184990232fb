"""The word vocabulary predicted by the biLM's softmax: the most frequent
words plus ``<unk>``, ``<s>`` and ``</s>``, sorted by frequency (as the
adaptive softmax requires), saved as JSON."""

import json
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Sequence, Union

from ..errors import InputFormatError, UserError

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
SPECIALS = (UNK, BOS, EOS)
UNK_ID, BOS_ID, EOS_ID = 0, 1, 2


class WordVocab:
    """Words by id; ids 0, 1, 2 are ``<unk>``, ``<s>``, ``</s>``, then words by
    decreasing count (ties in string order, so building is deterministic)."""

    def __init__(self, words: Sequence[str]) -> None:
        if tuple(words[:3]) != SPECIALS:
            raise UserError(f"a word vocabulary must start with {', '.join(SPECIALS)}, found {list(words[:3])}")
        self.words: List[str] = list(words)
        self._ids: Dict[str, int] = {word: i for i, word in enumerate(self.words)}
        if len(self._ids) != len(self.words):
            raise UserError("the word vocabulary has duplicate entries")

    @classmethod
    def build(cls, counts: Mapping[str, int], *, size: int, min_count: int = 1) -> "WordVocab":
        """The ``size - 3`` most frequent words with at least ``min_count``
        occurrences, after the three special tokens (``size`` counts them)."""
        if size < 4:
            raise UserError(f"vocabulary size must be at least 4 (3 special tokens + 1 word), got {size}")
        ranked = sorted(
            (item for item in counts.items() if item[1] >= min_count and item[0] not in SPECIALS),
            key=lambda item: (-item[1], item[0]),
        )
        return cls(list(SPECIALS) + [word for word, _ in ranked[: size - 3]])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self._ids

    def index(self, word: str) -> int:
        """The id of ``word``, or ``UNK_ID``."""
        return self._ids.get(word, UNK_ID)

    def encode(self, tokens: Iterable[str]) -> List[int]:
        return [self._ids.get(token, UNK_ID) for token in tokens]

    def to_json(self, path: Union[str, Path]) -> None:
        Path(path).write_text(json.dumps({"words": self.words}, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, path: Union[str, Path]) -> "WordVocab":
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: no such file (expected a vocab.json)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputFormatError(path, f'expected JSON {{"words": [...]}} ({err})') from None
        words = data.get("words") if isinstance(data, dict) else None
        if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
            raise InputFormatError(path, 'expected JSON {"words": [list of strings]}')
        try:
            return cls(words)
        except UserError as err:
            raise InputFormatError(path, str(err)) from None
