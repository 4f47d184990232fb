"""How much of a corpus a vectors table covers, per fallback step.

``coverage(table, tokens)`` counts tokens and types (distinct token texts)
found by each step of the table's chain (e.g. exact/lower/shape) and missed.
``corpus_tokens(path, data_format=..., encoding=...)`` streams the tokens of
any of our readers' formats: CoNLL-2003/WNUT-17 keep their own tokens, text
formats are tokenised by a blank spaCy pipeline of ``lang``. Whitespace
tokens (spaCy makes one of a double space or a newline) are not words and are
never counted.
"""

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple, Union

import spacy

from ..errors import UserError
from .table import LMVectors

PathLike = Union[str, Path]
DATA_FORMATS = ("text", "conll2003", "wnut17", "sst2", "trec", "jsonl")
"""``text``: plain lines, ``.jsonl`` (field ``text``) or ``.spacy`` by extension
(also folders/globs); ``jsonl``: the ``text`` field of each object;
``conll2003``/``wnut17``: token-per-line NER files; ``sst2``: TSV with header;
``trec``: ``COARSE:fine question`` lines."""
MISS = "miss"


@dataclass
class CoverageReport:
    """Token and type counts per fallback step (plus ``miss``)."""

    fallback: Tuple[str, ...]
    tokens: Dict[str, int]
    types: Dict[str, int]
    missed: List[Tuple[str, int]] = field(default_factory=list)  # most frequent missed types

    @property
    def n_tokens(self) -> int:
        return sum(self.tokens.values())

    @property
    def n_types(self) -> int:
        return sum(self.types.values())

    def found_rate(self, unit: str = "tokens") -> float:
        """Share of tokens (or ``"types"``) found by any step, in [0, 1]."""
        counts = self.tokens if unit == "tokens" else self.types
        total = sum(counts.values())
        return (total - counts[MISS]) / total if total else 0.0

    def to_dict(self) -> Dict:
        """JSON-ready: counts and percentages per step for tokens and types."""
        out: Dict = {"fallback": list(self.fallback)}
        for unit, counts in (("tokens", self.tokens), ("types", self.types)):
            total = sum(counts.values())
            out[unit] = {
                "total": total,
                "found_pct": 100.0 * self.found_rate(unit),
                "steps": {step: {"count": n, "pct": 100.0 * n / total if total else 0.0} for step, n in counts.items()},
            }
        out["missed"] = [[word, count] for word, count in self.missed]
        return out


def coverage(table: LMVectors, tokens: Iterable[str], *, top_missed: int = 20) -> CoverageReport:
    """Count which fallback step finds each token of ``tokens`` (strings);
    whitespace-only tokens are left out."""
    counts = Counter(token for token in tokens if token.strip())
    if not counts:
        raise UserError("coverage: no tokens given")
    types = list(counts)
    steps = table.lookup_steps(types)
    names = list(table.fallback) + [MISS]
    token_counts = dict.fromkeys(names, 0)
    type_counts = dict.fromkeys(names, 0)
    for word, step in zip(types, steps.tolist()):
        name = names[step]  # step -1 -> MISS
        token_counts[name] += counts[word]
        type_counts[name] += 1
    missed = Counter({word: counts[word] for word, step in zip(types, steps.tolist()) if step < 0}).most_common(top_missed)
    return CoverageReport(tuple(table.fallback), token_counts, type_counts, missed)


_SNIFF_BYTES = 64 * 1024
_TREC_LINE = re.compile(r"^[A-Z]+:[a-z]+ \S")
_NER_TAG = re.compile(r"^(O|[BIES]-\S+)$")


def detect_data_format(path: PathLike, *, encoding: Optional[str] = None) -> str:
    """The :data:`DATA_FORMATS` entry of a corpus, from its name and first lines
    (``coverage`` without ``--data-format``); a file that fits none or several
    is a ``UserError`` asking for ``--data-format``."""
    path = Path(path)
    if not path.is_file() or path.suffix in (".jsonl", ".spacy"):
        return "text"  # folders, globs, .jsonl and .spacy: the text reader goes by extension
    with path.open("rb") as file_:
        head = file_.read(_SNIFF_BYTES)
    try:
        text = head.decode(encoding or "utf-8")
    except (UnicodeDecodeError, LookupError):
        text = head.decode("latin-1")
    lines = [line.rstrip("\r") for line in text.split("\n")[:200]]
    if len(head) == _SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    lines = [line for line in lines if line.strip()]
    choices = "give --data-format (-d) text, conll2003, wnut17, sst2, trec or jsonl"
    if not lines:
        raise UserError(f"--data-format: {path} is empty; cannot tell its format ({choices})")
    if lines[0].split("\t")[:2] == ["sentence", "label"]:
        return "sst2"
    if lines[0].startswith("-DOCSTART-"):
        return "conll2003"
    tab_columns = [line.split("\t") for line in lines]
    if all(len(cols) == 2 and _NER_TAG.match(cols[1]) for cols in tab_columns):
        return "wnut17"
    space_columns = [line.split(" ") for line in lines]
    if all(len(cols) == 4 and _NER_TAG.match(cols[3]) for cols in space_columns):
        return "conll2003"
    if all(_TREC_LINE.match(line) for line in lines):
        return "trec"
    if all(line.lstrip().startswith("{") for line in lines):
        return "jsonl"
    if any("\t" in line for line in lines):
        raise UserError(f"--data-format: {path} has tab-separated columns of no format we know; {choices}")
    return "text"


def corpus_tokens(
    path: PathLike,
    *,
    data_format: str = "text",
    lang: str = "en",
    limit: Optional[int] = None,
    encoding: Optional[str] = None,
) -> Iterator[str]:
    """Token texts of a corpus in one of :data:`DATA_FORMATS` (limit:
    texts/sentences), whitespace tokens left out. encoding: of the file, as
    the readers take it (None: each reader's default, UTF-8, Latin-1 for
    TREC; ``"utf-8-or-latin-1"`` for mixed files)."""
    from ..data.rawtext import check_encoding

    if data_format not in DATA_FORMATS:
        raise UserError(f"data format: expected one of {list(DATA_FORMATS)}, found {data_format!r}")
    options = {} if encoding is None else {"encoding": encoding}
    if encoding is not None:
        check_encoding(encoding)
    if data_format in ("conll2003", "wnut17"):
        from ..data import conll

        reader = conll.read_conll2003 if data_format == "conll2003" else conll.read_wnut17
        for sentence in reader(path, limit=limit, **options):
            yield from (word for word in sentence.words if word.strip())
        return
    tokenizer = spacy.blank(lang).tokenizer
    for doc in tokenizer.pipe(_texts(path, data_format, limit, options), batch_size=1000):
        yield from (token.text for token in doc if not token.is_space)


def _texts(path: PathLike, data_format: str, limit: Optional[int], options: Dict[str, str]) -> Iterator[str]:
    if data_format in ("text", "jsonl"):
        from ..data.rawtext import iter_texts

        yield from iter_texts(path, fmt="auto" if data_format == "text" else "jsonl", limit=limit, **options)
        return
    from ..data import textcat

    reader = textcat.read_sst2 if data_format == "sst2" else textcat.read_trec
    for row in reader(path, limit=limit, **options):
        yield row.text
