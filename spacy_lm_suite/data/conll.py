"""Token-per-line NER files: CoNLL-2003 (4 columns) and WNUT-17 (2 columns).

A sentence ends at a line that is empty or only whitespace. ``-DOCSTART-``
lines mark document boundaries and never become sentences (spaCy's
``spacy convert -c ner`` keeps them as one-word sentences; we don't).

Tags are IOB: ``O``, ``B-<type>``, ``I-<type>``. Entities are decoded as in
conlleval: a chunk starts at every ``B-`` and at an ``I-`` whose type differs
from the previous tag's, so IOB1 and IOB2 files give the same spans. The
``scheme`` option only decides what is checked:

- ``auto``: accept IOB1 and IOB2 (an ``I-`` may start an entity);
- ``iob2``: every entity starts with ``B-`` (an ``I-`` continuing nothing is an error);
- ``iob1``: ``B-`` only right after a tag of the same type.
"""

import re
from dataclasses import dataclass
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

from ..errors import InputFormatError, UserError
from .rawtext import PathLike, check_count, check_encoding, existing_file, read_lines

SCHEMES = ("auto", "iob1", "iob2")
DOCSTART = "-DOCSTART-"
_TAG = re.compile(r"^(?:O|([BI])-(\S+))$")

Span = Tuple[int, int, str]


@dataclass(frozen=True)
class NERSentence:
    """One sentence of a token-per-line file.

    words, tags: one per token. spans: ``(start, end, label)`` token offsets,
    ``end`` exclusive. line: line number of the first token. document: index
    of the ``-DOCSTART-`` document it belongs to (0 before the first marker
    or in a file without markers).
    """

    words: Tuple[str, ...]
    tags: Tuple[str, ...]
    spans: Tuple[Span, ...]
    line: int
    document: int


def iob_to_spans(tags: Sequence[str]) -> List[Span]:
    """Decode IOB1 or IOB2 tags into ``(start, end, label)`` spans (conlleval rules)."""
    spans: List[Span] = []
    start, label = -1, ""
    for i, tag in enumerate(tags):
        prefix, _, kind = tag.partition("-")
        if start >= 0 and (tag == "O" or prefix == "B" or kind != label):
            spans.append((start, i, label))
            start = -1
        if tag != "O" and start < 0:
            start, label = i, kind
    if start >= 0:
        spans.append((start, len(tags), label))
    return spans


def read_iob(
    path: PathLike,
    *,
    n_columns: int,
    separator: Optional[str] = None,
    scheme: str = "auto",
    encoding: str = "utf-8",
    limit: Optional[int] = None,
) -> Iterator[NERSentence]:
    """Stream the sentences of a token-per-line IOB file.

    n_columns: columns per token line; the first is the word, the last the tag.
    separator: column separator (None: any run of whitespace).
    scheme: ``auto``, ``iob1`` or ``iob2`` (see the module docstring).
    limit: stop after this many sentences (None or 0: no limit).

    Raises ``UserError`` for a missing path and ``InputFormatError`` (with the
    line number) for a wrong column count, an empty word, a tag that is not
    ``O``/``B-<type>``/``I-<type>``, a tag breaking ``scheme``, undecodable
    bytes, or a file with no sentence.
    """
    check_scheme(scheme)
    check_encoding(encoding)
    limit = check_count(limit, "limit", zero="no limit")
    path = existing_file(path)
    layout = {None: "whitespace-separated", "\t": "tab-separated"}.get(separator, f"{separator!r}-separated")
    words: List[str] = []
    tags: List[str] = []
    first_line = document = count = 0
    document_open = False
    for number, line in read_lines(path, encoding=encoding):
        stripped = line.strip()
        is_docstart = stripped.split(maxsplit=1)[0] == DOCSTART if stripped else False
        if not stripped or is_docstart:
            if words:
                yield NERSentence(tuple(words), tuple(tags), tuple(iob_to_spans(tags)), first_line, document)
                words, tags = [], []
                document_open = True
                count += 1
                if limit and count >= limit:
                    return
            if is_docstart and document_open:
                document += 1
                document_open = False
            continue
        fields = line.split(separator)
        if len(fields) != n_columns:
            raise InputFormatError(
                path,
                f"expected {n_columns} {layout} columns (word ... tag) or a blank line, got {len(fields)} columns",
                line=number,
                found=line,
            )
        word, tag = fields[0], fields[-1].strip()
        if not word.strip():
            raise InputFormatError(path, "expected a word in the first column, found an empty one", line=number, found=line)
        _check_tag(path, number, tag, tags[-1] if tags else "O", scheme)
        if not words:
            first_line = number
        words.append(word)
        tags.append(tag)
    if words:
        yield NERSentence(tuple(words), tuple(tags), tuple(iob_to_spans(tags)), first_line, document)
        count += 1
    if count == 0:
        raise InputFormatError(path, "no sentence found: the file is empty or holds only blank and -DOCSTART- lines")


def check_scheme(scheme: str) -> str:
    """Return ``scheme``, or raise ``UserError`` if it is not one of :data:`SCHEMES`."""
    if scheme not in SCHEMES:
        raise UserError(f"unknown tag scheme {scheme!r}, expected one of {', '.join(SCHEMES)}")
    return scheme


def _check_tag(path: PathLike, line: int, tag: str, previous: str, scheme: str) -> None:
    match = _TAG.match(tag)
    if match is None:
        raise InputFormatError(path, "expected a tag O, B-<type> or I-<type> in the last column", line=line, found=tag)
    prefix, kind = match.groups()
    continues = previous != "O" and previous[2:] == kind
    if scheme == "iob2" and prefix == "I" and not continues:
        raise InputFormatError(
            path,
            f"{tag} continues no {kind} entity: with scheme='iob2' every entity starts with B-; "
            "use scheme='auto' for IOB1 files",
            line=line,
        )
    if scheme == "iob1" and prefix == "B" and not continues:
        raise InputFormatError(
            path,
            f"{tag} follows no {kind} entity: with scheme='iob1' B- only separates two adjacent entities "
            "of one type; use scheme='auto' for IOB2 files",
            line=line,
        )


def read_conll2003(
    path: PathLike, *, scheme: str = "auto", encoding: str = "utf-8", limit: Optional[int] = None
) -> Iterator[NERSentence]:
    """Stream a CoNLL-2003 file (``word POS chunk NER``, whitespace-separated,
    IOB1 or IOB2) as sentences, skipping ``-DOCSTART-`` lines."""
    return read_iob(path, n_columns=4, separator=None, scheme=scheme, encoding=encoding, limit=limit)


def read_wnut17(
    path: PathLike, *, scheme: str = "iob2", encoding: str = "utf-8", limit: Optional[int] = None
) -> Iterator[NERSentence]:
    """Stream a WNUT-17 file (``word<TAB>tag``, BIO) as sentences; a line that
    is empty or only whitespace (train has lines holding one TAB) ends one."""
    return read_iob(path, n_columns=2, separator="\t", scheme=scheme, encoding=encoding, limit=limit)


def group_sentences(sentences: Iterable[NERSentence], n_sents: int = 1) -> Iterator[List[NERSentence]]:
    """Group consecutive sentences into documents of up to ``n_sents``
    sentences, never across a ``-DOCSTART-`` boundary; ``n_sents=0`` gives
    one group per ``-DOCSTART-`` document."""
    if n_sents < 0:
        raise UserError(f"n_sents must be >= 0 (0: one doc per -DOCSTART- document), got {n_sents}")
    group: List[NERSentence] = []
    for sentence in sentences:
        if group and (sentence.document != group[-1].document or len(group) == n_sents):
            yield group
            group = []
        group.append(sentence)
    if group:
        yield group
