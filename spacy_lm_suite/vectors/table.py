"""``LMVectors``: a static-vector table for spaCy with a normaliser fallback chain.

spaCy's own ``Vectors`` keeps one exact key per row and (in 3.8) forgets
``attr=LOWER`` when a pipeline is reloaded, so a lower-cased GloVe table misses
every capitalised token. ``LMVectors`` holds the table's words in row order,
a float32 matrix ``data`` [n_rows, dim] and a fallback chain (see
:mod:`.normalizers`) applied at lookup time, with no added keys:
``nlp("Paris")[0].vector`` is the row of ``paris``.

Select it in a config::

    [nlp.vectors]
    @vectors = "spacy-lm-suite.Vectors.v1"
    fallback = ["exact", "lower", "shape"]

Keys arrive from spaCy as orth hashes; the table maps them to text, normalises,
looks up and caches ``hash -> row``. A hash is turned into text by, in turn:
``self.strings`` (the vocab's ``StringStore``, set by the ``Vocab.vectors``
setter), the stores the table was pickled with, and the table's own words and
aliases. A hash nobody knows yet is a miss that is not cached, so it is found
once its string is added.

Why the pickled stores: ``nlp.pipe(n_process=2)`` under ``spawn``/``forkserver``
pickles the pipeline, and spaCy's ``unpickle_vocab`` assigns ``vocab.vectors``
(whose setter attaches a throwaway ``StringStore`` of a fresh ``Vocab``)
*before* it restores ``vocab.strings``; the worker's tokenizer then adds its
strings to the restored store, which the table would never see. The table
pickles a reference to its ``StringStore``; pickle's memo makes it the very
store the worker's vocab gets back, so ``"Paris"`` still finds ``paris`` in a
spawned worker (and after ``pickle.loads``), as in ``nlp()``.

Saved as ``lm_vectors.npy`` + ``lm_vectors.json`` inside the pipeline's
``vocab/`` directory (no pickle); loading checks them as every vectors loader
does (finite rows, one string word per row, no duplicates).

spaCy's ``Vocab.prune_vectors`` (and ``reset_vectors``,
``deduplicate_vectors``) only accept spaCy's ``Vectors`` and raise E849; the
message names :meth:`LMVectors.prune` (same idea: dropped words point at their
nearest kept row) and :meth:`LMVectors.truncate`. ``most_similar`` takes query
vectors as spaCy's does; :meth:`LMVectors.most_similar_words` and
:meth:`LMVectors.similarity` are the word-level, gensim-like helpers.
"""

import io
import warnings
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import srsly
from spacy.attrs import ORTH
from spacy.strings import StringStore, get_string_id
from spacy.util import registry
from spacy.vectors import BaseVectors, Mode, Vectors
from thinc.api import Ops, get_array_module

from ..errors import InputFormatError, UserError
from . import evaluate
from .formats import VectorsWarning, check_arrays, drop_duplicates
from .normalizers import DEFAULT_FALLBACK, NORMALIZERS, validate_fallback

Key = Union[int, str]

TABLE_DATA = "lm_vectors.npy"
TABLE_META = "lm_vectors.json"
FORMAT_NAME = "spacy-lm-suite.Vectors"
# A file named as spaCy's own vectors data, so that spaCy's ``Vectors.from_disk``
# (a config still on ``spacy.Vectors.v1``) stops with a message naming our class
# instead of loading nothing (W112) and failing later with an IndexError.
STOCK_MARKER = "vectors"
STOCK_MARKER_MESSAGE = (
    "This folder holds a spacy-lm-suite.Vectors.v1 table, which spaCy's own Vectors cannot read: "
    'set [nlp.vectors] @vectors = "spacy-lm-suite.Vectors.v1" in the config, or load it with '
    '[initialize.before_init] @callbacks = "spacy-lm-suite.load_vectors.v1"'
)
FORMAT_VERSION = 1
_CACHE_LIMIT = 1 << 20  # hash -> row entries kept before the cache is reset


PRUNE_HINT = (
    "LMVectors, the table of spacy-lm-suite.Vectors.v1: use nlp.vocab.vectors.prune(n_rows) instead of "
    "Vocab.prune_vectors, nlp.vocab.vectors.truncate(n_rows) to drop rows, or build a new table with "
    "LMVectors.from_arrays"
)


class _NamedInMessages(type):
    """Metaclass of :class:`LMVectors`: how the class reads in a formatted message.

    spaCy's ``Vocab.prune_vectors``, ``reset_vectors`` and
    ``deduplicate_vectors`` reject any table but its own ``Vectors`` with
    E849, formatting ``type(vocab.vectors)`` into the message
    (``"... not {vectors_type}"``). Formatting the class (``format(cls)``,
    ``str.format``, f-strings) gives :data:`PRUNE_HINT`, so that message says
    what to call instead; ``repr``/``str`` of the class are unchanged.
    """

    def __format__(cls, format_spec: str) -> str:
        return PRUNE_HINT


class LMVectors(BaseVectors, metaclass=_NamedInMessages):
    """Words (row order), float32 ``data`` [n_rows, dim] and a fallback chain.

    ``aliases`` are extra exact keys pointing at rows (made by :meth:`prune`).
    Treat ``words``, ``aliases`` and ``data`` as read-only; change the table
    through :meth:`add`, :meth:`truncate`, :meth:`prune` or the ``fallback``
    setter, which keep the lookup indexes in sync.

    For spaCy users: ``Vocab.prune_vectors(n)`` raises E849 for this table;
    call ``nlp.vocab.vectors.prune(n)`` (dropped words become aliases of
    their nearest kept row, as in spaCy) or ``truncate(n)``.
    ``most_similar(queries, n=..., batch_size=..., sort=...)`` is spaCy's
    (query vectors in; keys, rows and scores out);
    :meth:`most_similar_words` and :meth:`similarity` work on words.
    """

    attr = ORTH  # spaCy reads token keys by this attribute; our chain normalises them
    mode = Mode.default.value
    pinned_fallback: Optional[Tuple[str, ...]] = None
    """Set by ``[nlp.vectors] fallback``: kept when a saved table is loaded."""

    def __init__(
        self,
        *,
        strings: Optional[StringStore] = None,
        words: Sequence[str] = (),
        data: Optional[np.ndarray] = None,
        fallback: Sequence[str] = DEFAULT_FALLBACK,
        name: Optional[str] = None,
        aliases: Optional[Dict[str, int]] = None,
    ) -> None:
        super().__init__(strings=strings)
        self.strings = strings if strings is not None else StringStore()
        self._pickled_strings: Tuple[StringStore, ...] = ()
        """The stores the table was pickled with (see the module docstring)."""
        self.name = name
        self._fallback = validate_fallback(fallback)
        words = list(words)
        if len(set(words)) != len(words):
            raise UserError("vectors table: duplicate words; use LMVectors.from_arrays to keep the first of each")
        if data is None:
            data = np.zeros((len(words), 0), dtype=np.float32)
        self._set_table(words, data, dict(aliases or {}))

    # -- construction -------------------------------------------------------

    @classmethod
    def from_arrays(
        cls,
        words: Sequence[str],
        data: np.ndarray,
        *,
        fallback: Sequence[str] = DEFAULT_FALLBACK,
        name: Optional[str] = None,
        strings: Optional[StringStore] = None,
    ) -> "LMVectors":
        """A table from words (row order) and a matrix [len(words), dim].

        Duplicate words keep their first row (with a :class:`VectorsWarning`);
        a length mismatch, a non-2D matrix or non-finite values raise
        :class:`UserError`.
        """
        words, data = check_arrays(list(words), data, source="from_arrays")
        words, data, n_duplicates = drop_duplicates(words, data)
        if n_duplicates:
            warnings.warn(
                f"from_arrays: {n_duplicates} duplicate word(s) dropped, first row kept",
                VectorsWarning,
            )
        return cls(strings=strings, words=words, data=data, fallback=fallback, name=name)

    @classmethod
    def from_spacy_vectors(
        cls,
        vectors: Vectors,
        *,
        fallback: Sequence[str] = DEFAULT_FALLBACK,
        name: Optional[str] = None,
        strings: Optional[StringStore] = None,
    ) -> "LMVectors":
        """Convert spaCy's ``Vectors`` (default mode): each row's first key is
        its word, further keys become aliases; rows without keys are dropped.
        strings: resolves the keys (default ``vectors.strings``); the new
        table gets its own empty ``StringStore``."""
        if vectors.mode != Mode.default:
            raise UserError(f"cannot convert spaCy vectors in mode {vectors.mode!r}; only 'default' tables")
        strings = strings if strings is not None else vectors.strings
        by_row: Dict[int, List[str]] = {}
        n_unknown = 0
        for key, row in vectors.key2row.items():  # insertion order: a row's first key is its word
            if key not in strings:
                n_unknown += 1
                continue
            by_row.setdefault(int(row), []).append(strings[key])
        if n_unknown:
            warnings.warn(f"spaCy vectors: {n_unknown} key(s) without a string in the StringStore dropped", VectorsWarning)
        rows = sorted(by_row)
        source = _to_numpy(vectors.data)
        width = source.shape[1] if source.ndim == 2 else 0
        data = np.ascontiguousarray(source[rows]) if rows else np.zeros((0, width), dtype=np.float32)
        words = [by_row[row][0] for row in rows]
        aliases = {word: i for i, row in enumerate(rows) for word in by_row[row][1:]}
        return cls(words=words, data=data, fallback=fallback, name=name if name is not None else vectors.name, aliases=aliases)

    def _set_table(self, words: List[str], data: np.ndarray, aliases: Dict[str, int]) -> None:
        if data.ndim != 2 or data.shape[0] != len(words):
            raise UserError(f"vectors table: {len(words)} words but data of shape {tuple(data.shape)}")
        bad = {word: row for word, row in aliases.items() if not 0 <= row < len(words)}
        if bad:
            raise UserError(f"vectors table: aliases point outside the {len(words)} rows: {list(bad)[:5]}")
        self.words = words
        self.aliases = aliases
        self.data = data if data.dtype == np.float32 else data.astype(np.float32)
        self._reset_indexes()

    def _reset_indexes(self) -> None:
        self._indexes: Dict[str, Dict[str, int]] = {}
        self._cache: Dict[int, Tuple[int, int]] = {}
        self._key2row: Optional[Dict[int, int]] = None
        self._own_texts: Optional[Dict[int, str]] = None
        self._unit: Optional[np.ndarray] = None

    # -- settings -----------------------------------------------------------

    @property
    def fallback(self) -> Tuple[str, ...]:
        """The normaliser chain, e.g. ``("exact", "lower", "shape")``."""
        return self._fallback

    @fallback.setter
    def fallback(self, value: Sequence[str]) -> None:
        self._fallback = validate_fallback(value)
        self._cache = {}

    # -- sizes (the attributes spaCy reads) --------------------------------

    @property
    def shape(self) -> Tuple[int, int]:
        """``(n_rows, dim)``."""
        return tuple(self.data.shape)  # type: ignore[return-value]

    @property
    def size(self) -> int:
        """``n_rows * dim``."""
        return int(self.data.size)

    @property
    def vectors_length(self) -> int:
        """The vector width ``dim``."""
        return int(self.data.shape[1])

    @property
    def n_keys(self) -> int:
        """Exact keys: words plus aliases (normalised forms are not counted)."""
        return len(self.words) + len(self.aliases)

    @property
    def is_full(self) -> bool:
        """Never full: :meth:`add` appends rows."""
        return False

    def __len__(self) -> int:
        """The number of rows."""
        return int(self.data.shape[0])

    # -- indexes ------------------------------------------------------------

    def _index(self, step: str) -> Dict[str, int]:
        """normalised key -> first row, over words (row order) then aliases."""
        index = self._indexes.get(step)
        if index is None:
            normalize = NORMALIZERS[step]
            index = {}
            for row, word in enumerate(self.words):
                index.setdefault(normalize(word), row)
            for word, row in self.aliases.items():
                index.setdefault(normalize(word), row)
            self._indexes[step] = index
        return index

    @property
    def key2row(self) -> Dict[int, int]:
        """Exact keys only, as spaCy does: ``hash(word) -> row`` (sets ``lex.rank``)."""
        if self._key2row is None:
            mapping = {get_string_id(word): row for row, word in enumerate(self.words)}
            for word, row in self.aliases.items():
                mapping.setdefault(get_string_id(word), row)
            self._key2row = mapping
        return self._key2row

    def keys(self) -> Iterable[int]:
        """The hashes of the exact keys."""
        return self.key2row.keys()

    def values(self) -> Iterable[int]:
        """The rows of the exact keys."""
        return self.key2row.values()

    def items(self) -> Iterable[Tuple[int, int]]:
        """``(hash, row)`` of the exact keys."""
        return self.key2row.items()

    def __iter__(self) -> Iterator[int]:
        return iter(self.key2row)

    # -- lookup -------------------------------------------------------------

    def _lookup_text(self, text: str) -> Tuple[int, int]:
        """``(row, step)`` of the first step that matches, ``(-1, -1)`` on a miss."""
        for step_i, step in enumerate(self._fallback):
            row = self._index(step).get(NORMALIZERS[step](text), -1)
            if row >= 0:
                return row, step_i
        return -1, -1

    def text_of(self, key: int) -> Optional[str]:
        """The string of an orth hash, or None when no store knows it.

        Asked in turn: ``self.strings`` (the vocab's store once attached), the
        stores the table was pickled with, and the table's own words and
        aliases. Any store that knows a hash gives the same text, so asking
        more than one is safe.
        """
        for store in (self.strings, *self._pickled_strings):
            try:
                return store[key]
            except KeyError:
                continue
        if self._own_texts is None:
            self._own_texts = {get_string_id(word): word for word in [*self.words, *self.aliases]}
        return self._own_texts.get(key)

    def _lookup_hash(self, key: int) -> Tuple[int, int]:
        hit = self._cache.get(key)
        if hit is None:
            text = self.text_of(key)
            if text is None:
                return (-1, -1)  # not cached: the string may be added later
            hit = self._lookup_text(text)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache = {}
            self._cache[key] = hit
        return hit

    def _lookup(self, key: Key) -> Tuple[int, int]:
        if isinstance(key, str):
            return self._lookup_text(key)
        return self._lookup_hash(int(key))

    def find(
        self, *, key: Optional[Key] = None, keys: Optional[Union[Sequence[Key], np.ndarray]] = None
    ) -> Union[int, np.ndarray]:
        """Rows after the fallback chain, -1 for a miss.

        key: one hash or string -> int. keys: hashes (uint64 array, e.g.
        ``doc.to_array(ORTH)``) or strings -> int64 array [len(keys)].
        """
        if (key is None) == (keys is None):
            raise ValueError("find: give exactly one of key= or keys=")
        if key is not None:
            return self._lookup(key)[0]
        return self._lookup_many(keys)[0]  # type: ignore[arg-type]

    def _lookup_many(self, keys: Union[Sequence[Key], np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
        """(rows, steps) int64 arrays [len(keys)] for hashes or strings."""
        if hasattr(keys, "get") and not isinstance(keys, (list, tuple, np.ndarray)):
            keys = keys.get()  # cupy -> numpy
        if isinstance(keys, np.ndarray) and keys.dtype.kind in "iu":
            unique, inverse = np.unique(keys.astype(np.uint64, copy=False), return_inverse=True)
            found = [self._lookup_hash(int(k)) for k in unique.tolist()]
        else:
            items = list(keys)
            lookup: Dict[Key, int] = {}
            inverse = np.fromiter((lookup.setdefault(k, len(lookup)) for k in items), dtype=np.int64, count=len(items))
            found = [self._lookup(k) for k in lookup]
        table = np.asarray(found, dtype=np.int64).reshape(-1, 2)
        return table[inverse.reshape(-1), 0], table[inverse.reshape(-1), 1]

    def find_rows_for_words(self, words: Sequence[str]) -> np.ndarray:
        """Rows [len(words)] for strings after the fallback chain, -1 for a miss."""
        return self._lookup_many(list(words))[0]

    def lookup_steps(self, words: Sequence[str]) -> np.ndarray:
        """Which fallback step matched each word: an index into :attr:`fallback`, -1 for a miss."""
        return self._lookup_many(list(words))[1]

    def __contains__(self, key: Key) -> bool:
        """Whether the key finds a row through the fallback chain."""
        return self._lookup(key)[0] >= 0

    def __getitem__(self, key: Key) -> np.ndarray:
        """The vector [dim] for a hash or string after the fallback chain; KeyError on a miss."""
        row = self._lookup(key)[0]
        if row < 0:
            raise KeyError(key)
        return self.data[row]

    def get_batch(self, keys: Union[Sequence[Key], np.ndarray]) -> np.ndarray:
        """Vectors [len(keys), dim] for hashes or strings; zeros for misses."""
        rows = self._lookup_many(keys)[0]
        xp = get_array_module(self.data)
        found = rows >= 0
        out = self.data[xp.asarray(np.where(found, rows, 0))]
        if not found.all():
            out[xp.asarray(~found)] = 0
        return out

    # -- changes ------------------------------------------------------------

    def add(self, key: Key, *, vector: Optional[np.ndarray] = None, row: Optional[int] = None) -> int:
        """Set a word's vector (``vector=``, overwrites an exact word or appends
        a row) or point the word at an existing row (``row=``, an alias).
        RETURNS the row. Used by ``Vocab.set_vector``. Each call copies the
        matrix and resets the lookup indexes: for many words, build a new table
        with :meth:`from_arrays`."""
        if (vector is None) == (row is None):
            raise ValueError("add: give exactly one of vector= or row=")
        text = key if isinstance(key, str) else self.text_of(int(key))
        if text is None:
            raise KeyError(f"add: no StringStore knows the hash {key}; pass the word as a string")
        self.strings.add(text)
        exact = self._index("exact")
        if row is not None:
            if not 0 <= row < len(self):
                raise UserError(f"add: row {row} outside the table's {len(self)} rows")
            if text in exact and exact[text] < len(self.words) and self.words[exact[text]] == text:
                raise UserError(f"add: {text!r} already has its own row {exact[text]}")
            aliases = dict(self.aliases)
            aliases[text] = row
            self._set_table(self.words, self.data, aliases)
            return row
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if len(self) and vector.shape[0] != self.vectors_length:
            raise UserError(f"add: vector of width {vector.shape[0]} for a table of width {self.vectors_length}")
        if text in exact and self.words[exact[text]] == text:
            new_row = exact[text]
            data = self.data if self.data.flags.writeable else np.array(self.data)
            data[new_row] = vector
            self._set_table(self.words, data, self.aliases)
            return new_row
        data = np.vstack([self.data.reshape(len(self), -1 if len(self) else vector.shape[0]), vector[None, :]])
        aliases = {word: r for word, r in self.aliases.items() if word != text}
        self._set_table(self.words + [text], data, aliases)
        return len(self) - 1

    def truncate(self, n_rows: int) -> "LMVectors":
        """Keep the first ``n_rows`` rows (drops their words and aliases); in place."""
        if n_rows < 0:
            raise UserError(f"truncate: expected a row count >= 0, found {n_rows}")
        if n_rows < len(self):
            aliases = {word: row for word, row in self.aliases.items() if row < n_rows}
            self._set_table(self.words[:n_rows], self.data[:n_rows], aliases)
        return self

    def prune(self, n_rows: int, *, batch_size: int = 1024) -> Dict[str, Tuple[str, float]]:
        """Keep the first ``n_rows`` rows; every dropped word becomes an alias
        of its nearest kept row by cosine (like spaCy's ``Vocab.prune_vectors``).
        In place. RETURNS ``{dropped word: (kept word, cosine)}``."""
        if n_rows < 1:
            raise UserError(f"prune: expected a row count >= 1, found {n_rows}")
        if n_rows >= len(self):
            return {}
        kept = evaluate.unit_rows(self.data[:n_rows])
        tossed = self.data[n_rows:]
        best_rows, best_scores = evaluate.cosine_neighbours(kept, tossed, n=1, batch_size=batch_size)
        remap: Dict[str, Tuple[str, float]] = {}
        aliases = {word: row for word, row in self.aliases.items() if row < n_rows}
        for offset, word in enumerate(self.words[n_rows:]):
            target = int(best_rows[offset, 0])
            aliases[word] = target
            remap[word] = (self.words[target], float(best_scores[offset, 0]))
        for word, row in self.aliases.items():
            if row >= n_rows:
                aliases[word] = aliases[self.words[row]]
        self._set_table(self.words[:n_rows], np.array(self.data[:n_rows]), aliases)
        return remap

    def to_ops(self, ops: Ops) -> None:
        """Move ``data`` to the ops' device (lookups stay on the CPU)."""
        self.data = ops.asarray(self.data)
        self._unit = None

    # -- neighbours ---------------------------------------------------------

    def _unit_rows(self) -> np.ndarray:
        """The rows scaled to unit length (numpy, cached until the table changes)."""
        if self._unit is None:
            self._unit = evaluate.unit_rows(_to_numpy(self.data))
        return self._unit

    def most_similar(
        self, queries: np.ndarray, *, batch_size: int = 1024, n: int = 1, sort: bool = True
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """spaCy's ``Vectors.most_similar``: the ``n`` rows nearest by cosine to
        each query vector.

        queries: [n_queries, dim] (one vector [dim] is read as one query); not
        changed. RETURNS ``(keys, best_rows, scores)``, numpy arrays of shape
        [n_queries, n]: uint64 hashes of the rows' words (added to
        ``self.strings``, so ``nlp.vocab.strings[key]`` reads them), int32 rows and
        float32 cosines rounded to 4 decimals and clipped to [-1, 1], as spaCy
        returns them. Results are always best first (``sort`` is accepted for
        spaCy's signature). For words (with ``positive``/``negative``) use
        :meth:`most_similar_words`.
        """
        if isinstance(queries, str) or (
            isinstance(queries, (list, tuple)) and any(isinstance(query, str) for query in queries)
        ):
            raise TypeError(
                "most_similar takes query vectors [n_queries, dim], as spaCy's Vectors.most_similar; "
                "for words use most_similar_words(positive=[...], negative=[...], topn=...)"
            )
        array = np.asarray(_to_numpy(queries) if hasattr(queries, "get") else queries, dtype=np.float32)
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[1] != self.vectors_length:
            raise UserError(
                f"most_similar: expected query vectors of shape [n_queries, {self.vectors_length}], "
                f"found {tuple(array.shape)}"
            )
        if not 1 <= n <= len(self):
            raise UserError(f"most_similar: n must be between 1 and the table's {len(self)} rows, found {n}")
        if batch_size < 1:
            raise UserError(f"most_similar: batch_size must be >= 1, found {batch_size}")
        rows, scores = evaluate.cosine_neighbours(self._unit_rows(), array, n=n, batch_size=batch_size)
        scores = np.clip(np.around(scores, decimals=4), -1.0, 1.0).astype(np.float32)
        found = np.unique(rows)
        for row in found.tolist():  # spaCy code reads the keys with nlp.vocab.strings[key]
            self.strings.add(self.words[row])
        keys = np.zeros(len(self), dtype=np.uint64)
        keys[found] = [get_string_id(self.words[row]) for row in found.tolist()]
        return keys[rows], rows.astype(np.int32), scores

    def _row_of_word(self, word: str) -> int:
        row = self.find(key=word)
        if row < 0:
            raise KeyError(f"{word!r} is not in the table, even after the fallback chain {list(self._fallback)}")
        return int(row)

    def most_similar_words(
        self,
        positive: Union[str, Sequence[str]] = (),
        negative: Union[str, Sequence[str]] = (),
        *,
        topn: int = 10,
        batch_size: int = 1024,
    ) -> List[Tuple[str, float]]:
        """gensim's ``most_similar`` on words: the ``topn`` words nearest by
        cosine to the mean of the unit vectors of ``positive`` minus those of
        ``negative`` (words found through the fallback chain; their own rows are
        left out). ``most_similar_words("paris")`` gives paris's neighbours,
        ``most_similar_words(positive=["king", "woman"], negative=["man"])``
        an analogy. RETURNS ``[(word, cosine), ...]`` best first; a word that
        is not found raises ``KeyError``."""
        positive = [positive] if isinstance(positive, str) else list(positive)
        negative = [negative] if isinstance(negative, str) else list(negative)
        if not positive and not negative:
            raise UserError("most_similar_words: give at least one word in positive= or negative=")
        if topn < 1:
            raise UserError(f"most_similar_words: topn must be >= 1, found {topn}")
        rows = [self._row_of_word(word) for word in positive + negative]
        unit = self._unit_rows()
        weights = np.array([1.0] * len(positive) + [-1.0] * len(negative), dtype=np.float32)
        query = (weights[:, None] * unit[rows]).mean(axis=0)
        exclude = sorted(set(rows))
        n = min(topn, len(self) - len(exclude))
        if n < 1:
            return []
        best, scores = evaluate.cosine_neighbours(unit, query[None, :], n=n, exclude=[exclude], batch_size=batch_size)
        return [(self.words[row], float(score)) for row, score in zip(best[0].tolist(), scores[0].tolist())]

    def similarity(self, word1: str, word2: str) -> float:
        """gensim's ``similarity``: the cosine of two words' vectors (found
        through the fallback chain; 0.0 for a zero vector). A word that is not
        found raises ``KeyError``."""
        unit = self._unit_rows()
        return float(unit[self._row_of_word(word1)] @ unit[self._row_of_word(word2)])

    # -- serialization ------------------------------------------------------

    def _meta(self) -> Dict:
        return {
            "cfg": {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "fallback": list(self._fallback),
                "name": self.name,
                "shape": list(self.shape),
            },
            "words": self.words,
            "aliases": self.aliases,
        }

    def _load_meta(self, meta: Dict, data: np.ndarray, *, meta_source: str, table_source: str) -> None:
        """Check a saved table as every vectors loader does, then install it.

        meta_source names the metadata (``lm_vectors.json``), table_source the
        whole table (its folder): a problem raises one :class:`InputFormatError`.
        """
        cfg = meta.get("cfg") if isinstance(meta, dict) else None
        if not isinstance(cfg, dict):
            raise InputFormatError(meta_source, "expected a JSON object with 'cfg', 'words' and 'aliases'", found=type(meta).__name__)
        if cfg.get("format") != FORMAT_NAME:
            raise InputFormatError(meta_source, f"expected a {FORMAT_NAME} table", found=str(cfg.get("format")))
        version = cfg.get("version", 0)
        if isinstance(version, bool) or not isinstance(version, int):
            raise InputFormatError(meta_source, "expected an integer cfg.version", found=repr(version))
        if version > FORMAT_VERSION:
            raise InputFormatError(meta_source, f"table format version {version} is newer than this package's {FORMAT_VERSION}; upgrade spacy-lm-suite")
        name = cfg.get("name")
        if name is not None and not isinstance(name, str):
            raise InputFormatError(meta_source, "expected a string or null as cfg.name", found=repr(name))
        try:
            fallback = validate_fallback(cfg.get("fallback", self._fallback))
        except (UserError, TypeError) as err:
            raise InputFormatError(meta_source, f"bad cfg.fallback ({err})") from None
        words = meta.get("words")
        if not isinstance(words, list):
            raise InputFormatError(meta_source, "expected 'words': a list with one string per row", found=type(words).__name__)
        shape = cfg.get("shape")
        if shape is not None and data.ndim == 2 and list(shape) != list(data.shape):
            raise InputFormatError(
                table_source, f"the matrix has shape {tuple(data.shape)} but the metadata says {tuple(shape)} (files from two tables?)"
            )
        words, data = check_arrays(words, data, source=table_source)
        _, _, n_duplicates = drop_duplicates(words, data)
        if n_duplicates:
            raise InputFormatError(
                meta_source, f"expected each word once; {n_duplicates} duplicate word(s)", found=_first_repeat(words)
            )
        aliases = meta.get("aliases", {})
        if not isinstance(aliases, dict) or not all(
            isinstance(row, int) and not isinstance(row, bool) and 0 <= row < len(words) for row in aliases.values()
        ):
            raise InputFormatError(meta_source, f"expected 'aliases': an object of word -> row in [0, {len(words)})", found=str(aliases)[:80])
        self.name = name if name is not None else self.name
        if self.pinned_fallback is None:
            self._fallback = fallback
        self._set_table(words, data, {str(word): row for word, row in aliases.items()})

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        """Write ``lm_vectors.npy`` and ``lm_vectors.json`` into the directory ``path``,
        and the :data:`STOCK_MARKER` file that spaCy's own ``Vectors`` fails on
        with :data:`STOCK_MARKER_MESSAGE`."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with (path / TABLE_DATA).open("wb") as file_:
            np.save(file_, _to_numpy(self.data), allow_pickle=False)
        srsly.write_json(path / TABLE_META, self._meta())
        (path / STOCK_MARKER).write_bytes(_stock_marker_bytes())

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "LMVectors":
        """Load from ``path``: our files, or spaCy's own vectors files (converted).
        A directory with neither leaves the table unchanged, as spaCy does."""
        path = Path(path)
        meta_path = path / TABLE_META
        if meta_path.exists():
            data_path = path / TABLE_DATA
            if not data_path.exists():
                raise InputFormatError(data_path, f"missing: a saved table needs {TABLE_DATA} beside {TABLE_META}")
            try:
                data = np.load(data_path, allow_pickle=False)
            except (OSError, ValueError, EOFError) as err:
                raise InputFormatError(data_path, f"expected a float matrix saved by numpy ({err})") from None
            try:
                meta = srsly.read_json(meta_path)
            except (ValueError, OSError) as err:
                raise InputFormatError(meta_path, f"expected the table's JSON metadata ({err})") from None
            self._load_meta(meta, data, meta_source=str(meta_path), table_source=str(path))
        elif (path / "vectors").exists() or (path / "vectors.cfg").exists():
            spacy_vectors = Vectors(strings=self.strings)
            spacy_vectors.from_disk(path, exclude=["strings"])
            converted = LMVectors.from_spacy_vectors(spacy_vectors, fallback=self._fallback, strings=self.strings)
            self.name = self.name or converted.name
            self._set_table(converted.words, converted.data, converted.aliases)
        return self

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        """msgpack of the JSON metadata and the ``.npy`` bytes of ``data``."""
        buffer = io.BytesIO()
        np.save(buffer, _to_numpy(self.data), allow_pickle=False)
        return srsly.msgpack_dumps({"meta": self._meta(), "data": buffer.getvalue()})

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = tuple()) -> "LMVectors":
        """Load what :meth:`to_bytes` wrote."""
        try:
            message = srsly.msgpack_loads(data)
            matrix = np.load(io.BytesIO(message["data"]), allow_pickle=False)
            meta = message["meta"]
        except (ValueError, KeyError, TypeError, EOFError, OSError) as err:
            raise InputFormatError("<bytes>", f"expected {FORMAT_NAME} bytes ({err})") from None
        self._load_meta(meta, matrix, meta_source="<bytes>", table_source="<bytes>")
        return self

    def __reduce__(self):
        """Pickled as its bytes plus its ``StringStore`` (and those it was
        pickled with): pickle's memo makes them the stores of the vocab that
        is unpickled beside the table (see the module docstring)."""
        stores = (self.strings, *(store for store in self._pickled_strings if store is not self.strings))
        return (_unpickle_lm_vectors, (self.to_bytes(), stores, self.pinned_fallback))

    def __repr__(self) -> str:
        return f"LMVectors(name={self.name!r}, shape={self.shape}, fallback={list(self._fallback)})"


def _stock_marker_bytes() -> bytes:
    """A ``.npy`` header that is a string, not a dict: ``numpy.load`` (what
    spaCy's ``Vectors.from_disk`` calls on ``vectors``) raises
    ``ValueError: Header is not a dictionary: '<STOCK_MARKER_MESSAGE>'``."""
    header = repr(STOCK_MARKER_MESSAGE).encode("latin-1")
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def _unpickle_lm_vectors(
    data: bytes, strings: Sequence[StringStore] = (), pinned_fallback: Optional[Tuple[str, ...]] = None
) -> LMVectors:
    """Rebuild a pickled table that resolves hashes through the pickled stores,
    whatever store a ``Vocab.vectors`` setter attaches afterwards."""
    table = LMVectors(strings=strings[0] if strings else None).from_bytes(data)
    table._pickled_strings = tuple(strings)
    table.pinned_fallback = pinned_fallback
    return table


def _first_repeat(words: Sequence[str]) -> str:
    """The first word that occurs a second time (``words`` has a repeat)."""
    seen = set()
    for word in words:
        if word in seen:
            return word
        seen.add(word)
    raise ValueError("no repeated word")


def _to_numpy(array) -> np.ndarray:
    if hasattr(array, "get") and not isinstance(array, np.ndarray):
        array = array.get()
    return np.ascontiguousarray(array, dtype=np.float32)


@registry.vectors("spacy-lm-suite.Vectors.v1")
def create_lm_vectors(fallback: Optional[List[str]] = None) -> Callable[["Vocab"], LMVectors]:  # noqa: F821
    """``[nlp.vectors]`` factory. ``fallback``: the normaliser chain, which then
    overrides the one saved with the table; ``null`` keeps the saved chain
    (exact, lower, shape when nothing is saved)."""
    chain = validate_fallback(fallback) if fallback is not None else None

    def make_vectors(vocab) -> LMVectors:
        vectors = LMVectors(strings=vocab.strings, fallback=chain or DEFAULT_FALLBACK)
        vectors.pinned_fallback = chain
        return vectors

    return make_vectors
