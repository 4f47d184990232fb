"""Intrinsic evaluation of static vectors (numpy + scipy; no spaCy).

- Analogies (``questions-words.txt``): 3CosAdd and 3CosMul over the first
  ``restrict`` rows (gensim's ``restrict_vocab``; rows are in frequency order
  in word2vec/GloVe files). A question with a word outside those rows counts
  as out-of-vocabulary and is skipped, as in gensim. The answer is the best
  row that is none of the three question words; accuracy = correct / answered.
- Word similarity (WordSim-353, SimLex-999): Spearman (and Pearson) between
  cosine similarity and the human scores over the pairs found in the first
  ``pairs_restrict`` rows (gensim's default 300,000), with the OOV rate.

With ``case_insensitive`` (the default, as in gensim) words are compared
through the ``lower`` normaliser of :mod:`.normalizers`: a question word finds
the first row whose lower-cased word equals its lower-cased form, and rows
with the same lower-cased form as a question word are excluded as answers.
3CosMul follows gensim's ``most_similar_cosmul``: cosines shifted to [0, 1],
``cos(d,b) * cos(d,c) / (cos(d,a) + 1e-6)``.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from tqdm import tqdm

from ..errors import InputFormatError, UserError
from ..extras import require
from .normalizers import exact, lower

PathLike = Union[str, Path]
Source = Union[object, Tuple[Sequence[str], np.ndarray]]

COSMUL_EPSILON = 1e-6
METHODS = ("3cosadd", "3cosmul")
BENCHMARK_FILES = {
    "analogy": "questions-words.txt",
    "wordsim353": "wordsim353.tsv",
    "simlex999": "simlex999.txt",
}


def unit_rows(data: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm [n, dim] float32 (zero rows stay zero)."""
    data = np.asarray(data, dtype=np.float32)
    norms = np.linalg.norm(data, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (data / norms).astype(np.float32, copy=False)


def cosine_neighbours(
    unit: np.ndarray,
    queries: np.ndarray,
    *,
    n: int = 10,
    exclude: Optional[Sequence[Sequence[int]]] = None,
    batch_size: int = 1024,
) -> Tuple[np.ndarray, np.ndarray]:
    """The ``n`` rows of ``unit`` [R, dim] (unit rows) nearest by cosine to each
    query [k, dim]; ``exclude[i]`` lists rows never returned for query ``i``.
    RETURNS ``(rows [k, n] int64, scores [k, n] float32)``, best first."""
    queries = unit_rows(np.atleast_2d(queries))
    n = min(n, unit.shape[0])
    out_rows = np.zeros((queries.shape[0], n), dtype=np.int64)
    out_scores = np.zeros((queries.shape[0], n), dtype=np.float32)
    for start in range(0, queries.shape[0], batch_size):
        scores = queries[start : start + batch_size] @ unit.T
        if exclude is not None:
            for i, rows in enumerate(exclude[start : start + batch_size]):
                scores[i, list(rows)] = -np.inf
        top = np.argpartition(-scores, n - 1, axis=1)[:, :n] if n < unit.shape[0] else np.tile(np.arange(n), (scores.shape[0], 1))
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        out_rows[start : start + batch_size] = np.take_along_axis(top, order, axis=1)
        out_scores[start : start + batch_size] = np.take_along_axis(top_scores, order, axis=1)
    return out_rows, out_scores


# -- benchmark files ----------------------------------------------------------


def benchmark_path(name: str) -> Path:
    """The copy of a benchmark file that gensim ships (``analogy``, ``wordsim353``, ``simlex999``)."""
    datapath = require("gensim.test.utils", "train").datapath
    return Path(datapath(BENCHMARK_FILES[name]))


def read_analogies(path: PathLike) -> List[Tuple[str, List[Tuple[str, str, str, str]]]]:
    """``[(section, [(a, b, c, expected), ...]), ...]`` from a ``questions-words`` file."""
    path = Path(path)
    if not path.exists():
        raise InputFormatError(path, "no such file")
    sections: List[Tuple[str, List[Tuple[str, str, str, str]]]] = []
    with path.open("rb") as file_:
        for line_no, raw in enumerate(file_, start=1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise InputFormatError(path, "expected UTF-8 text", line=line_no) from None
            if not line:
                continue
            if line.startswith(":"):
                sections.append((line.lstrip(": ").strip(), []))
                continue
            fields = line.split()
            if len(fields) != 4:
                raise InputFormatError(path, "expected 4 words 'a b c expected'", line=line_no, found=line)
            if not sections:
                raise InputFormatError(path, "expected a ': section' line before the first question", line=line_no)
            sections[-1][1].append((fields[0], fields[1], fields[2], fields[3]))
    if not any(questions for _, questions in sections):
        raise InputFormatError(path, "no analogy questions found")
    return sections


def read_word_pairs(path: PathLike) -> List[Tuple[str, str, float]]:
    """``[(word1, word2, score), ...]`` from a tab-separated file (``#`` comments)."""
    path = Path(path)
    if not path.exists():
        raise InputFormatError(path, "no such file")
    pairs: List[Tuple[str, str, float]] = []
    with path.open("rb") as file_:
        for line_no, raw in enumerate(file_, start=1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise InputFormatError(path, "expected UTF-8 text", line=line_no) from None
            if not line or line.startswith("#"):
                continue
            fields = line.split("\t")
            try:
                pairs.append((fields[0], fields[1], float(fields[2])))
            except (IndexError, ValueError):
                raise InputFormatError(path, "expected 'word1<TAB>word2<TAB>score'", line=line_no, found=line) from None
    if not pairs:
        raise InputFormatError(path, "no word pairs found")
    return pairs


# -- the restricted vocabulary -------------------------------------------------


@dataclass
class _Vocabulary:
    """The first rows of a table, their unit vectors and a key -> row map."""

    unit: np.ndarray  # [R, dim]
    index: Dict[str, int]  # normalised key -> first row
    canonical: np.ndarray  # [R]: the first row with the same normalised key
    key: Callable[[str], str]

    @classmethod
    def build(cls, words: Sequence[str], data: np.ndarray, restrict: int, case_insensitive: bool) -> "_Vocabulary":
        if restrict < 1:
            raise UserError(f"restrict: expected a row count >= 1, found {restrict}")
        key = lower if case_insensitive else exact
        n_rows = min(restrict, len(words))
        index: Dict[str, int] = {}
        canonical = np.empty(n_rows, dtype=np.int64)
        for row in range(n_rows):
            canonical[row] = index.setdefault(key(words[row]), row)
        return cls(unit_rows(data[:n_rows]), index, canonical, key)

    def rows(self, words: Sequence[str]) -> np.ndarray:
        return np.array([self.index.get(self.key(word), -1) for word in words], dtype=np.int64)


def _words_and_data(source: Source) -> Tuple[Sequence[str], np.ndarray]:
    if isinstance(source, tuple):
        words, data = source
    else:
        words, data = source.words, source.data  # type: ignore[attr-defined]
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[0] != len(words):
        raise UserError(f"expected one word per row, found {len(words)} words and data of shape {data.shape}")
    return words, data


# -- analogies ------------------------------------------------------------------


def evaluate_analogies(
    source: Source,
    path: Optional[PathLike] = None,
    *,
    restrict: int = 30000,
    case_insensitive: bool = True,
    methods: Sequence[str] = METHODS,
    batch_size: int = 512,
) -> Dict:
    """Analogy accuracy per method, overall and per section (see module doc).

    source: an object with ``.words``/``.data`` (e.g. ``LMVectors``) or
    ``(words, matrix)``. path: a ``questions-words`` file (gensim's copy by default).
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise UserError(f"methods: expected names from {list(METHODS)}, found {unknown}")
    words, data = _words_and_data(source)
    path = Path(path) if path is not None else benchmark_path("analogy")
    vocab = _Vocabulary.build(words, data, restrict, case_insensitive)
    sections = read_analogies(path)
    names = [name for name, questions in sections for _ in questions]
    flat = [q for _, questions in sections for q in questions]
    rows = vocab.rows([w for q in flat for w in q]).reshape(-1, 4)
    known = (rows >= 0).all(axis=1)
    rows = rows[known]
    result: Dict = {
        "file": str(path),
        "restrict": int(vocab.unit.shape[0]),
        "questions": len(flat),
        "oov": int((~known).sum()),
        "oov_rate": float((~known).mean()),
    }
    predictions = _predict(vocab, rows, methods, batch_size)
    known_names = [name for name, ok in zip(names, known) if ok]
    for method in methods:
        correct = vocab.canonical[predictions[method]] == rows[:, 3]
        per_section: Dict[str, Dict] = {}
        for name, ok in zip(known_names, correct.tolist()):
            counts = per_section.setdefault(name, {"correct": 0, "answered": 0})
            counts["correct"] += int(ok)
            counts["answered"] += 1
        groups = {"semantic": [n for n in per_section if not n.startswith("gram")], "syntactic": [n for n in per_section if n.startswith("gram")]}
        summary = {}
        for group, members in groups.items():
            good = sum(per_section[n]["correct"] for n in members)
            total = sum(per_section[n]["answered"] for n in members)
            summary[group] = {"correct": good, "answered": total, "accuracy": good / total if total else 0.0}
        for counts in per_section.values():
            counts["accuracy"] = counts["correct"] / counts["answered"]
        result[method] = {
            "accuracy": float(correct.mean()) if len(correct) else 0.0,
            "correct": int(correct.sum()),
            "answered": int(len(correct)),
            **summary,
            "sections": per_section,
        }
    return result


def _predict(vocab: _Vocabulary, rows: np.ndarray, methods: Sequence[str], batch_size: int) -> Dict[str, np.ndarray]:
    """Best answer row per question [n] for each method; question words excluded."""
    unit = vocab.unit
    duplicates = np.flatnonzero(vocab.canonical != np.arange(len(vocab.canonical)))
    out = {method: np.empty(len(rows), dtype=np.int64) for method in methods}
    for start in tqdm(range(0, len(rows), batch_size), desc="analogies", leave=False, disable=len(rows) < 20 * batch_size or None):
        batch = rows[start : start + batch_size]
        a, b, c = unit[batch[:, 0]], unit[batch[:, 1]], unit[batch[:, 2]]
        exclude_rows = np.arange(len(batch))[:, None]

        def mask(scores: np.ndarray) -> np.ndarray:
            scores[exclude_rows, batch[:, :3]] = -np.inf
            if len(duplicates):
                hit = (vocab.canonical[duplicates][None, None, :] == batch[:, :3, None]).any(axis=1)
                scores[:, duplicates] = np.where(hit, -np.inf, scores[:, duplicates])
            return scores

        if "3cosadd" in methods:
            out["3cosadd"][start : start + len(batch)] = mask((b + c - a) @ unit.T).argmax(axis=1)
        if "3cosmul" in methods:
            # With s = 1 + cos (gensim's (1 + cos) / 2 without the halves, so eps doubles):
            # argmax s_b * s_c / (s_a + 2 eps) ranks as gensim's cosmul; computed in place.
            scores = b @ unit.T
            scores += 1.0
            other = c @ unit.T
            other += 1.0
            scores *= other
            np.matmul(a, unit.T, out=other)
            other += 1.0 + 2 * COSMUL_EPSILON
            scores /= other
            out["3cosmul"][start : start + len(batch)] = mask(scores).argmax(axis=1)
    return out


# -- word similarity ------------------------------------------------------------


def evaluate_word_pairs(
    source: Source,
    path: PathLike,
    *,
    restrict: int = 300000,
    case_insensitive: bool = True,
) -> Dict:
    """Spearman/Pearson of cosine vs. human scores on the pairs found, and the OOV rate."""
    from scipy.stats import pearsonr, spearmanr

    words, data = _words_and_data(source)
    vocab = _Vocabulary.build(words, data, restrict, case_insensitive)
    pairs = read_word_pairs(path)
    rows = vocab.rows([w for pair in pairs for w in pair[:2]]).reshape(-1, 2)
    known = (rows >= 0).all(axis=1)
    gold = np.array([score for _, _, score in pairs], dtype=np.float64)[known]
    sims = (vocab.unit[rows[known, 0]] * vocab.unit[rows[known, 1]]).sum(axis=1).astype(np.float64)
    enough = len(gold) >= 3
    return {
        "file": str(path),
        "restrict": int(vocab.unit.shape[0]),
        "pairs": len(pairs),
        "oov": int((~known).sum()),
        "oov_rate": float((~known).mean()),
        "spearman": float(spearmanr(sims, gold).statistic) if enough else float("nan"),
        "pearson": float(pearsonr(sims, gold).statistic) if enough else float("nan"),
    }


def evaluate_vectors(
    source: Source,
    *,
    restrict: int = 30000,
    pairs_restrict: int = 300000,
    analogies: Optional[PathLike] = None,
    wordsim: Optional[PathLike] = None,
    simlex: Optional[PathLike] = None,
    case_insensitive: bool = True,
    methods: Sequence[str] = METHODS,
) -> Dict:
    """Analogy (3CosAdd/3CosMul, top ``restrict`` rows), WordSim-353 and SimLex-999.

    source: an object with ``.words``/``.data`` (e.g. ``LMVectors``) or
    ``(words, matrix)``. Benchmark files default to gensim's copies.
    RETURNS ``{"rows", "dim", "analogy": {...}, "wordsim353": {...}, "simlex999": {...}}``.
    """
    words, data = _words_and_data(source)
    return {
        "rows": len(words),
        "dim": int(data.shape[1]),
        "case_insensitive": case_insensitive,
        "analogy": evaluate_analogies(
            (words, data), analogies, restrict=restrict, case_insensitive=case_insensitive, methods=methods
        ),
        "wordsim353": evaluate_word_pairs(
            (words, data), wordsim or benchmark_path("wordsim353"), restrict=pairs_restrict, case_insensitive=case_insensitive
        ),
        "simlex999": evaluate_word_pairs(
            (words, data), simlex or benchmark_path("simlex999"), restrict=pairs_restrict, case_insensitive=case_insensitive
        ),
    }


def most_similar(
    source: Source,
    queries: Sequence[str],
    *,
    n: int = 10,
    restrict: Optional[int] = None,
    case_insensitive: bool = True,
) -> List[List[Tuple[str, float]]]:
    """The ``n`` nearest words by cosine among the first ``restrict`` rows (all
    when None) for each query word; rows with the query's key are left out; a
    query not found gives ``[]``."""
    words, data = _words_and_data(source)
    vocab = _Vocabulary.build(words, data, restrict or len(words), case_insensitive)
    rows = vocab.rows(queries)
    results: List[List[Tuple[str, float]]] = [[] for _ in queries]
    found = np.flatnonzero(rows >= 0)
    if len(found):
        exclude = [np.flatnonzero(vocab.canonical == rows[i]).tolist() for i in found]
        best, scores = cosine_neighbours(vocab.unit, vocab.unit[rows[found]], n=n, exclude=exclude)
        for i, row_best, row_scores in zip(found, best, scores):
            results[i] = [(words[r], float(s)) for r, s in zip(row_best.tolist(), row_scores.tolist())]
    return results
