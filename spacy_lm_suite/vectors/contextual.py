"""``spacy-lm-suite.ContextualVectors.v1``: an empty vectors table that lets ``doc.tensor`` be the vectors.

spaCy's ``token.vector`` reads ``doc.tensor`` only when ``vocab.vectors.size
== 0``, and ``similarity`` warns W007 ("no word vectors loaded") whenever
``vocab.vectors.n_keys == 0``. A contextual encoder (``lm_elmo``,
``lm_transformer``) writes ``doc.tensor``, so its pipeline wants both: a
table with no rows (size 0) that reports one key. This class is exactly
that, with the ``name`` and ``mode`` that ``Language.meta`` reads. It is
saved as nothing: the config entry ``[nlp.vectors] @vectors =
"spacy-lm-suite.ContextualVectors.v1"`` restores it, in ``spacy.load``, in
``nlp.pipe(n_process=2)`` workers (fork or spawn) and in packaged wheels.

Limits: a pipeline with static vectors in its vocab keeps them (``token.vector``
is then the static row, as spaCy does); spaCy returns 1.0 for the similarity
of identical texts and words without looking at any vector.
"""

from typing import Any, Callable, Iterable

import numpy
from spacy.attrs import ORTH
from spacy.strings import StringStore
from spacy.util import registry
from spacy.vectors import BaseVectors, Mode, Vectors

NAME = "spacy-lm-suite.ContextualVectors.v1"


class ContextualVectors(BaseVectors):
    """No rows (size 0, width 0) and ``n_keys == 1``; see the module docstring."""

    attr = ORTH
    mode = Mode.default.value

    def __init__(self, *, strings=None, name: str = "contextual") -> None:
        super().__init__(strings=strings)
        self.strings = strings if strings is not None else StringStore()  # the Vocab setter iterates it
        self.name = name
        self.data = numpy.zeros((0, 0), dtype=numpy.float32)

    def __getitem__(self, key: Any):
        raise KeyError(key)

    def __contains__(self, key: Any) -> bool:
        return False

    def __len__(self) -> int:
        return 0

    def __reduce__(self):
        return (_rebuild, (self.name,))

    def is_full(self) -> bool:
        return True

    @property
    def shape(self):
        return (0, 0)

    @property
    def size(self) -> int:
        return 0

    @property
    def vectors_length(self) -> int:
        return 0

    @property
    def n_keys(self) -> int:
        """1, not 0: spaCy's similarity warns W007 when a table has no keys."""
        return 1

    def get_batch(self, keys: Iterable[Any]):
        return numpy.zeros((len(list(keys)), 0), dtype=numpy.float32)

    def add(self, key: Any, *, vector=None, row=None):
        raise ValueError(
            "ContextualVectors holds no rows: its pipeline's token vectors are doc.tensor; select "
            "spacy-lm-suite.Vectors.v1 (or spacy.Vectors.v1) in [nlp.vectors] for a static table"
        )

    def to_bytes(self, **kwargs) -> bytes:
        """An empty spaCy table's bytes, so a pipeline whose config kept spaCy's
        ``Vectors`` can still read ``nlp.to_bytes()`` (it then warns W007)."""
        return Vectors(shape=(0, 0)).to_bytes(exclude=["strings"])

    def from_bytes(self, data: bytes, **kwargs) -> "ContextualVectors":
        return self

    def to_disk(self, path, **kwargs) -> None:
        return None

    def from_disk(self, path, **kwargs) -> "ContextualVectors":
        return self


def _rebuild(name: str) -> ContextualVectors:
    return ContextualVectors(name=name)


@registry.vectors(NAME)
def create_contextual_vectors() -> Callable[[Any], BaseVectors]:
    """``[nlp.vectors] @vectors = "spacy-lm-suite.ContextualVectors.v1"``."""

    def make(vocab) -> BaseVectors:
        return ContextualVectors(strings=vocab.strings)

    return make


def use_contextual_vectors(nlp: Any) -> bool:
    """Install :class:`ContextualVectors` in ``nlp`` (and its saved config) if its
    vocab has no vectors at all; a real table is left alone. Returns whether it did."""
    vectors = nlp.vocab.vectors
    if isinstance(vectors, ContextualVectors):
        return False
    if not (isinstance(vectors, Vectors) and vectors.n_keys == 0 and vectors.size == 0):
        return False
    nlp.vocab.vectors = ContextualVectors(strings=nlp.vocab.strings, name=vectors.name or "contextual")
    nlp.config["nlp"]["vectors"] = {"@vectors": NAME}
    return True
